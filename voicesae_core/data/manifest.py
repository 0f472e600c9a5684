"""Data manifests: what a dataset of embeddings is, where its files are, and their hashes.

A manifest is a JSON file (schema: ``manifest_schema.json``, also ``data_manifests/schema.json``)
naming an embeddings file (.npy, .parquet, or the .pkl that NeMo's extract_speaker_embeddings
script writes), a metadata table (.csv or .jsonl) joined to it by ``id``, the embedding
dimension, the row count, a sha256 of each file, the provenance and the meaning of every
metadata column. Paths are relative to the manifest's folder.

Every loader goes through ``validate``: a wrong hash, a missing file, a row count or dimension
that disagrees, NaN/inf, a duplicate id, an id with no embedding, an unknown split or label
value -- each raises one VoicesaeError naming the file, row and field.

Metadata columns the analyses use: ``id`` (required), ``speaker``, ``language``, ``gender``,
``is_music`` (0/1) and ``split`` (train/test). Other columns are allowed and kept.
"""
from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd

from ..arrays import read_npy
from ..errors import VoicesaeError
from ..files import atomic_path, check_output, read_json, sha256_file

SCHEMA = json.loads((Path(__file__).with_name("manifest_schema.json")).read_text())
STANDARD_COLUMNS = ("id", "speaker", "language", "gender", "is_music", "split")
FIXED_LABELS = {"split": ["train", "test"], "is_music": [0, 1]}
STANDARD_MEANINGS = {
    "id": "unique segment id, joins the metadata to the embeddings",
    "speaker": "speaker id",
    "language": "spoken language",
    "gender": "perceived gender of the speaker",
    "is_music": "1 for a music-only segment, 0 for speech",
    "split": "train or test (the labelled feature sets' split)",
}


@dataclass
class Dataset:
    """A validated dataset: ``embeddings[i]`` belongs to ``metadata.iloc[i]``."""

    embeddings: np.ndarray
    """(rows, dim) float32."""
    metadata: pd.DataFrame
    """One row per embedding, in the same order; ``id`` first."""
    manifest: dict
    """The manifest as read."""
    path: Path
    """The manifest file."""

    def subset(self, mask) -> "Dataset":
        """The rows where ``mask`` (a bool array or Series) is true."""
        mask = np.asarray(mask, dtype=bool)
        return Dataset(self.embeddings[mask], self.metadata[mask].reset_index(drop=True), self.manifest, self.path)

    def split(self, name: str) -> "Dataset":
        """The rows of split ``name`` (train or test)."""
        require_columns(self, ["split"])
        return self.subset(self.metadata["split"] == name)

    def ground_truth(self) -> dict:
        """The synthetic benchmark's planted truth (directions, names, per-row activations)."""
        from .ground_truth import load_ground_truth
        if "ground_truth" not in self.manifest:
            raise VoicesaeError(f"{self.path}: this dataset has no ground truth (field 'ground_truth' missing)")
        return load_ground_truth(self.path.parent / self.manifest["ground_truth"]["path"])


def require_columns(ds: Dataset, columns) -> None:
    """A clear error if the metadata lacks a column an analysis needs."""
    missing = [c for c in columns if c not in ds.metadata.columns]
    if missing:
        meta = ds.path.parent / ds.manifest["metadata"]["path"]
        raise VoicesaeError(f"{meta}: the metadata has no column(s) {missing}, which this analysis needs "
                            f"(columns present: {list(ds.metadata.columns)})")


# ------------------------------------------------------------------------------- readers

