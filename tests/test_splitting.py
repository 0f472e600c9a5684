"""Feature splitting on hand-built SAEs where the Spanish latent splits by construction."""
import numpy as np
import torch

from voicesae_core import SAEConfig, SparseAutoencoder
from voicesae_core import splitting
from voicesae_core.splitting import NONE


def built(rows_enc, rows_dec):
    enc, dec = torch.tensor(np.array(rows_enc), dtype=torch.float32), torch.tensor(np.array(rows_dec), dtype=torch.float32)
    sae = SparseAutoencoder(SAEConfig(len(enc), 1, d_in=enc.shape[1]))
    with torch.no_grad():
        sae.W_enc.copy_(enc)
        sae.W_dec.copy_(dec / dec.norm(dim=1, keepdim=True))
    return sae.eval()


def data(n_each, seed):
    # Axes: 0 Spanish, 1 Spanish-female, 2 Spanish-male, 3-5 English speakers' traits.
    rng = np.random.default_rng(seed)
    x = np.abs(rng.normal(0, 0.05, (4 * n_each, 6)))
    group = np.repeat(["es_f", "es_m", "en_f", "en_m"], n_each)
    x[group == "es_f", 0], x[group == "es_f", 1] = 1.0, 1.2
    x[group == "es_m", 0], x[group == "es_m", 2] = 1.0, 1.2
    english = np.flatnonzero(np.isin(group, ["en_f", "en_m"]))
    x[english, 3 + rng.integers(0, 3, len(english))] = 1.0
    return x.astype(np.float32), group


def test_split_detected_and_flows_conserve_counts():
    eye = np.eye(6)
    small = built(eye[[0, 3, 4, 5]], eye[[0, 3, 4, 5]])  # one Spanish latent (0) reading axis 0
    # The larger SAE has a Spanish-female latent (0) and a Spanish-male latent (4), whose decoder
    # directions keep a share of the parent's Spanish direction.
    big = built(eye[[1, 3, 5, 4, 2]], [eye[0] + eye[1], eye[3], eye[5], eye[4], eye[0] + eye[2]])
    x_train, g_train = data(40, 0)
    x_test, g_test = data(25, 1)
    res = splitting.follow([big, small], x_train, np.char.startswith(g_train, "es"), x_test)
    assert res.latent_dims == [4, 5]
    assert res.label_latents == [[0], [0, 4]] or res.label_latents == [[0], [4, 0]]
    # Every test sample is in exactly one node per size: flows conserve counts.
    for i, f in enumerate(res.flows):
        assert sum(f.values()) == len(x_test)
        for node in set(res.assignment[:, i]):
            assert sum(c for (p, _), c in f.items() if p == node) == (res.assignment[:, i] == node).sum()
    assert res.flows[0] == {(NONE, NONE): 50, (0, 0): 25, (0, 4): 25}
    assert len(res.splits) == 1
    split = res.splits[0]
    assert (split.latent_dim, split.parent, split.next_latent_dim) == (4, 0, 5)
    assert sorted(split.children) == [0, 4] and np.allclose(split.shares, 0.5)
    assert np.allclose(split.decoder_cosines, 1 / np.sqrt(2), atol=1e-6)


def test_no_split_when_the_feature_stays_whole():
    eye = np.eye(6)
    a = built(eye[[0, 3, 4, 5]], eye[[0, 3, 4, 5]])
    rows = np.array([eye[3], eye[0], eye[4], eye[5], 0.5 * eye[4]])  # no sub-feature latent:
    b = built(rows, rows)                                               # Spanish read whole (latent 1)
    x_train, g_train = data(40, 0)
    x_test, _ = data(25, 1)
    res = splitting.follow([a, b], x_train, np.char.startswith(g_train, "es"), x_test)
    assert res.splits == [] and res.flows[0][(0, 1)] == 50
