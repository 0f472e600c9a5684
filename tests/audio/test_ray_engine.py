"""Extraction on Ray Data (a local Ray instance, 2 CPU actors): the same embeddings as the local
engine (same ids, within 1e-6), the same skipped rows, and nothing lost when an actor and then the
driver are killed mid-run."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from voicesae_core import VoicesaeError
from voicesae_core.audio import extract
from voicesae_core.audio.ray_engine import RayOptions
from voicesae_core.data import manifest

RUN = """
import sys
from voicesae_core.audio import extract
from voicesae_core.audio.ray_engine import RayOptions
extract.extract(sys.argv[1], sys.argv[2], "random:titanet-small", batch_size=2, flush_every=2, quiet=True,
                cluster=RayOptions(workers=2))
"""


@pytest.fixture(scope="module")
def clips(demo, tmp_path_factory):
    """Sixteen demo segments and two bad rows (a missing file, a silent clip), and the local engine's result."""
    from conftest import write_wav
    _, seg = demo
    d = tmp_path_factory.mktemp("ray")
    rows = [json.loads(line) for line in seg.read_text().splitlines()][::5][:16]
    for r in rows:
        r["audio_filepath"] = str((seg.parent / r["audio_filepath"]).resolve())
    write_wav(d / "silent.wav", np.zeros(48000, np.float32))
    for rid, path in (("missing", "missing.wav"), ("silent", str(d / "silent.wav"))):
        rows.insert(3, {**rows[0], "id": rid, "audio_filepath": path, "offset": 0.0, "duration": 3.0})
    path = d / "clips.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    local = extract.extract(path, d / "local", "random:titanet-small", quiet=True)
    return path, manifest.load(local.manifest), pd.read_csv(d / "local" / "skipped.csv")


def same_as_local(out, clips):
    _, local, local_skipped = clips
    ours = manifest.load(out / "manifest.json")
    assert ours.metadata["id"].tolist() == local.metadata["id"].tolist()
    assert np.abs(ours.embeddings - local.embeddings).max() <= 1e-6
    assert pd.read_csv(out / "skipped.csv")[["id", "reason"]].equals(local_skipped[["id", "reason"]])


def start(clips, out):
    return subprocess.Popen([sys.executable, "-c", RUN, str(clips[0]), str(out)], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_parts(out, run, n=1, timeout=300):
    deadline = time.time() + timeout
    while len(list((out / "parts").glob("part-*.npz"))) < n and run.poll() is None and time.time() < deadline:
        time.sleep(0.2)


def test_a_killed_actor_and_a_killed_driver_lose_nothing(clips, tmp_path):
    """One run: an actor killed mid-run (Ray Data restarts it and retries its batch), then the
    driver killed (with the Ray instance it started); the rerun embeds only what was not saved and
    the result is the local engine's."""
    out = tmp_path / "out"
    run = start(clips, out)
    wait_for_parts(out, run)
    actors = [p for p in psutil.Process(run.pid).children(recursive=True)
              if any("_Embedder" in part for part in p.cmdline())]
    assert actors, "no embedding actor found to kill"
    actors[0].kill()
    before = len(list((out / "parts").glob("part-*.npz")))
    wait_for_parts(out, run, n=before + 2)  # the run goes on after losing an actor ...
    assert run.poll() is None, run.communicate()[1][-3000:]
    os.killpg(run.pid, signal.SIGKILL)  # ... until the driver is killed
    run.wait()
    saved = len(extract.raw_embeddings(out)[0])
    assert 0 < saved < 16 and not (out / "manifest.json").exists()
    again = extract.extract(clips[0], out, "random:titanet-small", batch_size=2, quiet=True,
                            cluster=RayOptions(workers=2))
    assert again.reused == saved and again.embedded == 16
    same_as_local(out, clips)


def test_ray_options_and_the_cli_refuse_what_they_cannot_honour(clips, tmp_path):
    with pytest.raises(VoicesaeError, match="--workers: expected an integer of at least 1"):
        RayOptions(workers=0)
    r = subprocess.run([sys.executable, "-m", "voicesae_core", "audio", "extract", str(clips[0]), "--out",
                        str(tmp_path / "o"), "--workers", "4"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == "error: --workers: only for --engine ray (this run's engine is local)"
    r = subprocess.run([sys.executable, "-m", "voicesae_core", "audio", "extract", str(clips[0]), "--out",
                        str(tmp_path / "o"), "--engine", "ray", "--device", "cuda"], capture_output=True, text=True)
    assert r.returncode == 2 and "--gpus-per-worker" in r.stderr
    assert not (tmp_path / "o").exists()
    with pytest.raises(VoicesaeError, match=r"--gpus-per-worker 1: the Ray cluster has 0 GPU\(s\)"):
        extract.extract(clips[0], tmp_path / "g", "random:titanet-small", quiet=True,
                        cluster=RayOptions(gpus_per_worker=1))
