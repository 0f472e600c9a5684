import numpy as np
import pytest

from voicesae_core import SAEConfig, TrainConfig, VoicesaeError, labels, train_grid
from voicesae_core.steering import mean_difference
from voicesae_core.verification import eer, min_dcf, steering_cost, tradeoff, trial_scores, trials, verify


def test_trials_are_every_pair_with_a_speaker():
    t = trials(["a", "a", "", "b", "b", None])
    pairs = sorted(zip(t.a.tolist(), t.b.tolist(), t.target.tolist()))
    assert pairs == [(0, 1, True), (0, 3, False), (0, 4, False), (1, 3, False), (1, 4, False), (3, 4, True)]
    with pytest.raises(VoicesaeError, match="0 same-speaker .* at least two segments"):
        trials(["a", "b", "c"])


def test_eer_by_hand():
    # targets 0.9 0.8 0.3, non-targets 0.7 0.2 0.1: at threshold 0.7 one miss in 3 (0.3) and
    # one false alarm in 3 (0.7): EER 1/3 exactly.
    scores = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1])
    target = np.array([1, 1, 1, 0, 0, 0], bool)
    assert eer(scores, target) == pytest.approx(1 / 3)
    assert eer(np.array([0.9, 0.8, 0.2, 0.1]), np.array([1, 1, 0, 0], bool)) == 0.0  # separable
    assert eer(-scores, target) == pytest.approx(2 / 3)  # a scorer that is backwards


def test_eer_matches_the_gaussian_theory():
    # target scores N(1, 1), non-target N(-1, 1): EER = Phi(-1) = 0.1587.
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(1, 1, 20000), rng.normal(-1, 1, 20000)])
    target = np.arange(40000) < 20000
    assert eer(scores, target) == pytest.approx(0.1587, abs=0.006)


def test_min_dcf_by_hand():
    scores = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1])
    target = np.array([1, 1, 1, 0, 0, 0], bool)
    # p = 0.5: min over thresholds of (P_miss + P_fa)/2 / 0.5 = 1/3 (one error of either kind)
    assert min_dcf(scores, target, p_target=0.5) == pytest.approx(1 / 3)
    # p = 0.05: a false alarm costs 19x a miss; accepting nothing costs P_miss*p/p = 1 (the normaliser),
    # accepting only the top two costs 1/3 of the misses: 1/3
    assert min_dcf(scores, target, p_target=0.05) == pytest.approx(1 / 3)
    assert min_dcf(np.array([0.9, 0.1]), np.array([1, 0], bool)) == 0.0


def test_verify_scores_by_cosine():
    x = np.array([[1, 0], [2, 0.1], [0, 1], [0.1, 3]], float)
    t = trials(["a", "a", "b", "b"])
    assert trial_scores(x, t)[t.target] == pytest.approx([np.cos(np.arctan(0.05)), np.cos(np.arctan(1 / 30))])
    v = verify(x, t)
    assert v.eer == 0 and v.targets == 2 and v.nontargets == 4


def test_mean_difference_moves_each_class_to_the_other_mean():
    c_pos, c_neg = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    out = mean_difference(np.array([[1.0, 0.0], [0.0, 1.0]]), [True, False], c_pos, c_neg)
    np.testing.assert_allclose(out, [[0.0, 1.0], [1.0, 0.0]])


def test_steering_cost_on_the_quick_benchmark(quick):
    lang = quick["language"]
    t = labels.task(lang, "language", "es", "en")
    models = train_grid(quick["sae_train"].embeddings, [SAEConfig(100, 10)], TrainConfig(epochs=2, batch_size=1024),
                        quiet=True).models
    table = steering_cost(models, t.x_train, t.y_train, t.x_test, t.y_test, t.meta_test["speaker"])
    row = table.iloc[0]
    tr = trials(t.meta_test["speaker"])
    assert row["raw_eer"] == pytest.approx(100 * verify(t.x_test, tr).eer)
    assert row["targets"] == tr.target.sum() > 0
    assert row["raw_eer"] < 30  # the planted speaker traits make raw embeddings verifiable
    assert row["mean_difference_moved_pct"] > 90  # alpha = 1 moves rows to the other mean
    assert row["steered_moved_pct"] > row["reconstructed_moved_pct"]  # steering moves the language
    curve = tradeoff(models[0], int(row["phi"]), t.x_train, t.y_train, t.x_test, t.y_test, t.meta_test["speaker"],
                     [0.0, 1.0])
    md = curve[curve.method == "mean difference (alpha)"].set_index("strength")
    assert md.loc[0.0, "eer"] == pytest.approx(row["raw_eer"]) and md.loc[1.0, "eer"] == pytest.approx(row["mean_difference_eer"])
    gap = np.linalg.norm(t.x_train[t.y_train].mean(0) - t.x_train[~t.y_train].mean(0))
    assert md.loc[1.0, "shift"] == pytest.approx(gap / np.linalg.norm(t.x_test, axis=1).mean(), rel=1e-4)
    st = curve[curve.method.str.startswith("latent")].set_index("strength")
    assert st.loc[1.0, "eer"] == pytest.approx(row["steered_eer"])


def test_dprime_by_hand_and_it_keeps_measuring_when_eer_is_zero():
    from voicesae_core.verification import dprime
    target = np.array([1, 1, 0, 0], bool)
    assert dprime(np.array([3.0, 1.0, -1.0, -3.0]), target) == pytest.approx(4 / 1.0)  # means +-2, variances 1
    near, far = np.array([0.6, 0.5, 0.4, 0.3]), np.array([0.9, 0.8, 0.1, 0.0])
    assert eer(near, target) == eer(far, target) == 0.0
    assert dprime(far, target) > dprime(near, target)

