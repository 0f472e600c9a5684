"""What changed between two builds (voicesae_core/report/diff.py, `book diff OLD_DIR NEW_DIR`)."""
import json
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO
from voicesae_core.errors import VoicesaeError
from voicesae_core.report import diff


def build(folder, fvu=0.25, extra=False, runs=True):
    (folder / "tables").mkdir(parents=True)
    (folder / "figures").mkdir()
    (folder / "notebooks").mkdir()
    pd.DataFrame({"name": ["L100", "L200"], "fvu": [0.5, fvu], "note": ["", "not converged"]}).to_csv(
        folder / "tables" / "grid_training.csv", index=False)
    pd.DataFrame({"latent_dim": [100, 100], "child": [3, 4]}).to_csv(folder / "tables" / "splits.csv", index=False)
    if extra:
        pd.DataFrame({"a": [1]}).to_csv(folder / "tables" / "new.csv", index=False)
    (folder / "figures" / "fig_grid_training.png").write_bytes(b"png")
    (folder / "figures" / "splits.png").write_bytes(b"png")
    if runs:
        (folder / "notebooks" / "02_train_grid.run.json").write_text(json.dumps(
            {"files": ["tables/grid_training.csv", "figures/fig_grid_training.png", "figures/fig_grid_training.svg"]}))
    return folder


def test_identical_builds_agree_and_a_moved_number_is_named_with_its_figure(tmp_path):
    old = build(tmp_path / "old")
    assert not diff.compare(old, build(tmp_path / "same")).changed
    assert not diff.compare(old, build(tmp_path / "tiny", fvu=0.25 + 1e-9)).changed  # within the tolerance
    d = diff.compare(old, build(tmp_path / "new", fvu=0.3, extra=True))
    assert d.moved == [diff.Moved("grid_training.csv", "L200 (row 2)", "fvu", "0.25", "0.3")]
    assert d.added == ["new.csv"] and d.removed == [] and d.figures == ["fig_grid_training.png"]
    text = diff.report(d, "old", "new", 1e-6)
    assert "| `grid_training.csv` | L200 (row 2) | fvu | 0.25 | 0.3 |" in text
    assert "**Figures whose tables changed:** `fig_grid_training.png`" in text and "**Added:** `new.csv`" in text


def test_without_run_records_a_figure_is_matched_to_its_table_by_name(tmp_path):
    old = build(tmp_path / "old", runs=False)
    new = build(tmp_path / "new", runs=False)
    pd.DataFrame({"latent_dim": [100, 100, 200], "child": [3, 4, 9]}).to_csv(new / "tables" / "splits.csv", index=False)
    d = diff.compare(old, new)
    assert d.reshaped == ["splits.csv"] and d.figures == ["splits.png"] and d.moved == []


def test_bad_folders_and_tolerances_are_named(tmp_path):
    with pytest.raises(VoicesaeError, match="no such build folder"):
        diff.compare(tmp_path / "nope", tmp_path)
    with pytest.raises(VoicesaeError, match="no tables/ folder"):
        diff.compare(tmp_path, tmp_path)
    with pytest.raises(VoicesaeError, match="--tolerance: expected a non-negative number"):
        diff.compare(tmp_path, tmp_path, tolerance=-1)


def test_the_command_prints_the_report_and_fails_on_change_when_asked(tmp_path):
    old, new = build(tmp_path / "old"), build(tmp_path / "new", fvu=0.3)
    cmd = [sys.executable, "-m", "voicesae_core", "book", "diff", str(old), str(new)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and "1 number(s) moved beyond 1e-06 in 1 of 2 tables" in r.stdout
    assert subprocess.run(cmd + ["--fail-on-change"], capture_output=True, cwd=REPO).returncode == 1
    same = subprocess.run(cmd[:-1] + [str(old), "--fail-on-change"], capture_output=True, text=True, cwd=REPO)
    assert same.returncode == 0 and "No number moved" in same.stdout
