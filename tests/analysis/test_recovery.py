import numpy as np
import pytest
import torch

from voicesae_core import SAEConfig, SparseAutoencoder
from voicesae_core.data.ground_truth import GroundTruth
from voicesae_core.analysis.recovery import match, random_baseline, recovery, recovery_grid


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sae_with_decoder(rows: np.ndarray, k: int = 2) -> SparseAutoencoder:
    sae = SparseAutoencoder(SAEConfig(rows.shape[0], k, d_in=rows.shape[1]))
    with torch.no_grad():
        sae.W_dec.copy_(torch.from_numpy(rows.astype(np.float32)))
    return sae


def test_match_by_hand():
    planted = np.eye(3)[:2]                      # features e0, e1
    learned = unit(np.array([[1.0, 0.1, 0], [0.9, 0.0, 0.1], [0, 0, 1]]))  # two latents near e0, none near e1
    m = match(learned, planted)
    assert m["latent"].tolist() == [0, 0]       # max_cos credits latent 0 twice...
    assert m["hungarian_latent"].tolist()[0] in (0, 1) and m["hungarian_latent"].tolist()[1] != m["hungarian_latent"].tolist()[0]
    assert m.loc[1, "hungarian_cos"] < 0.2      # ...the one-to-one matching cannot
    assert m.loc[0, "max_cos"] == pytest.approx(1 / np.sqrt(1.01))


def test_fewer_latents_than_features_score_zero():
    m = match(np.eye(4)[:1], np.eye(4)[:3])
    assert sorted(m["hungarian_cos"].tolist()) == [0.0, 0.0, 1.0]


def test_an_sae_holding_the_planted_directions_recovers_them_far_above_random():
    rng = np.random.default_rng(0)
    planted = unit(rng.standard_normal((20, 48)))
    noisy = unit(planted + 0.05 * rng.standard_normal(planted.shape))
    extra = unit(rng.standard_normal((30, 48)))
    sae = sae_with_decoder(np.concatenate([extra[:10], noisy, extra[10:]]))
    truth = GroundTruth(planted, [f"f{i}" for i in range(20)], np.zeros(1, int), np.zeros(0, int), np.zeros(0))
    r = recovery(sae, truth)
    assert (r["hungarian_latent"] == np.arange(10, 30)).all() and r["hungarian_cos"].min() > 0.9
    base_max, base_h = random_baseline(50, planted)
    assert base_max < 0.6 and base_h < base_max
    grid = recovery_grid([sae], truth, named=["f0", "f3"])
    assert grid.loc[sae.cfg.name, "mean_hungarian_cos"] > 0.9 > base_h
    assert grid.loc[sae.cfg.name, "f3_max_cos"] == pytest.approx(r.loc["f3", "max_cos"])


def test_trained_sae_finds_the_planted_spanish_direction(quick, quick_sae):
    truth = quick["sae_train"].ground_truth()
    r = recovery(quick_sae, truth)
    base_max, _ = random_baseline(quick_sae.cfg.latent_dim, truth.directions)
    assert r.loc["spanish", "max_cos"] > 0.7  # measured 0.80; random directions: 0.34 on average
    assert r["max_cos"].mean() > base_max
