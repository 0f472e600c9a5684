"""The command line, run as a user would (a real subprocess)."""
import csv
import json
import subprocess
import sys

import numpy as np


def run(*args):
    return subprocess.run([sys.executable, "-m", "voicesae_core", *args], capture_output=True, text=True)


def test_train_grid_then_evaluate(data, tmp_path):
    np.save(tmp_path / "x.npy", data[:800])
    r = run("train-grid", str(tmp_path / "x.npy"), "--out", str(tmp_path / "g"), "--latent-dims", "16,32",
            "--ks", "2,4", "--epochs", "1", "--batch-size", "200")
    assert r.returncode == 0, r.stderr
    assert "grid of 4 SAEs" in r.stderr  # the progress bar
    rows = list(csv.DictReader(open(tmp_path / "g" / "results.csv")))
    assert [row["name"] for row in rows] == ["L16_k2_topk_s0", "L16_k4_topk_s0", "L32_k2_topk_s0", "L32_k4_topk_s0"]
    r = run("evaluate", str(tmp_path / "g" / "models" / "L32_k4_topk_s0"), str(tmp_path / "x.npy"))
    assert r.returncode == 0, r.stderr
    assert abs(json.loads(r.stdout)["fvu"] - float(rows[3]["fvu"])) < 1e-9
    r = run("train-grid", str(tmp_path / "x.npy"), "--out", str(tmp_path / "q"), "--latent-dims", "16",
            "--ks", "2", "--quiet")
    # quiet: no progress bar, no summary; but one epoch at batch 4096 is one step on 800 rows, and that is said
    assert r.returncode == 0 and r.stderr.strip() == ("warning: L16_k2_topk_s0 did not converge: too few steps: 1 "
                                                      "optimizer steps (fewer than 100)")


def test_errors_are_one_line(tmp_path):
    r = run("train-grid", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "g"))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {tmp_path / 'missing.npy'}: no such file"
    bad = np.ones((10, 4), np.float32)
    bad[3, 2] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    r = run("train-grid", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "g"), "--latent-dims", "8", "--ks", "2")
    assert r.returncode == 2 and "row 3, dimension 2 is nan" in r.stderr
    assert not (tmp_path / "g").exists()
    r = run("train-grid", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "g"), "--latent-dims", "8", "--ks", "20")
    assert r.returncode == 2 and "K=20 must be between 1 and latent_dim=8" in r.stderr


def test_notebooks_command_runs_one_notebook_and_names_bad_ones(tmp_path):
    r = run("notebooks", "--profile", "quick", "--output-dir", str(tmp_path / "o"), "--only", "01_data", "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "o" / "notebooks" / "01_data.ipynb")
    assert (tmp_path / "o" / "tables" / "table1_language_dataset.csv").is_file()
    r = run("notebooks", "--output-dir", str(tmp_path / "o"), "--only", "06_nope", "--quiet")
    assert r.returncode == 2 and "--only: no chapter '06_nope'" in r.stderr
    # A study dataset that is not there stops the run before any notebook executes.
    r = run("notebooks", "--profile", "quick", "--output-dir", str(tmp_path / "p"), "--only", "01_data", "--quiet",
            "-p", "datasets.language", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {tmp_path / 'missing.json'}: no such manifest"
    assert not (tmp_path / "p" / "notebooks").exists()


def test_sae_export_then_import_and_the_refusals(data, tmp_path):
    """`sae export` writes SAELens and sparsify folders, `sae import` reads them (or a foreign one)
    back; a refused export writes nothing, and a bad folder is one line."""
    np.save(tmp_path / "x.npy", data[:800])
    assert run("train-grid", str(tmp_path / "x.npy"), "--out", str(tmp_path / "g"), "--latent-dims", "16",
               "--ks", "4", "--activations", "topk,relu", "--epochs", "1", "--batch-size", "100",
               "--quiet").returncode == 0
    topk, relu = tmp_path / "g" / "models" / "L16_k4_topk_s0", tmp_path / "g" / "models" / "L16_relu_s0"
    for fmt, marker in (("saelens", "sae_weights.safetensors"), ("sparsify", "sae.safetensors")):
        r = run("sae", "export", str(topk), "--format", fmt, "--out", str(tmp_path / fmt))
        assert r.returncode == 0 and r.stdout.strip() == str(tmp_path / fmt), r.stderr
        assert (tmp_path / fmt / marker).is_file()
        r = run("sae", "import", str(tmp_path / fmt), "--out", str(tmp_path / f"{fmt}-back"))
        assert r.returncode == 0, r.stderr
        back = json.loads((tmp_path / f"{fmt}-back" / "cfg.json").read_text())
        assert back["sae"] == json.loads((topk / "cfg.json").read_text())["sae"]
        assert back["info"]["train_data_sha256"]  # our training record came back with the weights
    r = run("sae", "export", str(relu), "--format", "sparsify", "--out", str(tmp_path / "no"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "export it with --format saelens" in r.stderr
    assert not (tmp_path / "no").exists()
    r = run("sae", "export", str(topk), "--format", "saelens", "--out", str(tmp_path / "saelens"))
    assert r.returncode == 2 and "exists and is not an empty folder" in r.stderr
    r = run("sae", "import", str(tmp_path), "--out", str(tmp_path / "z"))
    assert r.returncode == 2 and r.stderr.startswith(f"error: {tmp_path}: holds none of model.safetensors")
    r = run("sae", "export", str(topk), "--format", "onnx", "--out", str(tmp_path / "z"))
    assert r.returncode == 2 and "invalid choice: 'onnx'" in r.stderr
