"""Hostile and careless input, against every subcommand, as a user would type it.

Each case builds a small workspace of good files, spoils one thing, runs the command line (in
process: the same ``main`` the console runs, minus the interpreter start) and asserts:

* exit status 2 and exactly one ``error: ...`` line on stderr, no traceback;
* the line names the culprit (the file, row, field, option or parameter given in the case);
* no input was modified (every file's sha256 before and after);
* nothing partial was left (no new file, beyond the resumable state a case names).

Faults (SIGKILL mid-run, then rerun) are at the end of this file and in tests/sae/test_trainer.py.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import QUICK_STUDY, tone, write_wav
from voicesae_core.__main__ import main


# ------------------------------------------------------------------------------- the workspace

@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """Good files of every kind: embeddings and metadata, a data manifest, three clips and their
    NeMo manifest, a trained SAE (for evaluate) and a study file."""
    from voicesae_core import SAEConfig, TrainConfig, train_grid, write_manifest

    ws = tmp_path_factory.mktemp("pristine")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 8)).astype(np.float32)
    np.save(ws / "e.npy", x)
    pd.DataFrame({"id": [f"r{i}" for i in range(60)], "split": ["train", "test"] * 30,
                  "language": ["en", "es", "en"] * 20}).to_csv(ws / "m.csv", index=False)
    write_manifest(ws / "man.json", ws / "e.npy", ws / "m.csv", name="good")
    for i, name in enumerate(("a", "b", "c")):
        write_wav(ws / f"{name}.wav", tone(1.5, freq=150.0 + 60 * i, seed=i))
    rows = [{"audio_filepath": f"{n}.wav", "duration": 1.5, "label": f"spk{i}", "split": "train"}
            for i, n in enumerate("abc")]
    (ws / "rec.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    train_grid(x, [SAEConfig(8, 2)], TrainConfig(epochs=1, batch_size=30), out_dir=ws / "grid", quiet=True)
    from voicesae_core.report import study
    quick = study.load(QUICK_STUDY)
    quick.sources = str(QUICK_STUDY.parents[1])  # absolute paths: the workspace is copied for each case
    quick.datasets = {role: str(quick.manifest_path(role)) for role in quick.datasets}
    others = quick.chapters.universality.models
    quick.chapters.universality.models = {m: {role: str(quick.other_manifest_path(m, role)) for role in others[m]}
                                          for m in others}
    quick.write(ws / "study.yml")
    return ws


@pytest.fixture()
def ws(pristine, tmp_path) -> Path:
    """A fresh copy of the workspace for one case (a case may spoil files)."""
    return Path(shutil.copytree(pristine, tmp_path / "ws"))


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def cli(*argv: str) -> tuple[int, str, str]:
    """Run the command line in process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse
            code = e.code
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------------------- spoilers

def npy(name, array):
    return lambda ws: np.save(ws / name, array)


def raw(name, data: bytes | str):
    def write(ws):
        (ws / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    return write


def csv_rows(name, text):
    return raw(name, text)


def nemo(name, *lines):
    return raw(name, "".join(line + "\n" for line in lines))


def edit_json(name, change):
    def write(ws):
        d = json.loads((ws / name).read_text())
        change(d)
        (ws / name).write_text(json.dumps(d))
    return write


def both(*spoilers):
    def write(ws):
        for s in spoilers:
            s(ws)
    return write


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _ones(shape, dtype=np.float32):
    return np.ones(shape, dtype)


def _nan_at(r, c):
    x = np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32)
    x[r, c] = np.nan
    return x


def _forged_header(ws):
    b = (ws / "e.npy").read_bytes().replace(b"(60, 8)", b"(10000000000000, 8)")
    (ws / "huge.npy").write_bytes(b)


def _truncate(ws):
    b = (ws / "e.npy").read_bytes()
    (ws / "short.npy").write_bytes(b[:-100])


def _parquet_no_id(ws):
    pd.DataFrame(np.ones((60, 8), np.float32), columns=[f"d{i}" for i in range(8)]).to_parquet(ws / "p.parquet")


def _pickle(name, obj):
    def write(ws):
        with open(ws / name, "wb") as f:
            pickle.dump(obj, f)
    return write


def _cfg(change):
    return edit_json("grid/models/L8_k2_topk_s0/cfg.json", change)


def _truncate_model(ws):
    p = ws / "grid/models/L8_k2_topk_s0/model.safetensors"
    p.write_bytes(p.read_bytes()[:50])


def _nan_weights(ws):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    p = ws / "grid/models/L8_k2_topk_s0/model.safetensors"
    with safe_open(str(p), "pt") as f:
        meta = f.metadata()
    t = load_file(str(p))
    t["W_dec"][0, 0] = float("nan")
    save_file(t, str(p), metadata=meta)


def _parquet_repeated_id(ws):
    ids = [f"r{i}" for i in range(60)]
    ids[6] = "r5"
    pd.DataFrame({"id": ids, "v": list(np.ones((60, 8), np.float32))}).to_parquet(ws / "p.parquet")


def _checkpoint_garbage(ws):
    (ws / "grid/checkpoint.safetensors").write_bytes(b"not a checkpoint")


# ------------------------------------------------------------------------------- the cases

