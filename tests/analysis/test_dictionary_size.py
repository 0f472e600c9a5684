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
    info = {"metrics": {"fvu": 0.2, "dead_frac": 0.25}, "train_rows": 120, "convergence": {"converged": True}}
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


def test_a_sizes_training_time_is_kept_beside_it_and_read_back_when_the_models_are_loaded(tmp_path):
    from voicesae_core import SAEConfig, TrainConfig, train_grid
    x = np.random.default_rng(1).standard_normal((400, 8)).astype(np.float32)
    first = train_grid(x, [SAEConfig(16, 2), SAEConfig(16, 4)], TrainConfig(epochs=2, batch_size=50), out_dir=tmp_path,
                       quiet=True)
    assert first.trained == ["L16_k2_topk_s0", "L16_k4_topk_s0"] and first.train_seconds > 0
    assert dictionary_size.pass_time(tmp_path, first) == first.train_seconds
    again = train_grid(x, [SAEConfig(16, 2), SAEConfig(16, 4)], TrainConfig(epochs=2, batch_size=50), out_dir=tmp_path,
                       quiet=True)  # the finished run, loaded
    assert again.trained == [] and again.train_seconds == 0.0
    assert dictionary_size.pass_time(tmp_path, again) == pytest.approx(first.train_seconds)
    other = tmp_path / "other"  # the same models taken from the first grid: trained there, no time here
    reused = train_grid(x, [SAEConfig(16, 2)], TrainConfig(epochs=2, batch_size=50), out_dir=other, quiet=True,
                        reuse_from=[tmp_path])
    assert reused.trained == [] and np.isnan(dictionary_size.pass_time(other, reused))
