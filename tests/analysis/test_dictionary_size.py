"""Dictionary size: one row per SAE of a range of sizes, recovery counted against the planted truth."""
import numpy as np
import pytest
import torch

from voicesae_core import SAEConfig, SparseAutoencoder
from voicesae_core.analysis import dictionary_size
from voicesae_core.data.ground_truth import GroundTruth


def sae(rows: np.ndarray, k: int, info: dict) -> SparseAutoencoder:
    m = SparseAutoencoder(SAEConfig(rows.shape[0], k, d_in=rows.shape[1]))
    with torch.no_grad():
        m.W_dec.copy_(torch.from_numpy(rows.astype(np.float32)))
    m.info = info
    return m


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_recovered_counts_features_with_a_latent_at_the_threshold_and_near_counts_latents_around_one():
    rng = np.random.default_rng(0)
    planted = unit(rng.standard_normal((6, 16)))
    truth = GroundTruth(planted, ["spanish", "music", "f2", "f3", "f4", "f5"], np.zeros(1, np.int64),
                        np.zeros(0, np.int32), np.zeros(0, np.float32))
    # 12 latents: exact copies of features 0-2, two latents at cosine ~0.6 to 'spanish', the rest random.
    off = unit(planted[0] + 1.3 * unit(rng.standard_normal((2, 16))))
    rows = np.vstack([planted[:3], off, unit(rng.standard_normal((7, 16)))])
    info = {"metrics": {"fvu": 0.2, "dead_frac": 0.25}, "train_rows": 120, "train_seconds": 3.0, "trained_together": 2,
            "convergence": {"converged": True}}
    small = sae(rows[:6], 2, dict(info, train_rows=120))
    big = sae(rows, 2, info)
    table = dictionary_size.size_table([small, big], truth, ["spanish", "music"], recovered_at=0.9)
    cos = planted @ unit(rows).T
    want = int((cos.max(1) >= 0.9).sum())
    assert table.loc[big.cfg.name, "recovered"] == want == 3
    assert table.loc[big.cfg.name, "mean_max_cos"] == pytest.approx(cos.max(1).mean(), abs=1e-6)
    assert table.loc[big.cfg.name, "near_spanish"] == int((cos[0] >= dictionary_size.NEAR).sum()) >= 3
    assert table.loc[big.cfg.name, "expansion"] == pytest.approx(12 / 16)
    assert table.loc[big.cfg.name, "dead_pct"] == pytest.approx(25.0)
    assert table.loc[big.cfg.name, "train_rows_per_latent"] == pytest.approx(10.0)
    assert dictionary_size.underdetermined(table, 15) == [12] and dictionary_size.underdetermined(table, 25) == [6, 12]
    assert dictionary_size.underdetermined(table, 10) == []


def test_models_trained_together_count_their_pass_once():
    rows = unit(np.random.default_rng(1).standard_normal((8, 4)))
    pass_a = {"metrics": {}, "train_rows": 100, "train_seconds": 5.0, "trained_together": 2}
    models = [sae(rows, 2, pass_a), sae(rows, 3, pass_a),
              sae(rows[:4], 2, {"metrics": {}, "train_rows": 100, "train_seconds": 2.0, "trained_together": 1})]
    seconds = dictionary_size.pass_seconds(dictionary_size.size_table(models))
    assert seconds.to_dict() == {4: 2.0, 8: 5.0}
