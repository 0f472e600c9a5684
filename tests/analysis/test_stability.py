import numpy as np
import pytest
import torch

from voicesae_core import SAEConfig, SparseAutoencoder, TrainConfig, VoicesaeError, train_grid
from voicesae_core.data import labels
from voicesae_core.analysis.stability import (follow_feature, follow_features, pair_table, random_pair, seed_match,
                                              summary, summary_text)


def sae_with_decoder(rows: np.ndarray, seed: int) -> SparseAutoencoder:
    sae = SparseAutoencoder(SAEConfig(rows.shape[0], 2, seed=seed, d_in=rows.shape[1]))
    with torch.no_grad():
        sae.W_dec.copy_(torch.from_numpy(rows.astype(np.float32)))
    return sae


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_permuted_dictionary_is_matched_back_and_fully_shared():
    rng = np.random.default_rng(0)
    rows = unit(rng.standard_normal((30, 24)))
    perm = rng.permutation(30)
    a, b = sae_with_decoder(rows, 0), sae_with_decoder(rows[perm], 1)
    partner, cos = seed_match(a, b)
    assert (perm[partner] == np.arange(30)).all() and cos == pytest.approx(np.ones(30), abs=1e-6)


def test_share_counts_only_latents_above_the_threshold_and_random_scores_low():
    rng = np.random.default_rng(1)
    rows = unit(rng.standard_normal((40, 24)))
    other = rows.copy()
    other[:10] = unit(rng.standard_normal((10, 24)))  # a quarter of the latents differ
    models = [sae_with_decoder(rows, 0), sae_with_decoder(other, 1), sae_with_decoder(rows, 2)]
    pairs = pair_table(models, thresholds=(0.9,))
    assert pairs[["seed_a", "seed_b"]].values.tolist() == [[0, 1], [0, 2], [1, 2]]
    assert pairs["shared_0.9_pct"].tolist() == pytest.approx([75.0, 100.0, 75.0])
    assert (pairs["random_shared_0.9_pct"] == 0).all() and pairs["random_mean_cos"].iloc[0] < 0.5
    s = summary(pairs)
    assert s.loc[0, "pairs"] == 3 and s.loc[0, "shared_0.9_pct_min"] == 75.0
    assert s.loc[0, "shared_0.9_pct_mean"] == pytest.approx(250 / 3)
    assert random_pair(40, 24).shape == (40,)


def test_one_seed_is_refused():
    with pytest.raises(VoicesaeError, match="has one seed"):
        pair_table([sae_with_decoder(np.eye(4), 0)])


def test_trained_seeds_share_more_than_chance_and_the_spanish_latent_comes_back(quick):
    models = train_grid(quick["sae_train"].embeddings, [SAEConfig(100, 5, seed=s) for s in range(3)],
                        TrainConfig(epochs=2, batch_size=1024), quiet=True).models
    pairs = pair_table(models, thresholds=(0.7,))
    assert (pairs["mean_cos"] > pairs["random_mean_cos"] + 0.1).all()
    t = labels.task(quick["language"], "language", "es", "en")
    f = follow_feature(models, t.x_train, t.y_train, t.x_test, t.y_test, n_boot=200)
    assert f["cos_to_reference_phi"].iloc[0] == pytest.approx(1.0, abs=1e-5)
    assert f["reappears"].sum() >= 2  # the planted Spanish direction is found from several inits
    assert (f["precision_low"] <= f["precision"]).all() and (f["recall"] <= f["recall_high"]).all()
    with pytest.raises(VoicesaeError, match="one configuration"):
        follow_feature([models[0], sae_with_decoder(np.eye(192)[:10], 1)], t.x_train, t.y_train, t.x_test, t.y_test)
    # Every task x configuration in one table: the same rows as follow_feature, with their keys.
    both = follow_features(models, {"language": t}, [[100, 5]], 0.7, n_boot=200)
    assert both[f.columns].equals(f) and set(both["feature"]) == {t.name} and set(both["k"]) == {5}
    with pytest.raises(VoicesaeError, match=r"L200 K5 has 0 trained seed\(s\)"):
        follow_features(models, {"language": t}, [[200, 5]])
    text = summary_text(summary(pairs), both, [0.7])
    back = int(both["reappears"].sum())
    assert text.startswith("Measured in this build:") and f"in {back} of 3 seeds" in text
    assert f"{pairs['shared_0.7_pct'].mean():.0f} % of latents shared at cosine 0.7" in text
