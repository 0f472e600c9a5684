"""The front page's scorecard (voicesae_core/report/scorecard.py): verdicts computed from the chapters' tables."""
import pandas as pd

from conftest import QUICK_STUDY
from voicesae_core.report import scorecard, study


def write_single(tables, precision, recall, low_high):
    tables.mkdir(exist_ok=True)
    pd.DataFrame([{"feature": "Spanish vs English", "phi": 15, "precision %": precision, "recall %": recall},
                  {"feature": "music vs voice", "phi": 3, "precision %": 90.0, "recall %": 90.0}]
                 ).set_index("feature").to_csv(tables / "identification_single_L200_k20.csv")
    lo, hi = low_high
    pd.DataFrame([{"latent_dim": 200, "k": 20, "precision_low": lo, "precision_high": hi, "recall_low": lo,
                   "recall_high": hi}]).to_csv(tables / "identification_language.csv", index=False)


def test_a_single_latent_agrees_when_the_papers_value_is_inside_our_interval(tmp_path):
    s = study.load(QUICK_STUDY)
    write_single(tmp_path / "t", 98.0, 96.0, (0.90, 1.0))  # paper: 99.2 %, 95.5 %
    row = scorecard.single_latent(s, "language", tmp_path / "t")
    assert row.verdict == ("precision: agrees (the paper's value is inside our interval); "
                           "recall: agrees (the paper's value is inside our interval)")
    assert "precision 98.0 % [90.0, 100.0]" in row.ours and row.paper == "phi 15: precision 99.2 %, recall 95.5 %"
    write_single(tmp_path / "u", 98.0, 75.0, (0.70, 0.80))
    assert "recall: differs by -20.5 points" in scorecard.single_latent(s, "language", tmp_path / "u").verdict


def test_steering_agrees_only_when_both_classes_change_sign(tmp_path):
    s = study.load(QUICK_STUDY)
    cols = pd.MultiIndex.from_product([["ours", "paper"], ["delta_s_before", "delta_s_after"]])
    for after, verdict in ((-0.2, "agrees: delta_s changes sign for both classes"),
                           (0.2, "differs: delta_s changes sign for voice only")):
        t = pd.DataFrame([[0.8, after, 0.505, -0.185], [-0.1, 0.2, -0.276, 0.252]], columns=cols,
                         index=pd.Index(["music", "voice"], name="samples"))
        t.to_csv(tmp_path / "tableiv_steering_music.csv")
        row = scorecard.steering(s, "music", tmp_path)
        assert row.verdict == verdict and row.paper == "music +0.505 -> -0.185; voice -0.276 -> +0.252"


def test_without_tables_the_scorecard_says_so(tmp_path):
    text = scorecard.markdown(study.load(QUICK_STUDY), tmp_path)
    assert "(no chapter table found: run the chapters first)" in text


def test_the_papers_future_work_is_its_own_section_with_verdicts_from_the_tables(tmp_path):
    s = study.load(QUICK_STUDY)
    pd.DataFrame([{"from": "A", "to": "B", "matched_0.7_pct": 62.0, "shuffled_0.7_pct": 0.5},
                  {"from": "B", "to": "A", "matched_0.7_pct": 3.0, "shuffled_0.7_pct": 2.0}]).to_csv(
        tmp_path / "universality_shares.csv", index=False)
    pd.DataFrame([{"name": f"L{n}_k{k}", "latent_dim": n, "expansion": n / 192, "k": k, "fvu": f, "dead_pct": d,
                   "recovered": r} for n, k, f, d, r in [(600, 20, 0.3, 0.0, 10), (6144, 20, 0.2, 4.0, 25),
                                                          (6144, 35, 0.15, 9.5, 20)]]).to_csv(
        tmp_path / "wide_sizes.csv", index=False)
    pd.DataFrame({"latent_dim": [6144], "train_seconds": [812.0]}).to_csv(tmp_path / "wide_time.csv", index=False)
    rows = {r.chapter: r for r in scorecard.future(s, tmp_path)}
    u = rows["notebooks/12_universality"]
    assert "A -> B: 62.0 % (shuffled segments: 0.5 %)" in u.ours
    assert u.verdict == "not above chance in every direction"  # B -> A: 3.0 % is not twice 2.0 %
    w = rows["notebooks/13_wide"]
    assert "6,144 latents (32 x the embedding): FVU 0.150 at best, dead 4.0-9.5 %; trained in 812 s" in w.ours
    assert "600: 10, 6,144: 25" in w.ours and w.verdict == "recovery still rising at the widest dictionary"
    text = scorecard.markdown(s, tmp_path)
    assert "**The paper's future work**" in text and "{doc}`ch. 13 <notebooks/13_wide>`" in text
    # Without chapters 12-13's tables, no section at all.
    assert "future work" not in scorecard.markdown(s, tmp_path / "nothing")