class _NumpyOnly(pickle.Unpickler):
    """Unpickles a NeMo embeddings .pkl (a dict of id -> numpy array) and nothing else."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are accepted")


def read_embeddings(path: Path, fmt: str, columns: list[str] | None = None) -> tuple[list[str] | None, np.ndarray]:
    """(ids or None when positional, (rows, dim) float array) from an embeddings file."""
    try:
        if fmt == "npy":
            return None, read_npy(path)
        if fmt == "nemo_pkl":
            with open(path, "rb") as f:
                d = _NumpyOnly(f).load()
            if not isinstance(d, dict) or not d:
                raise VoicesaeError(f"{path}: expected a non-empty dict of id -> embedding, as NeMo writes")
            ids = [str(k) for k in d]
            rows = [np.asarray(v, dtype=np.float32).reshape(-1) for v in d.values()]
            dims = {len(r) for r in rows}
            if len(dims) != 1:
                bad = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
                raise VoicesaeError(f"{path}: entry {ids[bad]!r} has dimension {len(rows[bad])}, the first has {len(rows[0])}")
            return ids, np.stack(rows)
        if fmt == "parquet":
            df = pd.read_parquet(path)
            if "id" not in df.columns:
                raise VoicesaeError(f"{path}: a parquet of embeddings needs an 'id' column")
            ids = df["id"].astype(str).tolist()
            cols = columns or [c for c in df.columns if c != "id"]
            if len(cols) == 1 and df[cols[0]].dtype == object:  # one list column
                return ids, np.stack([np.asarray(v, dtype=np.float32) for v in df[cols[0]]])
            return ids, df[cols].to_numpy(dtype=np.float32)
    except (ValueError, OSError, pickle.UnpicklingError, EOFError) as e:
        raise VoicesaeError(f"{path}: cannot read as {fmt} ({e})") from None
    raise VoicesaeError(f"{path}: unknown embeddings format {fmt!r}")


def read_metadata(path: Path, fmt: str) -> pd.DataFrame:
    """The metadata table, ``id`` and ``speaker`` as strings (never parsed as numbers)."""
    try:
        if fmt == "csv":
            import csv
            with open(path, encoding="utf-8-sig", newline="") as f:
                header = next(csv.reader(f), [])
            repeated = sorted({c for c in header if header.count(c) > 1})
            if repeated:  # pandas would rename the second one 'split.1' without a word
                raise VoicesaeError(f"{path}: row 0 (the header): column(s) {repeated} appear more than once")
            return pd.read_csv(path, dtype={"id": str, "speaker": str, "language": str, "gender": str, "split": str},
                               keep_default_na=False, encoding="utf-8-sig")
        if fmt == "jsonl":
            with open(path, encoding="utf-8-sig") as f:
                first = next((line for line in f if line.strip()), "")
            if first and not first.lstrip().startswith("{"):
                raise VoicesaeError(f"{path}: row 1: not a JSON object (a .jsonl has one object per line)")
            df = pd.read_json(path, lines=True, dtype={"id": str, "speaker": str}, encoding="utf-8-sig")
            return df.astype({c: str for c in ("id", "speaker") if c in df.columns})
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise VoicesaeError(f"{path}: cannot read as {fmt} ({e})") from None
    raise VoicesaeError(f"{path}: unknown metadata format {fmt!r}")


# ------------------------------------------------------------------------------- validation

def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise VoicesaeError(f"{path}: no such manifest")
    manifest = read_json(path)
    _check_schema(manifest, path)
    return manifest


def _check_schema(manifest, path: Path) -> None:
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(manifest), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.path) or "(top level)"
        raise VoicesaeError(f"{path}: field '{where}': {e.message}")


def _row_error(path: Path, row: int, field: str, message: str) -> VoicesaeError:
    return VoicesaeError(f"{path}: row {row}, field '{field}': {message}")


def check_files(path: str | Path, m: dict | None = None, check_hashes: bool = True) -> dict[str, Path]:
    """The manifest's files ({key: path}), each checked to exist and, with ``check_hashes``, to
    have the sha256 the manifest records. Reads the bytes only; ``load`` also parses them."""
    path = Path(path)
    m = read_manifest(path) if m is None else m
    files = {key: path.parent / m[key]["path"] for key in ("embeddings", "metadata", "ground_truth") if key in m}
    for key, f in files.items():
        if not f.is_file():
            raise VoicesaeError(f"{path}: field '{key}.path': file {f} does not exist")
        if check_hashes:
            digest = sha256_file(f)
            if digest != m[key]["sha256"]:
                raise VoicesaeError(f"{f}: sha256 is {digest}, the manifest {path} says {m[key]['sha256']} "
                                    "(the file changed, or the manifest is stale)")
    return files


def check_dataset(m: dict, path: Path, emb_path: Path, ids, emb: np.ndarray, meta_path: Path,
                  meta: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Check embeddings and metadata against each other and the manifest ``m`` (at ``path``); each
    problem is a VoicesaeError naming the file (the user's own, never a temporary), row and field.
    Returns the embeddings (float32, in metadata order) and the metadata."""
    if emb.ndim != 2:
        raise VoicesaeError(f"{emb_path}: expected a 2-D array (rows x dimensions), got shape {emb.shape}")
    if emb.shape[1] != m["dim"]:
        raise VoicesaeError(f"{emb_path}: dimension is {emb.shape[1]}, the manifest's field 'dim' says {m['dim']}")
    if emb.shape[0] != m["rows"]:
        raise VoicesaeError(f"{emb_path}: has {emb.shape[0]} rows, the manifest's field 'rows' says {m['rows']}")
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow becomes inf, named below
        emb = np.ascontiguousarray(emb, dtype=np.float32)
    finite = np.isfinite(emb)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        name = f"id {ids[row]!r}" if ids is not None else f"row {row}"
        raise VoicesaeError(f"{emb_path}: {name}, dimension {col} is {emb[row, col]} (NaN/inf not allowed)")

    if "id" not in meta.columns:
        raise VoicesaeError(f"{meta_path}: no 'id' column (columns: {list(meta.columns)})")
    check_missing(meta, meta_path)
    if ids is not None and len(set(ids)) != len(ids):
        seen = set()
        row = next(i for i, k in enumerate(ids) if k in seen or seen.add(k))
        raise VoicesaeError(f"{emb_path}: row {row + 1}: id {ids[row]!r} repeats an earlier row's")
    undocumented = [c for c in meta.columns if c not in m["columns"]]
    if undocumented:
        raise VoicesaeError(f"{path}: field 'columns' does not say what metadata column(s) {undocumented} mean")
    dup = meta["id"].duplicated()
    if dup.any():
        row = int(np.argmax(dup.to_numpy()))
        raise _row_error(meta_path, row + 1, "id", f"duplicate id {meta['id'].iloc[row]!r}")
    if ids is None:
        if len(meta) != len(emb):
            raise VoicesaeError(f"{meta_path}: has {len(meta)} rows, {emb_path} has {len(emb)} "
                                "(an .npy is joined by position: row i of each)")
    else:
        position = {k: i for i, k in enumerate(ids)}
        where = meta["id"].map(position)
        if where.isna().any():
            row = int(np.argmax(where.isna().to_numpy()))
            raise _row_error(meta_path, row + 1, "id", f"id {meta['id'].iloc[row]!r} has no embedding in {emb_path}")
        emb = emb[where.to_numpy(dtype=np.int64)]
        if len(meta) != m["rows"]:
            raise VoicesaeError(f"{meta_path}: has {len(meta)} rows, the manifest's field 'rows' says {m['rows']}")
    labels = {**m.get("labels", {}), **FIXED_LABELS}
    for column in ("language", "gender"):
        if column in meta.columns and column not in labels:
            raise VoicesaeError(f"{path}: field 'labels' lists no allowed values for column '{column}'")
    bad = bad_label(meta, labels)
    if bad:
        row, column, allowed = bad
        raise _row_error(meta_path, row + 1, column, f"unknown value {meta[column].iloc[row]!r} (allowed: {allowed})")
    if "is_music" in meta.columns:
        meta["is_music"] = meta["is_music"].astype(np.int8)
    return emb, meta


