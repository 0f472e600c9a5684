"""Executed notebooks made into pages (voicesae_core/report/publish.py)."""
import json

from conftest import QUICK_STUDY
from voicesae_core.report import publish, study


def notebook():
    code = lambda src, tags=(), outputs=(): {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": src,
                                             "outputs": list(outputs), "execution_count": 1}
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# 3. A chapter"},
                      code('study = "s.yml"', ["parameters"]),
                      code('# Parameters\nstudy = "/build/repo/out/s.yml"\n', ["injected-parameters"]),
                      code("print(path)", outputs=[{"output_type": "stream", "name": "stdout",
                                                    "text": "read /build/repo/data/x.json and /elsewhere/y\n"}]),
                      code("fig", ["remove-input"], [{"output_type": "display_data", "metadata": {},
                                                      "data": {"text/plain": "/build/repo/figures/a.png"}}])],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_a_page_hides_the_parameters_folds_the_code_and_shows_no_build_path():
    nb = notebook()
    before = json.dumps(nb)
    page = publish.page(nb, "03_identification", "CMD", [("/build/repo", "")], [("the notebook", "../../d/n.ipynb")])
    assert json.dumps(nb) == before  # the executed notebook itself (a download) is untouched
    sources = [c["source"] for c in page["cells"]]
    assert not any("study =" in s for s in sources)  # both parameters cells gone
    assert "Reproduce this chapter" in sources[1] and "    CMD" in sources[1]  # under the title
    code = [c for c in page["cells"] if c["cell_type"] == "code"]
    assert code[0]["metadata"]["tags"] == ["hide-input"] and code[1]["metadata"]["tags"] == ["remove-input"]
    assert code[0]["outputs"][0]["text"] == "read data/x.json and /elsewhere/y\n"
    assert code[1]["outputs"][0]["data"]["text/plain"] == "figures/a.png"
    assert '<a href="../../d/n.ipynb" download>the notebook</a>' in sources[-1]
    assert publish.page(nb, "x", None, [], [])["cells"][1]["cell_type"] == "code"  # no box, no downloads


def test_the_command_runs_the_grid_first_for_the_chapters_that_read_it():
    assert publish.command("mine.yml", "03_identification", {"bootstrap": 0}) == (
        ".venv/bin/python -m voicesae_core notebooks --study mine.yml --only 02_train_grid,03_identification "
        "-p bootstrap '0'")
    assert publish.command("mine.yml", "06_audio").endswith("--only 06_audio")


def test_record_lists_what_a_chapter_wrote_and_provenance_shows_it(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "old.png").write_bytes(b"1")
    before = publish.snapshot([tmp_path / "figures", tmp_path / "tables"])
    (tmp_path / "figures" / "new.png").write_bytes(b"2")
    run = publish.record(tmp_path / "c.run.json", 12.34, before, publish.snapshot([tmp_path / "figures"]), tmp_path, "cpu")
    assert run["files"] == ["figures/new.png"] and run["seconds"] == 12.3
    assert json.loads((tmp_path / "c.run.json").read_text()) == run
    (tmp_path / "grid.csv").write_text("name,converged\nA,True\nB,False\n")
    s = study.load(QUICK_STUDY)
    text = publish.provenance(s, "studies/paper-quick.yml", {"01_data": run, "02_train_grid": None}, {"01_data"},
                              tmp_path / "grid.csv")
    assert "| {doc}`notebooks/01_data` |" in text and "| 12 | yes | cpu | 1 |" in text
    assert s.sha256()[:16] in text and "1 of 2 SAEs of the grid converged (chapter 2 draws every training curve); not converged: B." in text
    assert "| torch | 2.13.0" in text


def test_a_glued_figure_gets_its_caption_as_alt_text():
    md = "Text\n```{glue:figure} fig2a\n:name: fig-2a\n\nFig. 2a: precision of $\\phi$ as a\n*predictor*.\n```\nafter"
    out = publish.with_alt_text(md)
    assert ":alt: Fig. 2a: precision of phi as a predictor." in out.split("\n")[2]
    assert publish.with_alt_text(out) == out  # one that has an alt keeps it
