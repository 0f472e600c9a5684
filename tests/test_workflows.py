"""The CI workflow (.github/workflows/), checked here since it cannot run here: zizmor (offline) finds
nothing above "low" in it, every action is pinned to a commit with its version beside it, and its
jobs call the Makefile and the project's own commands, installing nothing the Makefile does not."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def zizmor(path) -> list[dict]:
    exe = Path(sys.executable).with_name("zizmor")
    if not exe.exists():
        pytest.fail("zizmor is not installed (it is in the test extra: make test installs it)")
    r = subprocess.run([str(exe), "--offline", "--persona", "auditor", "--format", "json-v1", str(path)],
                       capture_output=True, text=True)
    return json.loads(r.stdout)


def test_zizmor_finds_nothing_above_low_in_any_workflow():
    assert WORKFLOWS
    for wf in WORKFLOWS:
        serious = [(f["ident"], f["determinations"]["severity"]) for f in zizmor(wf)
                   if f["determinations"]["severity"] not in ("Informational", "Low")]
        assert not serious, f"{wf.name}: {serious}"


def test_zizmor_here_does_catch_the_old_workflows_faults(tmp_path):
    # The faults the first workflow had: a dispatch input expanded into a shell line, an action
    # pinned by tag, checkout credentials left for later steps.
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non:\n  workflow_dispatch:\n    inputs:\n      profile:\n        default: full\n"
                   "permissions:\n  contents: read\njobs:\n  a:\n    name: a\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - uses: actions/checkout@v4\n      - run: make book PROFILE=${{ github.event.inputs.profile }}\n")
    found = {f["ident"] for f in zizmor(bad)}
    assert {"template-injection", "unpinned-uses", "artipacked"} <= found


def test_actions_are_pinned_and_jobs_only_call_the_makefile_and_our_commands():
    for wf in WORKFLOWS:
        text = wf.read_text()
        for line in re.findall(r"uses: (\S+.*)", text):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), f"{wf.name}: {line}"
        doc = yaml.safe_load(text)
        for name, job in doc["jobs"].items():
            for step in job.get("steps", []):
                run = step.get("run", "")
                assert not re.search(r"\b(pip|apt-get|apt|npm|conda)\b", run), f"{wf.name} {name}: installs: {run}"
                if "checkout" in step.get("uses", ""):
                    assert step["with"]["persist-credentials"] is False, f"{wf.name} {name}"
        assert doc.get("permissions") == {}, f"{wf.name}: permissions are granted per job"
