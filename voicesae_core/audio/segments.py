"""Segmenting like the paper: 4-8 s non-silent segments of each recording, as a NeMo manifest.

Two detectors of what is not silence:

* ``energy`` (default): the rule of SoX's ``silence`` effect, which the paper used -- a 10 ms
  frame is sound when its peak reaches ``threshold`` of full scale (SoX's ``1%``); silences shorter
  than ``min_silence`` are bridged; sound shorter than ``min_sound`` is dropped. It keeps hold
  music, which is non-silent but not speech.
* ``silero``: the silero-vad model (shipped inside its wheel): speech only, so it drops music.

Each non-silent stretch of L >= ``min_len`` seconds becomes ceil(L / max_len) equal segments, so
every segment lasts between ``min_len`` and ``max_len``; shorter stretches are dropped and a
recording with none is listed with its reason.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import clip, nemo_manifest
from ..errors import VoicesaeError
from ..files import check_output, write_csv

FRAME = 0.01
"""Seconds per frame of the energy detector."""


@dataclass
class SegmentResult:
    manifest: Path
    """The segment manifest (NeMo JSON lines) written."""
    skipped: pd.DataFrame
    """Recordings that gave no segment: row, audio_filepath, reason, message."""
    segments: int
    seconds: float
    """Total seconds of audio in the segments."""


def nonsilent_energy(x: np.ndarray, sr: int, threshold: float = 0.01, min_silence: float = 0.5,
                     min_sound: float = 0.1) -> list[tuple[float, float]]:
    """(start, end) seconds of the stretches that are not silence, by SoX's silence rule."""
    hop = max(1, int(round(FRAME * sr)))
    n = len(x) // hop
    if n == 0:
        return []
    peaks = np.abs(x[: n * hop]).reshape(n, hop).max(axis=1)
    sound = peaks >= threshold
    runs = _runs(sound)
    bridged: list[list[int]] = []
    for a, b in runs:  # bridge silences shorter than min_silence
        if bridged and (a - bridged[-1][1]) * FRAME < min_silence:
            bridged[-1][1] = b
        else:
            bridged.append([a, b])
    tail = len(x) / sr
    return [(a * FRAME, min(b * FRAME, tail)) for a, b in bridged if (b - a) * FRAME >= min_sound]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the runs of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


_SILERO = None


def speech_silero(x: np.ndarray, sr: int, min_silence: float = 0.5) -> list[tuple[float, float]]:
    """(start, end) seconds of speech found by silero-vad (16 kHz or 8 kHz input)."""
    global _SILERO
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    if _SILERO is None:
        _SILERO = load_silero_vad()
    stamps = get_speech_timestamps(torch.from_numpy(x), _SILERO, sampling_rate=sr, return_seconds=False,
                                   min_silence_duration_ms=int(min_silence * 1000))
    return [(s["start"] / sr, s["end"] / sr) for s in stamps]


def pack(regions: list[tuple[float, float]], min_len: float = 4.0, max_len: float = 8.0) -> list[tuple[float, float]]:
    """Cut each region of at least ``min_len`` s into ceil(L / max_len) equal segments (each within [min_len, max_len])."""
    if not (0 < min_len and 2 * min_len <= max_len):
        # with min_len > max_len / 2 a region just over max_len could not be cut into valid pieces
        raise VoicesaeError(f"segment lengths: need 0 < min_len <= max_len / 2 (got {min_len}, {max_len})")
    out = []
    for start, end in regions:
        length = end - start
        if length < min_len:
            continue
        n = max(1, math.ceil(length / max_len - 1e-9))
        step = length / n
        out.extend((start + i * step, start + (i + 1) * step) for i in range(n))
    return out


def _is_segment_manifest(path: Path) -> bool:
    """Whether ``path`` is a segment manifest (JSON lines with ``source_row``), which a rerun may replace."""
    try:
        with open(path, encoding="utf-8") as f:
            first = json.loads(f.readline())
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and "source_row" in first


