"""The grid across processes (torchrun, gloo, 2 processes on the CPU): the same models, table and
checkpoint file as one process, and a killed run resumed by any number of processes ends the same."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from voicesae_core.sae import distributed

TORCHRUN = Path(sys.executable).with_name("torchrun")
GRID = ["--latent-dims", "32,64,96", "--ks", "4,8", "--batch-size", "100", "--quiet"]


def train(x, out, processes, *extra, wait=True):
    cmd = ([str(TORCHRUN), "--standalone", f"--nproc-per-node={processes}"] if processes > 1 else [sys.executable])
    cmd += ["-m", "voicesae_core", "train-grid", str(x), "--out", str(out), *GRID, *extra]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def files(out: Path) -> dict[str, bytes]:
    """Every file a run wrote, by path inside its folder."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def x(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("dist") / "x.npy"
    np.save(path, (rng.standard_normal((6000, 32)) @ rng.standard_normal((32, 32))).astype(np.float32))
    return path


def test_the_share_covers_every_model_once_and_balances_the_cost():
    costs = [100, 200, 300, 400, 500, 600] * 7
    shares = [distributed.share(costs, r, 2) for r in range(2)]
    assert sorted(shares[0] + shares[1]) == list(range(42))
    loads = [sum(costs[i] for i in s) for s in shares]
    assert abs(loads[0] - loads[1]) <= max(costs)
    assert distributed.share(costs, 0, 1) == list(range(42))
    assert distributed.share([5.0], 1, 3) == []  # more processes than models: some train none


def test_two_processes_write_the_same_files_as_one(x, tmp_path):
    train(x, tmp_path / "one", 1, "--epochs", "2")
    r = train(x, tmp_path / "two", 2, "--epochs", "2")
    assert r.stdout.strip() == str(tmp_path / "two" / "results.csv")  # one process prints, not both
    one, two = files(tmp_path / "one"), files(tmp_path / "two")
    assert sorted(one) == sorted(two) and "checkpoint.safetensors" in one and len(one) == 2 + 2 * 6
    assert [k for k in one if one[k] != two[k]] == []  # models, cfg.json, results.csv, checkpoint: bitwise


def checkpoint_state(path: Path) -> dict | None:
    """The checkpoint's progress record (epoch, step, done), or None while there is none."""
    import json
    from safetensors import safe_open
    try:
        with safe_open(str(path), "pt") as f:
            return json.loads(f.metadata()["state"])
    except (OSError, ValueError, KeyError):
        return None


def test_a_killed_two_process_run_resumes_with_one_process_to_the_same_models(x, tmp_path):
    train(x, tmp_path / "whole", 1, "--epochs", "20", "--checkpoint-every", "7")
    run = train(x, tmp_path / "killed", 2, "--epochs", "20", "--checkpoint-every", "7", wait=False)
    ckpt = tmp_path / "killed" / "checkpoint.safetensors"
    deadline = time.time() + 240
    while (checkpoint_state(ckpt) or {}).get("epoch", 0) < 1 and run.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)  # torchrun and both its processes, mid-run
    run.wait()
    state = checkpoint_state(ckpt)
    assert state is not None and not state["done"], f"not killed mid-training: {state}"
    train(x, tmp_path / "killed", 1, "--epochs", "20", "--checkpoint-every", "7")
    whole, resumed = files(tmp_path / "whole"), files(tmp_path / "killed")
    models = [k for k in whole if k.startswith("models/") and k.endswith(".safetensors")]
    assert len(models) == 6 and [k for k in models if whole[k] != resumed[k]] == []
    assert whole["results.csv"] == resumed["results.csv"]


def test_a_numbered_gpu_under_torchrun_is_refused_before_joining(monkeypatch):
    from voicesae_core import VoicesaeError
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(VoicesaeError, match="--device cuda:1: under torchrun each process takes the GPU of its "
                                            "LOCAL_RANK"):
        distributed.init_from_env("cuda:1")
