import numpy as np
import pytest

from voicesae_core import SAEConfig, TrainConfig, VoicesaeError, train_grid
from voicesae_core.data import labels
from voicesae_core.analysis.steering import mean_difference
from voicesae_core.analysis.verification import eer, min_dcf, steering_cost, tradeoff, trial_scores, trials, verify


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
    from voicesae_core.analysis.verification import dprime
    target = np.array([1, 1, 0, 0], bool)
    assert dprime(np.array([3.0, 1.0, -1.0, -3.0]), target) == pytest.approx(4 / 1.0)  # means +-2, variances 1
    near, far = np.array([0.6, 0.5, 0.4, 0.3]), np.array([0.9, 0.8, 0.1, 0.0])
    assert eer(near, target) == eer(far, target) == 0.0
    assert dprime(far, target) > dprime(near, target)



def test_trial_table_lists_each_trial_by_id():
    import pandas as pd
    from voicesae_core.analysis.verification import trial_table
    meta = pd.DataFrame({"id": ["s1", "s2", "s3", "s4", "s5"], "speaker": ["a", "a", "", "b", "b"]})
    t, table, _, _ = trial_table(meta, "speaker")
    assert table.columns.tolist() == ["id_a", "id_b", "target"]
    assert sorted(map(tuple, table.values.tolist())) == [("s1", "s2", 1), ("s1", "s4", 0), ("s1", "s5", 0),
                                                         ("s2", "s4", 0), ("s2", "s5", 0), ("s4", "s5", 1)]
    assert table["target"].tolist() == t.target.astype(int).tolist()
    # without an id column: the rows' positions
    _, table, _, _ = trial_table(meta.drop(columns="id").rename(columns={"speaker": "who"}), "who")
    assert table[table.target == 1][["id_a", "id_b"]].values.tolist() == [[0, 1], [3, 4]]


def test_trial_table_names_the_file_and_the_missing_column():
    import pandas as pd
    from voicesae_core.analysis.verification import trial_table
    meta = pd.DataFrame({"id": ["s1", "s2"], "language": ["es", "en"]})
    with pytest.raises(VoicesaeError, match=r"data/language\.json has no speaker column 'spk' \(columns: id, language\)"):
        trial_table(meta, "spk", where="data/language.json")


def test_unavailable_says_why_verification_cannot_run():
    import pandas as pd
    from voicesae_core.analysis.verification import unavailable
    meta = pd.DataFrame({"speaker": ["a", "a", "b", ""]})
    assert unavailable(meta) == ""
    assert "no speaker column 'who'" in unavailable(meta, "who", where="x.json")
    # one speaker: no non-target trial; every speaker once: no target trial
    assert "1 speaker(s), 1 with two or more" in unavailable(pd.DataFrame({"speaker": ["a", "a", None]}))
    assert "3 speaker(s), 0 with two or more" in unavailable(pd.DataFrame({"speaker": ["a", "b", "c"]}))


def test_trial_table_samples_rows_when_the_trials_would_be_too_many():
    import numpy as np
    import pandas as pd
    from voicesae_core.analysis.verification import trial_table, trials_text
    rng = np.random.default_rng(0)
    meta = pd.DataFrame({"id": [f"s{i}" for i in range(500)], "speaker": rng.choice(list("abcdefghij"), 500)})
    tl = trial_table(meta, "speaker", max_rows=60, seed=3)
    assert tl.named == 500 and (tl.speakers != "").sum() == 60
    assert len(tl.table) == 60 * 59 // 2
    # the kept rows keep their own speaker; the same seed keeps the same rows
    kept = tl.speakers != ""
    assert (tl.speakers[kept] == meta.speaker.to_numpy()[kept]).all()
    assert (trial_table(meta, "speaker", max_rows=60, seed=3).speakers == tl.speakers).all()
    assert "from 60 test segments (a seeded sample of the 500 with a speaker)" in trials_text(tl.trials, tl.speakers,
                                                                                              of=tl.named)
    assert len(trial_table(meta, "speaker").table) == 500 * 499 // 2  # max_rows 0: all rows


def test_trials_text_counts_trials_segments_and_speakers():
    from voicesae_core.analysis.verification import trials_text
    speakers = ["a", "a", "", "b", "b", None, "c"]
    assert trials_text(trials(speakers), speakers) == \
        "10 trials from 5 test segments of 3 speakers: 2 target, 8 non-target"