def segment(nemo_in: str | Path, nemo_out: str | Path, method: str = "energy", min_len: float = 4.0,
            max_len: float = 8.0, sample_rate: int = 16000, threshold: float = 0.01, min_silence: float = 0.5,
            quiet: bool = False) -> SegmentResult:
    """Write a manifest of 4-8 s non-silent segments of the recordings in ``nemo_in``.

    Every field of a recording's row is kept on its segments; ``offset``/``duration`` become the
    segment's, ``id`` becomes ``<the row's id or the file's stem>_<n>`` and ``source_row`` the row
    number. Recordings with no segment go to ``<nemo_out>.skipped.csv`` with the reason.
    """
    from tqdm import tqdm

    if method not in ("energy", "silero"):
        raise VoicesaeError(f"segment method {method!r}: expected 'energy' or 'silero'")
    for name, value in (("min_len", min_len), ("max_len", max_len)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise VoicesaeError(f"segment length {name}: expected a positive number of seconds, got {value}")
    pack([], min_len, max_len)  # checks the pair before any audio is read
    rows = nemo_manifest.read(nemo_in)
    check_output(nemo_out, [nemo_in, *(r["audio_filepath"] for r in rows)], "--out", ours=_is_segment_manifest)
    out_rows, skipped = [], []
    for row in tqdm(rows, desc="segmenting", unit="file", disable=quiet):
        try:
            sound = clip.read(row["audio_filepath"], row["offset"], row.get("duration"), sample_rate)
        except clip.BadAudio as e:
            skipped.append({"row": row["_row"], "audio_filepath": row["audio_filepath"], "reason": e.reason,
                            "message": str(e)})
            continue
        if method == "energy":
            regions = nonsilent_energy(sound.signal, sample_rate, threshold, min_silence)
        else:
            regions = speech_silero(sound.signal, sample_rate, min_silence)
        pieces = pack(regions, min_len, max_len)
        if not pieces:
            longest = max((b - a for a, b in regions), default=0.0)
            skipped.append({"row": row["_row"], "audio_filepath": row["audio_filepath"], "reason": "no_segment",
                            "message": f"no non-silent stretch of {min_len} s or more (longest {longest:.2f} s)"})
            continue
        base = str(row.get("id") or Path(row["audio_filepath"]).stem)
        for i, (a, b) in enumerate(pieces):
            out_rows.append({**row, "id": f"{base}_{i:03d}", "offset": round(row["offset"] + a, 4),
                             "duration": round(b - a, 4), "source_row": row["_row"]})
    if not out_rows:
        raise VoicesaeError(f"{nemo_in}: no recording gave a segment of {min_len}-{max_len} s "
                            f"({len(skipped)} skipped; first: {skipped[0]['message'] if skipped else '-'})")
    table = pd.DataFrame(skipped, columns=["row", "audio_filepath", "reason", "message"])
    write_csv(Path(str(Path(nemo_out).resolve()) + ".skipped.csv"), table, index=False)
    path = nemo_manifest.write(nemo_out, out_rows)  # last: a manifest on disk means the run finished
    return SegmentResult(path, table, len(out_rows), float(sum(r["duration"] for r in out_rows)))


def counts(nemo_in: str | Path, columns: list[str]) -> pd.DataFrame:
    """Segments per group and split: one row per combination of the ``columns`` that the manifest
    has (in that order; absent ones are left out), one column per value of ``split`` (or one column,
    ``segments``, without a split). A column whose values follow from the columns before it (it
    splits no group, as ``is_music`` after a ``language`` that is ``none`` for music) is left out:
    it would add no row. Missing values are a group of their own, so every segment is counted."""
    frame = pd.DataFrame(nemo_manifest.read(nemo_in, resolve=False))
    kept: list[str] = []
    for c in dict.fromkeys(columns):
        if c == "split" or c not in frame.columns:
            continue
        if not kept or frame.groupby(kept + [c], dropna=False).ngroups > frame.groupby(kept, dropna=False).ngroups:
            kept.append(c)
    if not kept:
        frame, kept = frame.assign(rows="all"), ["rows"]
    if "split" not in frame.columns:
        return frame.groupby(kept, dropna=False).size().to_frame("segments")
    return frame.groupby(kept + ["split"], dropna=False).size().unstack("split", fill_value=0)
