"""NeMo-style audio manifests: JSON lines with ``audio_filepath``, ``offset``, ``duration``, ``label``.

Any other field is metadata (``language``, ``gender``, ``is_music``, ``split``, ...) and travels
with the row to the embeddings' metadata table. Relative audio paths are resolved against the
manifest's folder, as NeMo does. A malformed line is one VoicesaeError naming file, row and field.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

from ..data.manifest import nemo_pkl_id
from ..errors import VoicesaeError
from ..files import atomic_path, check_output

NEMO_FIELDS = {
    "audio_filepath": "the audio file (relative paths are relative to the NeMo manifest)",
    "offset": "start of the segment in the file, seconds",
    "duration": "length of the segment, seconds",
    "label": "NeMo's label field (the speaker, for speaker recognition)",
}


def read(path: str | Path, resolve: bool = True) -> list[dict]:
    """The rows of a NeMo manifest, validated; ``offset`` defaulted to 0, ``audio_filepath`` made
    absolute when ``resolve`` (else kept as written), ``_row`` the row number.

    Row numbers in errors count from 1, like an editor's line numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise VoicesaeError(f"{path}: NeMo manifest not found")
    rows = []
    for n, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise VoicesaeError(f"{path}: row {n}: not UTF-8 text (byte {raw[e.start]:#04x} at column "
                                f"{e.start + 1}); save the manifest as UTF-8") from None
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise VoicesaeError(f"{path}: row {n}: not a JSON object ({e.msg})") from None
        if not isinstance(row, dict):
            raise VoicesaeError(f"{path}: row {n}: not a JSON object")
        for field, value in row.items():
            if isinstance(value, (list, dict)):
                raise VoicesaeError(f"{path}: row {n}: field {field!r} is a JSON {type(value).__name__}; "
                                    "metadata fields hold one value (text, number, true/false or null)")
        for field, value in row.items():  # Python's json writes a missing pandas value as NaN
            if isinstance(value, float) and not math.isfinite(value):
                raise VoicesaeError(f"{path}: row {n}: field {field!r} is {value} (not a number JSON allows; "
                                    "leave the field out, or write null)")
        audio = row.get("audio_filepath")
        if not isinstance(audio, str) or not audio:
            raise VoicesaeError(f"{path}: row {n}: field 'audio_filepath' is missing or not a string")
        for field in ("offset", "duration"):
            value = row.get(field)
            if value is None and field == "offset":
                row["offset"] = 0.0
                continue
            if value is None and field == "duration":
                continue  # the audio's own length is used
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise VoicesaeError(f"{path}: row {n}: field {field!r} must be a non-negative number, got {value!r}")
        if resolve and not Path(audio).is_absolute():
            row["audio_filepath"] = str((path.parent / audio).resolve())
        row["_row"] = n
        rows.append(row)
    if not rows:
        raise VoicesaeError(f"{path}: the NeMo manifest has no rows")
    return rows


def write(path: str | Path, rows: list[dict], relative: bool = True) -> Path:
    """Write rows as JSON lines, atomically; audio paths relative to the manifest when ``relative``."""
    path = Path(path).resolve()
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            for row in rows:
                row = {k: v for k, v in row.items() if not k.startswith("_")}
                if relative:
                    audio = Path(row["audio_filepath"]).resolve()
                    row["audio_filepath"] = os.path.relpath(audio, path.parent)
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _is_metadata(path: Path) -> bool:
    """Whether ``path`` is a metadata table this command wrote (header: id first, audio_filepath)."""
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
    except (OSError, ValueError):
        return False
    return header[:1] == ["id"] and "audio_filepath" in header


def to_metadata(nemo_manifest: str | Path, out: str | Path) -> Path:
    """Write our metadata table (.csv) for a NeMo manifest (JSON lines with audio_filepath, ...):
    ``id`` is the key NeMo's .pkl uses; every other field is kept as a column. Two rows with
    the same key (several segments of one file) would overwrite each other in NeMo's .pkl:
    that is an error here, naming both lines, rather than a silently lost row."""
    path = Path(nemo_manifest)
    out = check_output(out, [path], "--out", ours=_is_metadata)
    rows, seen = [], {}
    for row in read(path, resolve=False):
        line_no = row.pop("_row")
        key = nemo_pkl_id(row["audio_filepath"])
        if key in seen:
            raise VoicesaeError(f"{path}: row {line_no}, field 'audio_filepath': NeMo's .pkl key {key!r} repeats "
                                f"row {seen[key]}'s, so NeMo keeps only one of their embeddings; give each "
                                "segment its own file, or use our extraction (python -m voicesae_core audio extract)")
        seen[key] = line_no
        rows.append({"id": key, **row})
    with atomic_path(out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    return out