def _cost():
    import pandas as pd
    return pd.DataFrame({
        "phi": [3, 7], "raw_eer": [0.0, 0.0], "raw_min_dcf": [0.0, 0.0], "raw_dprime": [8.0, 8.0],
        "reconstructed_eer": [1.0, 2.5], "reconstructed_dprime": [4.0, 6.0],
        "steered_eer": [3.0, 5.0], "steered_dprime": [2.0, 2.5], "steered_moved_pct": [70.0, 99.6],
        "mean_difference_eer": [0.5, 0.5], "mean_difference_min_dcf": [0.125, 0.125],
        "mean_difference_dprime": [7.0, 7.0], "mean_difference_moved_pct": [100.0, 100.0],
        "targets": [1200, 1200], "nontargets": [3400, 3400]}, index=pd.Index(["L1_k1", "L2_k2"], name="model"))


def _curve():
    import pandas as pd
    rows = [("latent 3 (a_phi)", 0.0, 0.0, 5.0, 0.0), ("latent 3 (a_phi)", 1.0, 96.0, 2.5, 1.5),
            ("latent 3 (a_phi)", 4.0, 100.0, 1.5, 3.0),
            ("mean difference (alpha)", 0.0, 0.0, 8.0, 0.0), ("mean difference (alpha)", 1.0, 90.0, 7.0, 0.5),
            ("mean difference (alpha)", 4.0, 100.0, 1.0, 2.0)]
    c = pd.DataFrame(rows, columns=["method", "strength", "moved_pct", "dprime", "shift"])
    return c.assign(eer=[0.0, 0.25, 1.0, 0.0, 0.0, 3.0], min_dcf=0.0)


def test_baseline_text_reads_the_raw_and_mean_difference_columns():
    from voicesae_core.analysis.verification import baseline_text
    assert baseline_text(_cost(), 1.0) == (
        "raw embeddings: EER 0.00 %, minDCF 0.000, d' 8.00; mean-difference steering (alpha 1): EER 0.50 %, "
        "minDCF 0.125, d' 7.00, moves 100.0 % of rows")


def test_summary_text_by_hand():
    from voicesae_core.analysis.verification import summary_text
    text = summary_text(_cost(), _curve(), 1.0, "L2_k2")
    grid, push = text.split("\n\n")
    assert grid == (
        "Raw test embeddings: EER 0.00 %, d' 8.00 on 1,200 target and 3,400 non-target trials. Reconstructions lose "
        "some separation (d' 4.00-6.00 over the grid, EER up to 2.50 %). Steering the language latent with a_phi 1 "
        "moves 70-100 % of test rows to the other class and leaves d' 2.00 (L1_k1) to 2.50 (L2_k2), EER up to "
        "5.00 %. In the single model (L2_k2), 95 % or more of the rows are moved by the latent from strength 1 "
        "(d' 2.50, EER 0.25 %) and by the mean-difference vector from strength 4 (d' 1.00, EER 3.00 %).")
    assert push == (
        "How far each pushes: at strength 1 the latent moves a reconstruction by 1.50 of its mean norm (d' 2.50), "
        "the mean-difference vector a raw embedding by 0.50 (d' 7.00). Larger pushes of either cost more "
        "separation: d' at the largest strength (4): latent 1.50, mean difference 1.00.")
    # the row order of the curve does not matter; a strength never reached reads "never"
    shuffled = _curve().iloc[::-1]
    assert summary_text(_cost(), shuffled, 1.0, "L2_k2") == text
    assert "mean-difference vector never." in summary_text(_cost(), _curve(), 1.0, "L2_k2", moved_pct=100.5)
    # no strength 1 in the curve: the nearest is reported as what it is
    moved = _curve().replace({"strength": {1.0: 0.5}})
    assert "at strength 0.5 the latent moves a reconstruction by 1.50" in summary_text(_cost(), moved, 1.0, "L2_k2")
    # the verbs follow the numbers: reconstructions that separate better, a push that costs nothing
    better = _cost().assign(raw_dprime=3.0)
    assert "Reconstructions separate speakers at least as well (d' 4.00-6.00" in summary_text(better, _curve(), 1.0, "L2_k2")
    assert "Reconstructions lose or gain separation, by model" in summary_text(_cost().assign(raw_dprime=5.0), _curve(),
                                                                                1.0, "L2_k2")
    free = _curve()
    free.loc[free.strength == free.strength.max(), "dprime"] = 9.0
    text = summary_text(_cost(), free, 1.0, "L2_k2", feature="Spanish vs English")
    assert "Larger pushes: d' at the largest strength (4): latent 9.00, mean difference 9.00." in text
    assert "Steering the Spanish vs English latent" in text


def test_summary_text_needs_both_methods():
    from voicesae_core.analysis.verification import summary_text
    c = _curve()
    with pytest.raises(VoicesaeError, match="both methods"):
        summary_text(_cost(), c[c.method.str.startswith("latent")], 1.0, "L2_k2")