KEYED_COLUMNS = ("id", "is_music", "split")
"""Columns every row needs a value in: an empty one is refused. (``speaker``, ``language`` and
``gender`` may be empty: music has no speaker, and public corpora often lack a clip's gender.)"""


def check_missing(meta: pd.DataFrame, meta_path: Path) -> None:
    """An empty or missing value in a column of ``KEYED_COLUMNS`` is an error naming its row."""
    for column in KEYED_COLUMNS:
        if column not in meta.columns:
            continue
        values = meta[column]
        empty = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
        if empty.any():
            row = int(np.argmax(empty))
            raise _row_error(meta_path, row + 1, column, "empty (every row needs a value here; write e.g. 'unknown' "
                                                         "or 'none' where a row has none)")


def bad_label(meta: pd.DataFrame, labels: dict = FIXED_LABELS) -> tuple[int, str, list] | None:
    """The first (row position, column, allowed values) whose value is not among its column's
    allowed ``labels`` (``is_music`` compared as a number), or None when every value is allowed."""
    for column in meta.columns:
        if column not in labels:
            continue
        values = meta[column]
        if column == "is_music":
            values = pd.to_numeric(values, errors="coerce")
        bad = ~values.isin(labels[column])
        if bad.any():
            return int(np.argmax(bad.to_numpy())), column, labels[column]
    return None


def load(manifest_path: str | Path, check_hashes: bool = True) -> Dataset:
    """Validate the manifest and its files, and return the dataset (see the module docstring)."""
    path = Path(manifest_path)
    m = read_manifest(path)
    files = check_files(path, m, check_hashes)
    emb_path, meta_path = files["embeddings"], files["metadata"]
    ids, emb = read_embeddings(emb_path, m["embeddings"]["format"], m["embeddings"].get("columns"))
    meta = read_metadata(meta_path, m["metadata"]["format"])
    emb, meta = check_dataset(m, path, emb_path, ids, emb, meta_path, meta)
    return Dataset(emb, meta, m, path)


