"""The package installed from a wheel (not editable) into a fresh virtual environment, used from a
folder outside the checkout: its data files ship inside it and nothing reaches into the repository."""
import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with the voicesae wheel installed (--no-deps); its third-party dependencies are
    this environment's, reached through a plain path entry (whose .pth files, among them the
    editable install's, are not processed), so only the wheel provides voicesae_core."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"  # a copy of what the wheel is built from: the build never writes into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "voicesae_core", src / "voicesae_core", ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                        "-w", str(root / "dist"), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (wheel,) = (root / "dist").glob("voicesae-*.whl")
    env = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                        str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = root / "elsewhere"  # outside the checkout: nothing from it is importable or readable by accident
    work.mkdir()
    return python, Path(site), work


def run(venv, *args):
    python, _, work = venv
    return subprocess.run([str(python), *args], capture_output=True, text=True, cwd=work)


def test_the_wheel_is_what_is_imported_and_carries_its_data_files(venv):
    _, site, _ = venv
    r = run(venv, "-c", "import voicesae_core, voicesae_core.data.manifest as m; from voicesae_core.data import "
                        "paper_reference as p; print(voicesae_core.__file__); print(voicesae_core.__version__); "
                        "print(p.grid('fig2', 'recall').loc[200, 'k20']); print(len(m.SCHEMA['properties']))")
    assert r.returncode == 0, r.stderr
    path, version, cell, fields = r.stdout.split()
    assert Path(path).is_relative_to(site) and not Path(path).is_relative_to(REPO)
    assert version == "0.1.0" and float(cell) == 95.4 and int(fields) > 5


def test_data_validate_and_a_tiny_train_grid_run_from_the_wheel(venv, data):
    _, _, work = venv
    np.save(work / "e.npy", data[:300])
    (work / "m.csv").write_text("id,split\n" + "".join(f"r{i},{'train' if i % 4 else 'test'}\n" for i in range(300)))
    r = run(venv, "-m", "voicesae_core", "data", "manifest", "--embeddings", "e.npy", "--metadata", "m.csv",
            "--out", "mine.json")
    assert r.returncode == 0, r.stderr
    r = run(venv, "-m", "voicesae_core", "data", "validate", "mine.json")
    assert r.returncode == 0 and "mine.json: valid (300 rows, dimension 48)" in r.stdout, r.stderr
    r = run(venv, "-m", "voicesae_core", "train-grid", "e.npy", "--out", "grid", "--latent-dims", "16",
            "--ks", "2,4", "--epochs", "1", "--batch-size", "100", "--quiet")
    assert r.returncode == 0, r.stderr
    cfg = json.loads((work / "grid" / "models" / "L16_k4_topk_s0" / "cfg.json").read_text())
    assert cfg["voicesae_version"] == "0.1.0"
    r = run(venv, "-m", "voicesae_core", "study", "keys")
    assert r.returncode == 0 and "grid.ks: list of int" in r.stdout
