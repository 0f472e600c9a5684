"""files.py: atomic writes that survive a SIGKILL, and the output-path guard."""
import os
import subprocess
import sys

import pytest

from voicesae_core import VoicesaeError
from voicesae_core.files import atomic_path, check_output


def test_a_write_killed_midway_leaves_the_old_file_and_its_temporary_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")
    # A process that dies (SIGKILL-like: os._exit skips every finally) in the middle of a write.
    code = ("import os, sys; from voicesae_core.files import atomic_path\n"
            "with atomic_path(sys.argv[1]) as t:\n    t.write_text('half'); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code, str(target)]).returncode == 9
    assert target.read_text() == "old"
    orphans = [p.name for p in tmp_path.iterdir() if p.name != "x.json"]
    assert len(orphans) == 1 and orphans[0].startswith(".x.json.")
    live = tmp_path / f".x.json.{os.getpid()}.busy.tmp"  # another live writer's file is left alone
    live.write_text("")
    with atomic_path(target) as t:
        t.write_text("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == [live.name, "x.json"]


def test_check_output_refuses_inputs_folders_files_and_someone_elses_file(tmp_path):
    (tmp_path / "in.npy").write_text("data")
    (tmp_path / "theirs.json").write_text("{}")
    (tmp_path / "d").mkdir()
    cases = [
        (dict(out=tmp_path / "in.npy", inputs=[tmp_path / "in.npy"]), "is the input"),
        (dict(out=tmp_path, inputs=[tmp_path / "in.npy"], kind="folder"), "holds the input"),
        (dict(out=tmp_path / "d"), "is a folder"),
        (dict(out=tmp_path / "in.npy", kind="folder"), "is an existing file"),
        (dict(out=tmp_path / "theirs.json", ours=lambda p: False), "not a file this command wrote"),
        (dict(out=tmp_path / "in.npy" / "x" / "y.json"), "is a file, not a folder"),
    ]
    for kwargs, message in cases:
        with pytest.raises(VoicesaeError, match=message):
            check_output(**kwargs)
    assert check_output(tmp_path / "new" / "out.json", [tmp_path / "in.npy"]) == tmp_path / "new" / "out.json"
    assert check_output(tmp_path / "theirs.json", ours=lambda p: True) == tmp_path / "theirs.json"
