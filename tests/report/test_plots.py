"""The figures: files written, Sankey bands one per flow, degenerate cells marked."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import PathPatch, Rectangle

from voicesae_core.data import paper_reference
from voicesae_core.report import plots
from voicesae_core.analysis import splitting


def links_example():
    # 10 samples, sizes 100 -> 200 -> 300: latent 3 splits into 60 (male) and 65 (female).
    a = np.array([[3, 3, 60]] * 4 + [[3, 3, 65]] * 4 + [[splitting.NONE] * 3] * 2)
    analysis = splitting.SplitAnalysis([100, 200, 300], [[3], [3], [60, 65]], a, [], [])
    groups = ["Spanish male"] * 4 + ["Spanish female"] * 4 + ["English female"] * 2
    return analysis, splitting.sankey_links(analysis, groups)


def test_save_writes_png_and_svg(tmp_path):
    analysis, links = links_example()
    fig = plots.alluvial(links, analysis.latent_dims, analysis.label_latents)
    png, svg = plots.save(fig, tmp_path / "figs", "fig4")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()[:2000]
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["fig4.png", "fig4.svg"]  # no temp files left


def test_alluvial_draws_one_band_per_flow_and_nodes_sized_by_count():
    analysis, links = links_example()
    fig = plots.alluvial(links, analysis.latent_dims, analysis.label_latents)
    ax = fig.axes[0]
    assert sum(isinstance(p, PathPatch) for p in ax.patches) == len(links)
    nodes = [p for p in ax.patches if isinstance(p, Rectangle)]
    heights = sorted(round(p.get_height() / min(n.get_height() for n in nodes), 6) for p in nodes)
    # Column 1: 8 and 2; column 2: 8 and 2; column 3: 4, 4 and 2 (in units of the 2-sample node).
    assert heights == [1, 1, 1, 2, 2, 4, 4]
    with pytest.raises(ValueError, match="at least two latent sizes"):
        plots.alluvial(links.iloc[:0], [100], [[3]])


def test_heatmaps_hatch_the_cells_whose_latent_never_fires():
    paper = paper_reference.grid("fig2", "precision")
    ours = paper - 2.0
    degenerate = pd.DataFrame(False, index=ours.index, columns=ours.columns)
    degenerate.loc[600, "k5"] = degenerate.loc[100, "k35"] = True
    fig = plots.grid_heatmaps(ours, paper, "precision", degenerate)
    hatched = [sum(isinstance(p, Rectangle) and p.get_hatch() == "xx" for p in ax.patches) for ax in fig.axes[:3]]
    assert hatched == [2, 0, 2]  # ours, paper (none), difference
    diff_text = [t.get_text() for t in fig.axes[2].texts]
    assert diff_text.count("-2.0") == 42


def test_plotly_sankey_keeps_the_counts():
    analysis, links = links_example()
    fig = plots.sankey(links)
    s = fig.data[0]
    assert sum(s.link.value) == 2 * 10
    assert "L300 #60" in s.node.label and "L100 none" in s.node.label


def test_plotly_html_is_self_contained():
    analysis, links = links_example()
    import re
    html = plots.plotly_html(plots.sankey(links)).data
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js itself is inline
    assert not re.findall(r'<script[^>]+src=', html)  # nothing loaded from anywhere, CDN or not


def test_heatmaps_write_the_intervals_under_our_values():
    paper = paper_reference.grid("fig3", "recall")
    ours = paper - 1.0
    fig = plots.grid_heatmaps(ours, paper, "recall", intervals=(ours - 3.0, ours + 2.0))
    first = fig.axes[0].texts[0].get_text()
    assert first == f"{ours.iloc[0, 0]:.1f}\n[{ours.iloc[0, 0] - 3:.0f}, {ours.iloc[0, 0] + 2:.0f}]"
    assert all("[" not in t.get_text() for t in fig.axes[1].texts)  # the paper's panel: values only


def test_glue_absent_glues_the_reason_under_each_name_the_chapter_did_not_glue():
    from unittest import mock
    from voicesae_core.report import plots
    with mock.patch("IPython.display.display") as display:  # myst_nb's glue displays a tagged output
        assert plots.glue_absent(["fig2a", "fig2b", "fig3a"], ["fig2b"], "no such feature") is None
    names = [c.kwargs["metadata"]["scrapbook"]["name"] for c in display.call_args_list]
    assert names == ["fig2a", "fig3a"]
    assert "no such feature" in display.call_args_list[0].args[0]["application/papermill.record/text/plain"]