W = "{ws}"
TG = ["train-grid", "--latent-dims", "8", "--ks", "2", "--epochs", "1", "--batch-size", "30", "--quiet"]
EX = ["audio", "extract", "{ws}/rec.json", "--out", "{ws}/emb", "--quiet"]
MAN = ["data", "manifest", "--embeddings", "{ws}/e.npy", "--metadata", "{ws}/m.csv", "--out", "{ws}/new.json"]

CASES = [
    # category, id, spoil, argv, culprits (each must be in the error line), leftovers allowed
    # -- embeddings (.npy, .parquet, NeMo .pkl)
    ("embeddings", "npy-1d", npy("x.npy", _ones(5)), [*TG, "{ws}/x.npy", "--out", "{ws}/g"], ["x.npy", "2-D"]),
    ("embeddings", "npy-3d", npy("x.npy", _ones((4, 3, 2))), [*TG, "{ws}/x.npy", "--out", "{ws}/g"], ["x.npy", "(4, 3, 2)"]),
    ("embeddings", "npy-zero-rows", npy("x.npy", _ones((0, 8))), [*TG, "{ws}/x.npy", "--out", "{ws}/g"], ["x.npy", "empty"]),
    ("embeddings", "npy-zero-cols", npy("x.npy", _ones((5, 0))), [*TG, "{ws}/x.npy", "--out", "{ws}/g"], ["x.npy", "empty"]),
    ("embeddings", "npy-nan", npy("x.npy", _nan_at(7, 3)), [*TG, "{ws}/x.npy", "--out", "{ws}/g"], ["row 7, dimension 3"]),
    ("embeddings", "npy-inf", npy("x.npy", _nan_at(2, 1) * 0 + np.float32(np.inf)), [*TG, "{ws}/x.npy", "--out", "{ws}/g"],
     ["row 0, dimension 0"]),
    ("embeddings", "npy-object", npy("x.npy", np.array([[1, "a"]], dtype=object)), [*TG, "{ws}/x.npy", "--out", "{ws}/g"],
     ["x.npy", "object"]),
    ("embeddings", "npy-complex", npy("x.npy", _ones((60, 8), complex)), [*TG, "{ws}/x.npy", "--out", "{ws}/g"],
     ["x.npy", "complex"]),
    ("embeddings", "npy-text-dtype", npy("x.npy", np.full((3, 2), "a")), [*TG, "{ws}/x.npy", "--out", "{ws}/g"],
     ["x.npy", "<U1"]),
    ("embeddings", "npy-truncated", _truncate, [*TG, "{ws}/short.npy", "--out", "{ws}/g"], ["short.npy", "truncated"]),
    ("embeddings", "npy-forged-shape", _forged_header, [*TG, "{ws}/huge.npy", "--out", "{ws}/g"],
     ["huge.npy", "10000000000000"]),
    ("embeddings", "npy-is-text", raw("x.npy", "hello"), [*TG, "{ws}/x.npy", "--out", "{ws}/g"], ["x.npy", "not a .npy"]),
    ("embeddings", "npy-empty-file", raw("x.npy", b""), [*TG, "{ws}/x.npy", "--out", "{ws}/g"], ["x.npy", "not a .npy"]),
    ("embeddings", "npy-is-folder", lambda ws: (ws / "x.npy").mkdir(), [*TG, "{ws}/x.npy", "--out", "{ws}/g"],
     ["x.npy", "folder"]),
    ("embeddings", "npy-missing", None, [*TG, "{ws}/nope.npy", "--out", "{ws}/g"], ["nope.npy", "no such file"]),
    ("embeddings", "not-npy-suffix", raw("x.txt", "1 2"), [*TG, "{ws}/x.txt", "--out", "{ws}/g"], ["x.txt", ".npy"]),
    ("embeddings", "constant-rows", npy("x.npy", _ones((60, 8))), [*TG, "{ws}/x.npy", "--out", "{ws}/g"],
     ["training data", "all 60 rows are the same"]),
    ("embeddings", "one-row", npy("x.npy", _nan_at(0, 0)[1:2]), [*TG, "{ws}/x.npy", "--out", "{ws}/g"],
     ["training data", "one row"]),
    ("embeddings", "eval-dim-mismatch", npy("x.npy", _ones((5, 4))),
     [*TG, "{ws}/e.npy", "--eval-data", "{ws}/x.npy", "--out", "{ws}/g"], ["evaluation data", "dimension 4"]),
    ("embeddings", "npy-in-manifest-3d", npy("x.npy", _ones((60, 2, 4))), [*MAN[:3], "{ws}/x.npy", *MAN[4:]],
     ["x.npy", "2-D"]),
    ("embeddings", "parquet-no-id", _parquet_no_id, [*MAN[:3], "{ws}/p.parquet", *MAN[4:]], ["p.parquet", "'id'"]),
    ("embeddings", "pkl-payload", _pickle("x.pkl", {"a": _Payload()}), [*MAN[:3], "{ws}/x.pkl", *MAN[4:]],
     ["x.pkl", "posix.system" if os.name == "posix" else "system"]),
    ("embeddings", "pkl-ragged", _pickle("x.pkl", {"a": np.ones(8), "b": np.ones(4)}), [*MAN[:3], "{ws}/x.pkl", *MAN[4:]],
     ["x.pkl", "'b'", "dimension 4"]),
    ("embeddings", "pkl-not-dict", _pickle("x.pkl", [np.ones(8)]), [*MAN[:3], "{ws}/x.pkl", *MAN[4:]], ["x.pkl", "dict"]),
    ("embeddings", "unknown-suffix", raw("x.h5", b"\x89HDF"), [*MAN[:3], "{ws}/x.h5", *MAN[4:]], ["x.h5", ".h5"]),
    ("embeddings", "npy-trailing-bytes", lambda ws: (ws / "x.npy").write_bytes((ws / "e.npy").read_bytes() + b"junk"),
     [*TG, "{ws}/x.npy", "--out", "{ws}/g"], ["x.npy", "trailing bytes"]),
    ("embeddings", "npy-float64-overflow", npy("x.npy", np.full((60, 8), 1e300)), [*TG, "{ws}/x.npy", "--out", "{ws}/g"],
     ["row 0, dimension 0 is inf"]),
    ("embeddings", "parquet-repeated-id", _parquet_repeated_id, [*MAN[:3], "{ws}/p.parquet", *MAN[4:]],
     ["p.parquet", "row 7", "'r5'"]),
    ("embeddings", "latent-dims-too-big", None, [*TG[:2], "1000000000000", *TG[3:], "{ws}/e.npy", "--out", "{ws}/g"],
     ["GiB", "latent_dim 1,000,000,000,000"]),
    # -- metadata (.csv, .jsonl)
    ("metadata", "no-id-column", csv_rows("b.csv", "name,split\n" + "x,train\n" * 60), [*MAN[:5], "{ws}/b.csv", *MAN[6:]],
     ["b.csv", "no 'id' column"]),
    ("metadata", "header-only", csv_rows("b.csv", "id,split\n"), [*MAN[:5], "{ws}/b.csv", *MAN[6:]],
     ["b.csv", "has 0 rows"]),
    ("metadata", "duplicate-id", csv_rows("b.csv", "id\n" + "".join(f"r{min(i, 58)}\n" for i in range(60))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "row 60", "'id'", "duplicate"]),
    ("metadata", "row-count", csv_rows("b.csv", "id\n" + "".join(f"r{i}\n" for i in range(59))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "59 rows"]),
    ("metadata", "not-utf8", csv_rows("b.csv", b"id,language\n" + b"".join(b"r%d,\xe9s\n" % i for i in range(60))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "cannot read"]),
    ("metadata", "split-value", csv_rows("b.csv", "id,split\n" + "".join(f"r{i},{'Train' if i == 4 else 'test'}\n"
                                                                          for i in range(60))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "row 5", "'split'", "'Train'"]),
    ("metadata", "is-music-value", csv_rows("b.csv", "id,is_music\n" + "".join(f"r{i},{2 if i == 9 else 0}\n"
                                                                              for i in range(60))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "row 10", "'is_music'"]),
    ("metadata", "undocumented-column", csv_rows("b.csv", "id,mood\n" + "".join(f"r{i},ok\n" for i in range(60))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "'mood'", "--column"]),
    ("metadata", "jsonl-broken", raw("b.jsonl", '{"id": "r0"}\n{oops\n'), [*MAN[:5], "{ws}/b.jsonl", *MAN[6:]],
     ["b.jsonl", "cannot read"]),
    ("metadata", "unknown-suffix", raw("b.xlsx", b"PK"), [*MAN[:5], "{ws}/b.xlsx", *MAN[6:]], ["b.xlsx", ".xlsx"]),
    ("metadata", "empty-id", csv_rows("b.csv", "id,split\n" + "".join(f"{'' if i == 3 else f'r{i}'},train\n"
                                                                     for i in range(60))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "row 4", "'id'", "empty"]),
    ("metadata", "empty-split", csv_rows("b.csv", "id,split\n" + "".join(f"r{i},{'' if i == 8 else 'test'}\n"
                                                                        for i in range(60))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "row 9", "'split'", "empty"]),
    ("metadata", "jsonl-nan-label", raw("b.jsonl", "".join(json.dumps({"id": f"r{i}", "language": "en"}) + "\n"
                                                           for i in range(59)) + '{"id": "r59", "language": NaN}\n'),
     [*MAN[:5], "{ws}/b.jsonl", *MAN[6:]], ["b.jsonl", "row 60", "'language'"]),
    ("metadata", "jsonl-one-array", raw("b.jsonl", json.dumps([{"id": f"r{i}"} for i in range(60)])),
     [*MAN[:5], "{ws}/b.jsonl", *MAN[6:]], ["b.jsonl", "row 1", "not a JSON object"]),
    ("metadata", "header-repeated", csv_rows("b.csv", "id,split,split\n" + "".join(f"r{i},train,test\n" for i in range(60))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "header", "'split'"]),
    ("metadata", "extra-field", csv_rows("b.csv", "id\n" + "".join(f"r{i}\n" for i in range(30)) + "r30,x\n"
                                         + "".join(f"r{i}\n" for i in range(31, 60))),
     [*MAN[:5], "{ws}/b.csv", *MAN[6:]], ["b.csv", "line 32"]),
    ("metadata", "column-not-there", None, [*MAN, "--column", "mood=how they felt"], ["--column mood", "no column 'mood'"]),
    ("metadata", "name-empty", None, [*MAN, "--name", " "], ["name", "empty"]),
    ("metadata", "column-option", None, [*MAN, "--column", "mood"], ["--column", "NAME=MEANING"]),
    # -- data manifests
    ("manifest", "not-json", raw("man.json", "{oops"), ["data", "validate", "{ws}/man.json"], ["man.json", "not valid JSON"]),
    ("manifest", "missing-field", edit_json("man.json", lambda d: d.pop("dim")), ["data", "validate", "{ws}/man.json"],
     ["man.json", "'dim'"]),
    ("manifest", "wrong-type", edit_json("man.json", lambda d: d.update(rows="sixty")), ["data", "validate", "{ws}/man.json"],
     ["man.json", "'rows'"]),
    ("manifest", "file-changed", npy("e.npy", _ones((60, 8)) * 2), ["data", "validate", "{ws}/man.json"],
     ["e.npy", "sha256", "stale"]),
    ("manifest", "file-missing", lambda ws: (ws / "m.csv").unlink(), ["data", "validate", "{ws}/man.json"],
     ["man.json", "'metadata.path'", "does not exist"]),
    ("manifest", "dim-disagrees", edit_json("man.json", lambda d: d.update(dim=9)), ["data", "validate", "{ws}/man.json"],
     ["e.npy", "'dim' says 9"]),
    ("manifest", "out-is-embeddings", None, [*MAN[:7], "{ws}/e.npy"], ["--out", "e.npy", "destroy"]),
    ("manifest", "out-is-metadata", None, [*MAN[:7], "{ws}/m.csv"], ["--out", "m.csv", "destroy"]),
    ("manifest", "out-is-someone-elses", raw("notes.json", '{"mine": 1}'), [*MAN[:7], "{ws}/notes.json"],
     ["--out", "notes.json", "not a file this command wrote"]),
    ("manifest", "out-is-folder", lambda ws: (ws / "d.json").mkdir(), [*MAN[:7], "{ws}/d.json"], ["--out", "d.json", "folder"]),
    # -- NeMo manifests
    ("nemo", "nan-duration", nemo("n.json", '{"audio_filepath": "a.wav", "duration": NaN}'),
     ["audio", "segment", "{ws}/n.json", "--out", "{ws}/s.json"], ["n.json", "row 1", "'duration'", "nan"]),
    ("nemo", "infinity-offset", nemo("n.json", '{"audio_filepath": "a.wav"}', '{"audio_filepath": "b.wav", "offset": Infinity}'),
     [*EX[:2], "{ws}/n.json", *EX[3:]], ["n.json", "row 2", "'offset'", "inf"]),
    ("nemo", "nan-label", nemo("n.json", '{"audio_filepath": "a.wav", "language": NaN}'),
     ["data", "nemo-metadata", "{ws}/n.json", "--out", "{ws}/md.csv"], ["n.json", "row 1", "'language'"]),
    ("nemo", "not-utf8", raw("n.json", b'{"audio_filepath": "a.wav"}\n{"audio_filepath": "\xff.wav"}\n'),
     [*EX[:2], "{ws}/n.json", *EX[3:]], ["n.json", "row 2", "UTF-8"]),
    ("nemo", "negative-duration", nemo("n.json", '{"audio_filepath": "a.wav", "duration": -1}'),
     [*EX[:2], "{ws}/n.json", *EX[3:]], ["n.json", "row 1", "'duration'"]),
    ("nemo", "string-offset", nemo("n.json", '{"audio_filepath": "a.wav", "offset": "0"}'),
     ["audio", "segment", "{ws}/n.json", "--out", "{ws}/s.json"], ["n.json", "row 1", "'offset'"]),
    ("nemo", "no-audio-field", nemo("n.json", '{"path": "a.wav"}'), [*EX[:2], "{ws}/n.json", *EX[3:]],
     ["n.json", "row 1", "'audio_filepath'"]),
    ("nemo", "json-array", nemo("n.json", '[{"audio_filepath": "a.wav"}]'), [*EX[:2], "{ws}/n.json", *EX[3:]],
     ["n.json", "row 1", "not a JSON object"]),
    ("nemo", "broken-line", nemo("n.json", '{"audio_filepath": "a.wav"}', "", '{"audio_filepath": '),
     [*EX[:2], "{ws}/n.json", *EX[3:]], ["n.json", "row 3"]),
    ("nemo", "empty", raw("n.json", "\n\n"), [*EX[:2], "{ws}/n.json", *EX[3:]], ["n.json", "no rows"]),
    ("nemo", "missing", None, [*EX[:2], "{ws}/nope.json", *EX[3:]], ["nope.json", "not found"]),
    ("nemo", "split-value-before-embedding",
     nemo("n.json", *[f'{{"audio_filepath": "{c}.wav", "split": "{s}"}}' for c, s in zip("abc", ["train", "test", "Train"])]),
     [*EX[:2], "{ws}/n.json", *EX[3:]], ["n.json", "row 3", "'split'", "'Train'"]),
    ("nemo", "duplicate-id", nemo("n.json", '{"audio_filepath": "a.wav", "id": "x"}', '{"audio_filepath": "b.wav", "id": "x"}'),
     [*EX[:2], "{ws}/n.json", *EX[3:]], ["n.json", "row 2", "'id'", "repeats row 1"]),
    ("nemo", "duplicate-pkl-key", nemo("n.json", '{"audio_filepath": "a.wav", "offset": 0}', '{"audio_filepath": "a.wav", "offset": 1}'),
     ["data", "nemo-metadata", "{ws}/n.json", "--out", "{ws}/md.csv"], ["n.json", "row 2", "'audio_filepath'"]),
    ("nemo", "list-label", nemo("n.json", '{"audio_filepath": "a.wav", "label": ["x"]}'),
     ["data", "nemo-metadata", "{ws}/n.json", "--out", "{ws}/md.csv"], ["n.json", "row 1", "'label'", "list"]),
    ("nemo", "metadata-out-is-any-csv", raw("precious.csv", "a,b\n1,2\n"),
     ["data", "nemo-metadata", "{ws}/rec.json", "--out", "{ws}/precious.csv"], ["--out", "precious.csv", "refusing"]),
    ("nemo", "segment-out-is-input", None, ["audio", "segment", "{ws}/rec.json", "--out", "{ws}/rec.json"],
     ["--out", "rec.json", "destroy"]),
    ("nemo", "segment-out-is-audio", None, ["audio", "segment", "{ws}/rec.json", "--out", "{ws}/a.wav"],
     ["--out", "a.wav", "destroy"]),
    ("nemo", "metadata-out-is-input", None, ["data", "nemo-metadata", "{ws}/rec.json", "--out", "{ws}/rec.json"],
     ["--out", "rec.json", "destroy"]),
    ("nemo", "metadata-out-someone-elses", raw("notes.txt", "keep me"),
     ["data", "nemo-metadata", "{ws}/rec.json", "--out", "{ws}/notes.txt"], ["--out", "notes.txt", "refusing"]),
    # -- audio and extraction options
    ("audio", "max-len-inf", None, ["audio", "segment", "{ws}/rec.json", "--out", "{ws}/s.json", "--max-len", "inf"],
     ["--max-len", "'inf'"]),
    ("audio", "min-len-zero", None, ["audio", "segment", "{ws}/rec.json", "--out", "{ws}/s.json", "--min-len", "0"],
     ["--min-len"]),
    ("audio", "min-over-half-max", None,
     ["audio", "segment", "{ws}/rec.json", "--out", "{ws}/s.json", "--min-len", "5", "--max-len", "8"], ["min_len", "max_len"]),
    ("audio", "no-segment", None, ["audio", "segment", "{ws}/rec.json", "--out", "{ws}/s.json", "--quiet"],
     ["rec.json", "no recording gave a segment"]),
    ("audio", "demo-out-is-file", None, ["audio", "demo", "--out", "{ws}/e.npy", "--quiet"], ["--out", "e.npy", "existing file"]),
    ("audio", "extract-out-unwritable", None, [*EX[:4], "/proc/voicesae-out", "--quiet"], ["--out", "not writable"]),
    ("audio", "extract-out-is-file", None, [*EX[:4], "{ws}/e.npy", "--quiet"], ["--out", "e.npy", "existing file"]),
    ("audio", "extract-out-holds-input", None, [*EX[:4], "{ws}", "--quiet"], ["--out", "holds the input"]),
    ("audio", "device-cuda-absent", None, [*EX, "--device", "cuda"], ["device cuda", "no CUDA"]),
    ("audio", "device-bogus", None, [*EX, "--device", "gpu"], ["device 'gpu'", "cpu"]),
    ("audio", "batch-size-zero", None, [*EX, "--batch-size", "0"], ["--batch-size"]),
    ("audio", "min-duration-negative", None, [*EX, "--min-duration", "-1"], ["--min-duration"]),
    ("audio", "min-duration-nan", None, [*EX, "--min-duration", "nan"], ["--min-duration"]),
    ("audio", "normalization-nemo-one-row", nemo("one.json", '{"audio_filepath": "a.wav"}'),
     [*EX[:2], "{ws}/one.json", *EX[3:], "--normalization", "nemo"], ["one.json", "row 1", "normalization 'nemo'"],
     ["emb/extraction.json", "emb/parts/part-00000.npz"]),
    ("audio", "normalization-nemo-same-clip",
     nemo("two.json", '{"audio_filepath": "a.wav", "id": "x"}', '{"audio_filepath": "a.wav", "id": "y"}'),
     [*EX[:2], "{ws}/two.json", *EX[3:], "--normalization", "nemo"], ["two.json", "normalization 'nemo'"],
     ["emb/extraction.json", "emb/parts/part-00000.npz"]),
    ("audio", "nothing-embeddable", nemo("n.json", '{"audio_filepath": "gone.wav"}'), [*EX[:2], "{ws}/n.json", *EX[3:]],
     ["n.json", "no row could be embedded", "skipped.csv"], ["emb/extraction.json", "emb/skipped.csv"]),
    ("audio", "model-not-nemo", raw("m.nemo", "not a tar"), [*EX, "--model", "{ws}/m.nemo"], ["m.nemo"]),
    ("audio", "model-missing", None, [*EX, "--model", "{ws}/gone.nemo"], ["gone.nemo", "not found"]),
    ("audio", "model-unknown-random", None, [*EX, "--model", "random:titanet-huge"], ["random:titanet-huge"]),
    # -- saved models and checkpoints
    ("models", "no-cfg", lambda ws: (ws / "grid/models/L8_k2_topk_s0/cfg.json").unlink(),
     ["evaluate", "{ws}/grid/models/L8_k2_topk_s0", "{ws}/e.npy"], ["cfg.json"]),
    ("models", "cfg-not-json", raw("grid/models/L8_k2_topk_s0/cfg.json", "{"),
     ["evaluate", "{ws}/grid/models/L8_k2_topk_s0", "{ws}/e.npy"], ["cfg.json", "not valid JSON"]),
    ("models", "cfg-wrong-type", _cfg(lambda d: d.update(k="two")),
     ["evaluate", "{ws}/grid/models/L8_k2_topk_s0", "{ws}/e.npy"], ["cfg.json"]),
    ("models", "weights-truncated", _truncate_model, ["evaluate", "{ws}/grid/models/L8_k2_topk_s0", "{ws}/e.npy"],
     ["model.safetensors"]),
    ("models", "data-dim-mismatch", npy("x.npy", _ones((5, 16))), ["evaluate", "{ws}/grid/models/L8_k2_topk_s0", "{ws}/x.npy"],
     ["L8_k2_topk_s0", "dimension 16", "takes 8"]),
    ("models", "weights-nan", _nan_weights, ["evaluate", "{ws}/grid/models/L8_k2_topk_s0", "{ws}/e.npy"],
     ["model.safetensors", "'W_dec'", "NaN"]),
    ("models", "evaluate-constant-data", npy("x.npy", _ones((9, 8))),
     ["evaluate", "{ws}/grid/models/L8_k2_topk_s0", "{ws}/x.npy"], ["evaluation data", "variance 0"]),
    ("models", "checkpoint-garbage", _checkpoint_garbage, [*TG, "{ws}/e.npy", "--out", "{ws}/grid"],
     ["checkpoint.safetensors", "corrupt"]),
    ("models", "checkpoint-other-settings", None, [*TG[:4], "4", *TG[5:], "{ws}/e.npy", "--out", "{ws}/grid"],
     ["checkpoint.safetensors", "different configs"]),
    ("models", "out-is-file", None, [*TG, "{ws}/e.npy", "--out", "{ws}/m.csv"], ["--out", "m.csv", "existing file"]),
    ("models", "out-is-data", None, [*TG, "{ws}/e.npy", "--out", "{ws}/e.npy"], ["--out", "e.npy", "destroy"]),
    # -- options
    ("options", "epochs-zero", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--epochs", "0"], ["--epochs"]),
    ("options", "batch-negative", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--batch-size", "-5"], ["--batch-size"]),
    ("options", "latent-zero", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--latent-dims", "0"], ["--latent-dims"]),
    ("options", "ks-words", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--ks", "two"], ["--ks", "'two'"]),
    ("options", "k-over-latent", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--ks", "20"], ["K=20", "latent_dim=8"]),
    ("options", "activation-unknown", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--activations", "gelu"], ["gelu"]),
    ("options", "checkpoint-every-zero", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--checkpoint-every", "0"],
     ["--checkpoint-every"]),
    ("options", "seed-negative", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--seeds", "-1"], ["--seeds"]),
    ("options", "device-cuda-absent", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--device", "cuda:0"], ["cuda:0", "no CUDA"]),
    ("options", "scale-nan", None, ["data", "generate", "--scale", "nan", "--data-dir", "{ws}/d", "--manifest-dir", "{ws}/d"],
     ["--scale"]),
    ("options", "scale-zero", None, ["data", "generate", "--scale", "0", "--data-dir", "{ws}/d", "--manifest-dir", "{ws}/d"],
     ["--scale"]),
    ("options", "data-dir-is-file", None,
     ["data", "generate", "--scale", "0.001", "--data-dir", "{ws}/m.csv", "--manifest-dir", "{ws}/d", "--quiet"],
     ["--data-dir", "m.csv", "existing file"]),
    ("options", "abbreviated-option", None, [*TG, "{ws}/e.npy", "--out", "{ws}/g", "--epoch", "3"], ["--epoch"]),
    # -- study files and notebook parameters
    ("study", "yaml-broken", raw("s.yml", "name: [unclosed\n"), ["study", "check", "{ws}/s.yml"], ["s.yml", "not valid YAML"]),
    ("study", "not-utf8", raw("s.yml", b"name: caf\xe9\n"), ["study", "check", "{ws}/s.yml"], ["s.yml", "UTF-8"]),
    ("study", "not-a-mapping", raw("s.yml", "- a\n- b\n"), ["study", "check", "{ws}/s.yml"], ["s.yml", "mapping"]),
    ("study", "unknown-key", lambda ws: (ws / "s.yml").write_text((ws / "study.yml").read_text() + "gird: {}\n"),
     ["study", "check", "{ws}/s.yml"], ["s.yml", "gird"]),
    ("study", "wrong-type", None, ["study", "check", "{ws}/study.yml", "-p", "grid.ks", '["five"]'], ["grid.ks"]),
    ("study", "missing", None, ["study", "check", "{ws}/nope.yml"], ["nope.yml", "no such study"]),
    ("study", "parameter-unknown", None, ["study", "check", "{ws}/study.yml", "-p", "bootstrapp", "3"], ["'bootstrapp'"]),
    ("study", "notebooks-only-unknown", None,
     ["notebooks", "--study", "{ws}/study.yml", "--output-dir", "{ws}/o", "--only", "03_identificaton", "--quiet"],
     ["--only", "03_identificaton"]),
    ("study", "output-dir-is-file", None, ["notebooks", "--study", "{ws}/study.yml", "--output-dir", "{ws}/e.npy", "--quiet"],
     ["e.npy", "existing file"]),
    ("study", "device-absent", None,
     ["notebooks", "--study", "{ws}/study.yml", "--output-dir", "{ws}/o", "-p", "device", "cuda", "--quiet"],
     ["study.yml: device cuda", "no CUDA"]),
    ("study", "duplicate-key", lambda ws: (ws / "s.yml").write_text((ws / "study.yml").read_text() + "device: cpu\n"),
     ["study", "check", "{ws}/s.yml"], ["s.yml", "'device' given twice"]),
    ("study", "a-phi-nan", None, ["study", "check", "{ws}/study.yml", "-p", "a_phi", "NaN"], ["a_phi", "finite"]),
    ("study", "bootstrap-negative", None, ["study", "check", "{ws}/study.yml", "-p", "bootstrap", "-1"],
     ["bootstrap", "non-negative"]),
    ("study", "share-over-one", None, ["study", "check", "{ws}/study.yml", "-p", "p_target", "2"], ["p_target", "between 0 and 1"]),
    ("study", "single-not-in-grid", None, ["study", "check", "{ws}/study.yml", "-p", "single.k", "1000"],
     ["single", "not a model of the grid"]),
    ("study", "k-over-latent", None, ["study", "check", "{ws}/study.yml", "-p", "grid.ks", "[5, 20, 500]"], ["grid.ks", "500"]),
    ("study", "grid-repeats", None, ["study", "check", "{ws}/study.yml", "-p", "grid.seeds", "[0, 0]"], ["grid.seeds", "[0]"]),
    ("study", "name-path", None, ["study", "check", "{ws}/study.yml", "-p", "name", "../../evil"], ["name", "'../../evil'"]),
    ("study", "sources-missing", None, ["study", "check", "{ws}/study.yml", "-p", "sources", "/nonexistent"],
     ["sources", "/nonexistent"]),
    ("study", "dataset-missing", None, ["study", "check", "{ws}/study.yml", "-p", "datasets.language", "{ws}/nope.json"],
     ["nope.json"]),
    ("study", "dataset-is-npy", None, ["study", "check", "{ws}/study.yml", "-p", "datasets.language", "{ws}/e.npy"],
     ["e.npy", "not valid JSON"]),
    ("study", "feature-column-missing", None,
     ["study", "check", "{ws}/study.yml", "-p", "features.language.column", "nosuchcol"], ["features.language.column", "'nosuchcol'"]),
    ("study", "feature-value-missing", None,
     ["study", "check", "{ws}/study.yml", "-p", "features.language.positive", "klingon"], ["features.language.positive", "'klingon'"]),
    ("study", "init-out-is-training-manifest", None,
     ["study", "init", "--out", "{ws}/man.json", "--train", "{ws}/man.json", "--force"], ["--out", "man.json", "destroy"]),
    ("study", "init-out-is-embeddings", None,
     ["study", "init", "--out", "{ws}/e.npy", "--train", "{ws}/man.json", "--force"], ["--out", "e.npy", "destroy"]),
    ("study", "init-out-is-folder", None, ["study", "init", "--out", "{ws}/grid", "--train", "{ws}/man.json", "--force"],
     ["--out", "grid", "folder"]),
    ("study", "init-out-under-file", None, ["study", "init", "--out", "{ws}/e.npy/s.yml", "--train", "{ws}/man.json"],
     ["--out", "is a file, not a folder"]),
    ("study", "init-out-exists", None, ["study", "init", "--out", "{ws}/study.yml", "--train", "{ws}/man.json"],
     ["study.yml", "--force"]),
    ("study", "init-train-missing", None, ["study", "init", "--out", "{ws}/new.yml", "--train", "{ws}/nope.json"],
     ["nope.json"]),
]


@pytest.mark.parametrize("category,name,spoil,argv,culprits,leftovers",
                         [(*c, *([[]] if len(c) == 5 else [])) for c in CASES],
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_bad_input_is_one_line_naming_the_culprit_and_changes_nothing(ws, category, name, spoil, argv, culprits,
                                                                       leftovers):
    if spoil is not None:
        spoil(ws)
    before = snapshot(ws)
    code, _, err = cli(*(a.replace(W, str(ws)) for a in argv))
    after = snapshot(ws)
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and len(lines) == 1, err  # one line: no traceback, no library chatter
    for culprit in culprits:
        assert culprit in errors[0], f"{culprit!r} not named in: {errors[0]}"
    changed = [f for f in before if after.get(f) != before[f]]
    assert not changed, f"inputs modified: {changed}"
    assert sorted(set(after) - set(before)) == sorted(leftovers), "files left behind"
    assert not (ws / "PWNED").exists()


def test_the_suite_covers_every_kind_of_input():
    counts = pd.Series([c[0] for c in CASES]).value_counts()
    assert len(CASES) >= 60 and set(counts.index) == {"embeddings", "metadata", "manifest", "nemo", "audio", "models",
                                                      "options", "study"}


# ------------------------------------------------------------------------------- faults

def _kill_when(proc: subprocess.Popen, ready, delay: float, limit: float = 180) -> None:
    """SIGKILL ``proc``'s whole process group (a notebook's kernel too) ``delay`` s after ``ready()``."""
    deadline = time.time() + limit
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _leftovers(root: Path) -> list[str]:
    """Temporary files of an interrupted atomic write (``.<name>.<random>.tmp`` and kin)."""
    return [str(p) for p in root.rglob(".*") if p.is_file() and ".tmp" in p.name]


EXTRACT = """
import sys
from voicesae_core.audio import extract
extract.extract(sys.argv[1], sys.argv[2], "random:titanet-small", batch_size=2, flush_every=2, quiet=True)
"""


def test_extraction_killed_at_a_random_point_then_rerun_equals_an_uninterrupted_one(tmp_path):
    import random

    from voicesae_core.audio import extract
    from voicesae_core.data import manifest

    rows = []
    for i in range(14):
        write_wav(tmp_path / f"c{i}.wav", tone(1.0 + 0.1 * i, freq=120.0 + 25 * i, seed=i))
        rows.append({"audio_filepath": f"c{i}.wav", "split": "train" if i % 3 else "test"})
    nemo_in = tmp_path / "clips.json"
    nemo_in.write_text("".join(json.dumps(r) + "\n" for r in rows))
    delay = random.uniform(0.0, 1.5)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", EXTRACT, str(nemo_in), str(out)], start_new_session=True,
                            stderr=subprocess.DEVNULL)
    _kill_when(proc, lambda: (out / "parts").is_dir(), delay)
    assert proc.returncode == -signal.SIGKILL, f"finished before the kill (delay {delay:.2f} s): make it longer"
    if (out / "manifest.json").exists():  # killed after its last write: then it must be whole and current
        assert len(manifest.load(out / "manifest.json").metadata) == 14, f"delay {delay:.2f} s"

    resumed = extract.extract(nemo_in, out, "random:titanet-small", batch_size=2, quiet=True)
    fresh = extract.extract(nemo_in, tmp_path / "fresh", "random:titanet-small", batch_size=2, quiet=True)
    a, b = manifest.load(resumed.manifest), manifest.load(fresh.manifest)
    pd.testing.assert_frame_equal(a.metadata, b.metadata)
    # batches of other clips around a clip change its float rounding only (masked padding)
    np.testing.assert_allclose(a.embeddings, b.embeddings, rtol=0, atol=1e-5 * np.abs(b.embeddings).max())
    assert resumed.embedded == 14 and not _leftovers(out), f"delay {delay:.2f} s"


def test_a_book_build_killed_while_training_then_rerun_gives_the_grid_of_an_uninterrupted_run(tmp_path):
    """SIGKILL the notebooks pipeline (and its kernel) at a random point of chapter 2's training,
    rerun the same command: the grid resumes from its checkpoint and equals one trained in one go."""
    import random

    import torch

    from conftest import planted
    from voicesae_core import TrainConfig, expand_grid, train_grid, write_manifest
    from voicesae_core.report import study as study_file
    from voicesae_core.sae.trainer import CHECKPOINT, load_grid

    x = planted(400, d=16, n_features=32)
    np.save(tmp_path / "e.npy", x)
    pd.DataFrame({"id": [f"r{i}" for i in range(400)], "split": ["train", "test"] * 200,
                  "language": np.where(x[:, 0] > 0, "es", "en")}).to_csv(tmp_path / "m.csv", index=False)
    write_manifest(tmp_path / "tiny.json", tmp_path / "e.npy", tmp_path / "m.csv", name="tiny")
    assert cli("study", "init", "--out", str(tmp_path / "s.yml"), "--train", str(tmp_path / "tiny.json"),
               "--sources", str(QUICK_STUDY.parents[1]))[0] == 0
    command = [sys.executable, "-m", "voicesae_core", "notebooks", "--study", str(tmp_path / "s.yml"),
               "--output-dir", str(tmp_path / "o"), "--only", "02_train_grid", "--quiet",
               "-p", "grid.latent_dims", "[16, 32]", "-p", "training.steps", "3000"]
    delay = random.uniform(0.0, 2.0)
    proc = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    _kill_when(proc, lambda: (tmp_path / "o" / "grid" / CHECKPOINT).exists(), delay)
    assert proc.returncode == -signal.SIGKILL, f"finished before the kill (delay {delay:.2f} s): make it longer"
    assert not (tmp_path / "o" / "notebooks" / "02_train_grid.ipynb").exists()

    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    s = study_file.load(tmp_path / "o" / "study.yml")
    configs = expand_grid(s.grid.latent_dims, s.grid.ks, [s.grid.activation], s.grid.seeds)
    epochs, batch = s.training.plan(400)
    alone = train_grid(x, configs, TrainConfig(epochs=epochs, batch_size=batch), quiet=True).models
    for resumed, fresh in zip(load_grid(tmp_path / "o" / "grid", configs, x), alone):
        for name in ("W_enc", "W_dec", "b_lat", "b_pre"):
            assert torch.equal(getattr(resumed, name), getattr(fresh, name)), (resumed.cfg.name, name, delay)
    assert not _leftovers(tmp_path / "o"), f"delay {delay:.2f} s"