def validate(manifest_path: str | Path) -> str:
    """Validate and return a one-line summary (raises VoicesaeError on the first problem)."""
    ds = load(manifest_path)
    return f"{manifest_path}: valid ({len(ds.metadata):,} rows, dimension {ds.embeddings.shape[1]})"


# ------------------------------------------------------------------------------- NeMo

def nemo_pkl_id(audio_filepath: str) -> str:
    """The key NeMo's extract_speaker_embeddings.py gives a row in its .pkl: the last three
    components of the audio path joined by '@' (e.g. 'spk1@call7@seg3.wav')."""
    return "@".join(str(audio_filepath).split("/")[-3:])



# ------------------------------------------------------------------------------- writing

def _format_of(path: Path, kind: str) -> str:
    suffix = path.suffix.lower()
    table = {"embeddings": {".npy": "npy", ".parquet": "parquet", ".pkl": "nemo_pkl"},
             "metadata": {".csv": "csv", ".jsonl": "jsonl"}}[kind]
    if suffix not in table:
        raise VoicesaeError(f"{path}: unsupported {kind} file type {suffix!r} (expected one of {sorted(table)})")
    return table[suffix]


def write_manifest(out: str | Path, embeddings: str | Path, metadata: str | Path, name: str, description: str = "",
                   command: str = "", seed: int | None = None, columns: dict | None = None, labels: dict | None = None,
                   ground_truth: str | Path | None = None, normalization: str | None = None, extra_provenance=None) -> Path:
    """Write a manifest for existing files (hashes, rows, dimension computed here), then validate it.

    Paths are stored relative to the manifest's folder. Column meanings default to the
    standard ones; other columns need ``columns``. Label sets default to the values present.
    """
    check_output(out, [embeddings, metadata, ground_truth], "manifest --out", ours=is_manifest)
    out = Path(out).resolve()
    emb_path, meta_path = Path(embeddings).resolve(), Path(metadata).resolve()
    for what, f in (("embeddings", emb_path), ("metadata", meta_path)):
        if not f.is_file():
            raise VoicesaeError(f"{f}: {what} file not found")
    efmt, mfmt = _format_of(emb_path, "embeddings"), _format_of(meta_path, "metadata")
    ids, emb = read_embeddings(emb_path, efmt)
    meta = read_metadata(meta_path, mfmt)
    if "id" not in meta.columns:
        raise VoicesaeError(f"{meta_path}: no 'id' column (columns: {list(meta.columns)})")
    check_missing(meta, meta_path)
    if not str(name).strip():
        raise VoicesaeError("manifest name: empty (--name)")
    meanings = {c: STANDARD_MEANINGS[c] for c in meta.columns if c in STANDARD_MEANINGS}
    meanings.update(columns or {})
    missing = [c for c in meta.columns if c not in meanings]
    if missing:
        raise VoicesaeError(f"{meta_path}: say what column(s) {missing} mean (--column NAME=MEANING)")
    found = {c: sorted(meta[c].dropna().astype(str).unique().tolist()) for c in ("language", "gender")
             if c in meta.columns}  # a missing (null) value is not a label: check_dataset names its row
    def rel(p):
        return os.path.relpath(Path(p).resolve(), out.parent)

    manifest = {
        "schema_version": 1, "name": name, "description": description,
        "embeddings": {"path": rel(emb_path), "format": efmt, "sha256": sha256_file(emb_path)},
        "metadata": {"path": rel(meta_path), "format": mfmt, "sha256": sha256_file(meta_path)},
        "dim": int(emb.shape[1]) if emb.ndim == 2 else 0, "rows": int(emb.shape[0]),
        "provenance": {"command": command, "seed": seed, **(extra_provenance or {})},
        "columns": meanings, "labels": {**found, **(labels or {})},
    }
    if normalization:
        manifest["normalization"] = normalization
    if ground_truth is not None:
        manifest["ground_truth"] = {"path": rel(ground_truth), "sha256": sha256_file(ground_truth)}
    # Checked before anything is written, with the user's own file names in any error.
    check_dataset(manifest, out, emb_path, ids, emb, meta_path, meta)
    _check_schema(manifest, out)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def is_manifest(path: Path) -> bool:
    """Whether ``path`` holds a data manifest (JSON with our ``schema_version``): one we may replace."""
    try:
        m = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(m, dict) and "schema_version" in m and "embeddings" in m
