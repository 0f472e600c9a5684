import numpy as np
import pytest

from voicesae_core import SAEConfig, SparseAutoencoder, labels
from voicesae_core.probe import dense_probe, encode
from voicesae_core.sparse_probing import baselines, curve, curves, rank_latents


def test_rank_by_the_class_mean_gap():
    v = np.array([[0, 5, 1], [0, 5, 1], [2, 0, 1], [2, 0, 0]], float)
    y = np.array([1, 1, 0, 0], bool)
    assert rank_latents(v, y).tolist() == [1, 0, 2]  # gaps 2, 5, 0.5


def test_a_label_held_by_one_latent_is_found_at_k_1_and_pca_needs_more():
    # A label carried by a low-variance direction: one latent holds it; the first principal
    # component (the high-variance nuisance) does not.
    rng = np.random.default_rng(0)
    n, d = 600, 16
    y = rng.random(n) < 0.5
    x = rng.standard_normal((n, d)) * 0.05
    x[:, 0] += 5 * rng.standard_normal(n)  # large nuisance variance
    x[:, 3] += np.where(y, 1.0, 0.0)       # the label, small
    sae = SparseAutoencoder(SAEConfig(d, d, d_in=d))  # K = d: TopK keeps every positive latent
    import torch
    with torch.no_grad():  # latent j reads and writes dimension j
        sae.W_enc.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
        sae.b_pre.zero_()
        sae.b_lat.zero_()
    tr, te = slice(0, 400), slice(400, None)
    c = curve(sae, x[tr], y[tr], x[te], y[te], ks=(1, 2))
    b = baselines(x[tr], y[tr], x[te], y[te], ks=(1, 2))
    assert c.loc[0, "latents"] == "3" and c.loc[0, "f1"] > 0.95
    assert b.set_index(["method", "k"]).loc[("PCA", 1), "f1"] < 0.8
    assert b[b.method == "raw embedding"]["k"].iloc[0] == d


def test_top_k_probe_is_the_dense_probe_on_those_latents(quick):
    from voicesae_core import TrainConfig, train_grid
    t = labels.task(quick["music"], "is_music", 1, 0)
    sae = train_grid(quick["sae_train"].embeddings, [SAEConfig(60, 5)], TrainConfig(epochs=1, batch_size=1024),
                     quiet=True).models[0]
    c = curves([sae], t.x_train, t.y_train, t.x_test, t.y_test, ks=(1, 4))
    top = [int(i) for i in c.loc[1, "latents"].split()]
    v_train, v_test = encode(sae, t.x_train), encode(sae, t.x_test)
    assert top == rank_latents(v_train, t.y_train)[:4].tolist()
    assert c.loc[1, "f1"] == pytest.approx(dense_probe(v_train[:, top], t.y_train, v_test[:, top], t.y_test).f1)


def test_a_latent_that_never_fires_in_training_does_not_blow_up_the_probe():
    rng = np.random.default_rng(1)
    x_train = np.c_[rng.standard_normal(100), np.zeros(100)]  # column 1 constant in training
    y_train = x_train[:, 0] > 0
    x_test = np.c_[rng.standard_normal(50), np.full(50, 3.0)]  # ...but not at test time
    s = dense_probe(x_train, y_train, x_test, x_test[:, 0] > 0)
    assert s.f1 > 0.9
