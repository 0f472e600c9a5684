"""The paper's published numbers, as transcribed into voicesae_core/data/paper_reference/ (package data)."""
import pytest

from voicesae_core import VoicesaeError
from voicesae_core.data import paper_reference


def test_grids_have_the_papers_shape_and_known_cells():
    for figure in ("fig2", "fig3"):
        for metric in ("precision", "recall"):
            g = paper_reference.grid(figure, metric)
            assert list(g.index) == [100, 200, 300, 400, 500, 600]
            assert list(g.columns) == [f"k{k}" for k in range(5, 40, 5)]
            assert ((g >= 0) & (g <= 100)).all().all()
    assert paper_reference.grid("fig2", "recall").loc[200, "k20"] == 95.4  # Fig. 2b, the text's model
    assert paper_reference.grid("fig3", "precision").loc[200, "k20"] == 99.0


def test_tables():
    t3 = paper_reference.steering("table3")
    assert t3.loc["spanish", "delta_s_after"] == -0.52 and t3.loc["english", "delta_s_before"] == -0.091
    t4 = paper_reference.steering("table4")
    assert t4.loc["music", "delta_s_before"] == 0.505
    t1 = paper_reference.dataset("table1")
    assert t1[["train", "test"]].values.sum() == 1171 + 800
    assert paper_reference.dataset("table2").loc["music", "test"] == 200


def test_the_texts_single_model():
    t = paper_reference.single_model()
    assert t.loc["language", ["phi", "precision", "recall"]].tolist() == [15, 99.2, 95.5]
    assert t.loc["music", ["latent_dim", "k", "phi"]].tolist() == [200, 20, 74]


def test_unknown_is_a_clear_error(tmp_path):
    with pytest.raises(VoicesaeError, match="no published grid 'accent'"):
        paper_reference.grid("accent", "precision")
    with pytest.raises(VoicesaeError, match="no published table"):
        paper_reference.steering("gender")
    with pytest.raises(VoicesaeError, match="missing"):
        paper_reference.grid("fig2", "recall", folder=tmp_path)


def test_difference_on_shared_cells():
    paper = paper_reference.grid("fig2", "precision")
    ours = paper.loc[[100, 200], ["k5", "k20"]] - 1.0
    d = paper_reference.difference(ours, paper)
    assert d.loc[200, "k20"] == pytest.approx(-1.0) and d.isna().loc[600, "k35"]


def test_compare_and_its_sentence():
    paper = paper_reference.grid("fig2", "recall")
    ours = paper.loc[[100, 200]].copy()
    ours.loc[100, "k5"] += 10.0  # one cell 10 points above, the rest equal
    c = paper_reference.compare(ours, paper)
    assert c["cells"] == 14 and c["within"] == 13 and c["largest"] == (100, "k5", pytest.approx(10.0))
    assert c["mean_difference"] == pytest.approx(10 / 14)
    text = paper_reference.compare_text(ours, paper, "Recall")
    assert "0.7 points above" in text and "13 of 14 cells are within 5 points" in text and "+10.0 at latent 100, K 5" in text
    with pytest.raises(VoicesaeError, match="no cell in common"):
        paper_reference.compare(ours.rename(index={100: 700, 200: 800}), paper)


def test_grids_without_a_shared_cell_get_a_sentence_not_an_error():
    import pandas as pd
    ours = pd.DataFrame([[90.0, 80.0]], index=pd.Index([64], name="latent_dim"), columns=["k4", "k8"])
    text = paper_reference.compare_text(ours, paper_reference.grid("fig2", "precision"), "Fig. 2a (precision)")
    assert text == ("**Fig. 2a (precision)**: this study's grid (latent 64; K 4, 8) shares no cell with the paper's "
                    "(latent 100, 200, 300, 400, 500, 600; K 5, 10, 15, 20, 25, 30, 35): nothing to compare.")
