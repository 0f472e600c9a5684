import numpy as np
import pytest

from voicesae_core import SAEConfig, SparseAutoencoder
from voicesae_core.data import labels
from voicesae_core.analysis.probe import dense_probe, encode
from voicesae_core.analysis.sparse_probing import baselines, curve, curves, rank_latents


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


def _curves_and_baselines():
    import pandas as pd
    c = pd.DataFrame({"model": ["A"] * 3 + ["B"] * 3, "k": [1, 2, 4] * 2,
                      "f1": [0.5, 0.8, 0.9, 0.7, 0.75, 0.95], "latents": ["0", "0 1", "0 1 2"] * 2})
    b = pd.DataFrame({"method": ["PCA", "PCA", "raw embedding"], "k": [1, 2, 32], "f1": [0.3, 0.6, 0.92]})
    return {"x vs y": c}, {"x vs y": b}


def test_summary_gathers_single_grid_pca_and_raw_per_k():
    from voicesae_core.analysis.sparse_probing import summary
    curves, refs = _curves_and_baselines()
    s = summary(curves, refs, "B", [1, 2, 4])
    assert s.columns.tolist() == ["label", "k", "SAE B", "SAE grid min", "SAE grid max", "PCA", "raw embedding"]
    assert s["label"].tolist() == ["x vs y"] * 3 and s["k"].tolist() == [1, 2, 4]
    np.testing.assert_allclose(s["SAE B"], [70, 75, 95])
    np.testing.assert_allclose(s["SAE grid min"], [50, 75, 90])
    np.testing.assert_allclose(s["SAE grid max"], [70, 80, 95])
    np.testing.assert_allclose(s["PCA"], [30, 60, np.nan])  # PCA has no 4th component here
    np.testing.assert_allclose(s["raw embedding"], [92, 92, 92])
    absent = summary(curves, refs, "C", [1])  # a single model not among the curves: NaN, not an error
    assert absent["SAE C"].isna().all()


def test_summary_says_what_is_missing():
    from voicesae_core import VoicesaeError
    from voicesae_core.analysis.sparse_probing import summary
    curves, refs = _curves_and_baselines()
    with pytest.raises(VoicesaeError, match=r"x vs y: the curves have no k \[8\]"):
        summary(curves, refs, "B", [1, 8])
    with pytest.raises(VoicesaeError, match="no baselines for 'x vs y'"):
        summary(curves, {}, "B", [1])
    with pytest.raises(VoicesaeError, match="no 'raw embedding' row"):
        summary(curves, {"x vs y": refs["x vs y"].iloc[:2]}, "B", [1])


def test_summary_text_by_hand():
    from voicesae_core.analysis.sparse_probing import summary, summary_text
    curves, refs = _curves_and_baselines()
    text = summary_text(summary(curves, refs, "B", [1, 2, 4]), "B")
    assert text == ("Measured in this build:\n\n* x vs y: the raw embedding's probe scores F1 92.0 %; the single model's "
                    "top latent alone 70.0 % (grid 50.0-70.0 %), the first principal component 30.0 %. Within 1 point "
                    "of the raw probe: from k = 4 latents of the single model, with no k up to 4 components")
    # from k = 2 on: the sentence names the k it starts at
    text = summary_text(summary(curves, refs, "A", [2, 4]), "A")
    assert "the single model's top 2 latents 80.0 % (grid 75.0-80.0 %), the first 2 principal components 60.0 %" in text
    assert "with no k up to 4 latents" in text  # A's 90 is 2 points under the raw 92
