"""Manifests: every validator error from a crafted bad file, loaders round-trip, and the worked example."""
import json
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from voicesae_core import VoicesaeError
from voicesae_core.data import manifest


def make(tmp_path, n=6, d=4, emb_fmt="npy", meta_fmt="csv", **meta_over):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d)).astype(np.float32)
    meta = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "speaker": [f"p{i // 2}" for i in range(n)],
                         "language": ["en", "es"] * (n // 2), "gender": ["female", "male", "male"] * (n // 3),
                         "is_music": [0] * n, "split": ["train", "test"] * (n // 2)})
    for k, v in meta_over.items():
        meta[k] = v
    if emb_fmt == "npy":
        np.save(tmp_path / "e.npy", x)
        emb = tmp_path / "e.npy"
    elif emb_fmt == "parquet":
        emb = tmp_path / "e.parquet"
        pd.DataFrame({"id": meta["id"], "embedding": list(x)}).iloc[::-1].to_parquet(emb)  # reversed: joined by id
    else:
        emb = tmp_path / "e.pkl"
        with open(emb, "wb") as f:
            pickle.dump({i: v for i, v in zip(meta["id"], x)}, f)
    if meta_fmt == "csv":
        meta.to_csv(tmp_path / "m.csv", index=False)
        m = tmp_path / "m.csv"
    else:
        meta.to_json(tmp_path / "m.jsonl", orient="records", lines=True)
        m = tmp_path / "m.jsonl"
    out = manifest.write_manifest(tmp_path / "data.json", emb, m, name="t", command="test")
    return out, x, meta


@pytest.mark.parametrize("emb_fmt", ["npy", "parquet", "nemo_pkl"])
@pytest.mark.parametrize("meta_fmt", ["csv", "jsonl"])
def test_loaders_round_trip(tmp_path, emb_fmt, meta_fmt):
    out, x, meta = make(tmp_path, emb_fmt=emb_fmt, meta_fmt=meta_fmt)
    ds = manifest.load(out)
    assert ds.embeddings.dtype == np.float32
    np.testing.assert_array_equal(ds.embeddings, x)  # rows follow the metadata order
    assert ds.metadata["id"].tolist() == meta["id"].tolist()
    assert ds.split("test").metadata["id"].tolist() == ["s1", "s3", "s5"]
    m = json.loads(out.read_text())
    assert m["dim"] == 4 and m["rows"] == 6 and m["embeddings"]["path"] == out.parent.joinpath(m["embeddings"]["path"]).name


def test_any_dimension_and_wide_parquet(tmp_path):
    x = np.random.default_rng(1).standard_normal((3, 256)).astype(np.float32)  # GE2E-sized
    df = pd.DataFrame(x, columns=[f"e{i}" for i in range(256)])
    df.insert(0, "id", ["a", "b", "c"])
    df.to_parquet(tmp_path / "e.parquet")
    pd.DataFrame({"id": ["c", "a", "b"]}).to_csv(tmp_path / "m.csv", index=False)
    ds = manifest.load(manifest.write_manifest(tmp_path / "g.json", tmp_path / "e.parquet", tmp_path / "m.csv", "g"))
    np.testing.assert_array_equal(ds.embeddings, x[[2, 0, 1]])


def rewrite(path, **changes):
    m = json.loads(path.read_text())
    for key, value in changes.items():
        target = m
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
    path.write_text(json.dumps(m))


def rehash(path, key):
    from voicesae_core.files import sha256_file
    m = json.loads(path.read_text())
    m[key]["sha256"] = sha256_file(path.parent / m[key]["path"])
    path.write_text(json.dumps(m))


def test_wrong_hash_and_missing_file(tmp_path):
    out, x, _ = make(tmp_path)
    assert manifest.check_files(out) == {"embeddings": tmp_path / "e.npy", "metadata": tmp_path / "m.csv"}
    np.save(tmp_path / "e.npy", x * 2)
    for check in (manifest.load, manifest.check_files):  # load goes through check_files
        with pytest.raises(VoicesaeError, match=r"e.npy: sha256 is [0-9a-f]{64}, the manifest .* says"):
            check(out)
    (tmp_path / "e.npy").unlink()
    for check in (manifest.load, manifest.check_files):
        with pytest.raises(VoicesaeError, match=r"field 'embeddings.path': file .*e.npy does not exist"):
            check(out)


def test_rows_and_dimension_must_agree(tmp_path):
    out, _, _ = make(tmp_path)
    rewrite(out, rows=7)
    with pytest.raises(VoicesaeError, match="has 6 rows, the manifest's field 'rows' says 7"):
        manifest.load(out)
    rewrite(out, rows=6, dim=5)
    with pytest.raises(VoicesaeError, match="dimension is 4, the manifest's field 'dim' says 5"):
        manifest.load(out)


def test_nan_row_named(tmp_path):
    out, x, _ = make(tmp_path)
    x[4, 2] = np.inf
    np.save(tmp_path / "e.npy", x)
    rehash(out, "embeddings")
    with pytest.raises(VoicesaeError, match=r"e.npy: row 4, dimension 2 is inf"):
        manifest.load(out)


def test_duplicate_ids_and_missing_embedding(tmp_path):
    out, _, meta = make(tmp_path, emb_fmt="nemo_pkl")
    meta.loc[3, "id"] = "s1"
    meta.to_csv(tmp_path / "m.csv", index=False)
    rehash(out, "metadata")
    with pytest.raises(VoicesaeError, match=r"m.csv: row 4, field 'id': duplicate id 's1'"):
        manifest.load(out)
    meta.loc[3, "id"] = "ghost"
    meta.to_csv(tmp_path / "m.csv", index=False)
    rehash(out, "metadata")
    with pytest.raises(VoicesaeError, match=r"m.csv: row 4, field 'id': id 'ghost' has no embedding in .*e.pkl"):
        manifest.load(out)


@pytest.mark.parametrize("column, value, message", [
    ("split", "dev", r"row 3, field 'split': unknown value 'dev' \(allowed: \['train', 'test'\]\)"),
    ("language", "fr", r"row 3, field 'language': unknown value 'fr'"),
    ("is_music", 2, r"row 3, field 'is_music': unknown value"),
])
def test_unknown_label_values(tmp_path, column, value, message):
    out, _, meta = make(tmp_path)
    meta.loc[2, column] = value
    meta.to_csv(tmp_path / "m.csv", index=False)
    rehash(out, "metadata")
    with pytest.raises(VoicesaeError, match=message):
        manifest.load(out)


def test_bad_manifest_files(tmp_path):
    out, _, meta = make(tmp_path)
    good = out.read_text()
    out.write_text("{oops")
    with pytest.raises(VoicesaeError, match="data.json: not valid JSON"):
        manifest.load(out)
    m = json.loads(good)
    del m["rows"]
    out.write_text(json.dumps(m))
    with pytest.raises(VoicesaeError, match=r"data.json: field '\(top level\)': 'rows' is a required property"):
        manifest.load(out)
    m = json.loads(good)
    m["embeddings"]["format"] = "hdf5"
    out.write_text(json.dumps(m))
    with pytest.raises(VoicesaeError, match=r"field 'embeddings.format': 'hdf5' is not one of"):
        manifest.load(out)
    out.write_text(good)
    meta["mystery"] = 1
    meta.to_csv(tmp_path / "m.csv", index=False)
    rehash(out, "metadata")
    with pytest.raises(VoicesaeError, match=r"field 'columns' does not say what metadata column\(s\) \['mystery'\] mean"):
        manifest.load(out)


def test_pickle_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    with open(tmp_path / "e.pkl", "wb") as f:
        pickle.dump({"a": Evil()}, f)
    with pytest.raises(VoicesaeError, match="refusing to load builtins.print"):
        manifest.read_embeddings(tmp_path / "e.pkl", "nemo_pkl")


def test_invalid_manifest_is_never_written(tmp_path):
    out, x, meta = make(tmp_path)
    before = out.read_text()
    meta.loc[0, "split"] = "holdout"
    meta.to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(VoicesaeError, match="unknown value 'holdout'"):
        manifest.write_manifest(out, tmp_path / "e.npy", tmp_path / "m.csv", name="t")
    assert out.read_text() == before and not list(tmp_path.glob("*.tmp"))


def test_readme_worked_example(tmp_path):
    """README: from an .npy and a CSV to a validated manifest in two commands."""
    make(tmp_path)
    py = [sys.executable, "-m", "voicesae_core", "data"]
    r = subprocess.run(py + ["manifest", "--embeddings", "e.npy", "--metadata", "m.csv", "--out", "mine.json",
                             "--name", "mine"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(py + ["validate", "mine.json"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and "mine.json: valid (6 rows, dimension 4)" in r.stdout
    np.save(tmp_path / "e.npy", np.zeros((6, 4), np.float32))
    r = subprocess.run(py + ["validate", "mine.json"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "sha256" in r.stderr
