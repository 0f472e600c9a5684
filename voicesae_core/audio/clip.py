"""Reading one clip of audio for a speaker model: mono, the model's sample rate, float32.

What is wrong with a clip is a ``BadAudio`` with a short ``reason`` (missing, corrupt, silent,
too_short, out_of_range) that extraction records per row; what can be repaired is repaired and
noted (stereo -> mono by averaging the channels, another sample rate -> resampled with soxr).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import VoicesaeError

SILENCE_PEAK = 1e-4
"""A clip whose largest absolute sample is below this (about -80 dBFS) is silent."""


class BadAudio(VoicesaeError):
    """A clip that cannot be embedded; ``reason`` is one word for the summary, the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Clip:
    signal: np.ndarray
    """Mono float32 samples at ``sample_rate``."""
    sample_rate: int
    notes: list[str] = field(default_factory=list)
    """Repairs made while reading (e.g. 'stereo->mono', 'resampled 8000->16000 Hz')."""

    @property
    def seconds(self) -> float:
        return len(self.signal) / self.sample_rate


def info(path: str | Path) -> tuple[int, int, float]:
    """(sample_rate, channels, seconds) of an audio file, or BadAudio."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise BadAudio("missing", f"{path}: audio file not found")
    try:
        i = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise BadAudio("corrupt", f"{path}: cannot be decoded ({e})") from None
    return i.samplerate, i.channels, i.frames / i.samplerate


def read(path: str | Path, offset: float = 0.0, duration: float | None = None, sample_rate: int = 16000,
         min_duration: float = 0.0) -> Clip:
    """Samples [offset, offset + duration) of ``path`` (to the end when ``duration`` is None)."""
    import soundfile as sf

    path = Path(path)
    sr, _, seconds = info(path)
    if offset >= seconds:
        raise BadAudio("out_of_range", f"{path}: offset {offset:.3f} s is past the end of the file ({seconds:.3f} s)")
    start = int(round(offset * sr))
    frames = -1 if duration is None else int(round(duration * sr))
    try:
        x, sr = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise BadAudio("corrupt", f"{path}: cannot be decoded ({e})") from None
    notes = []
    if duration is not None and offset + duration > seconds + 1.0 / sr:
        notes.append(f"file ends {offset + duration - seconds:.3f} s before offset+duration")
    channels = x.shape[1]
    x = x.mean(axis=1) if channels > 1 else x[:, 0]
    if channels > 1:
        notes.append(f"{channels} channels->mono")
    if sr != sample_rate:
        import soxr

        x = soxr.resample(x, sr, sample_rate).astype(np.float32)
        notes.append(f"resampled {sr}->{sample_rate} Hz")
    if not np.all(np.isfinite(x)):
        raise BadAudio("corrupt", f"{path}: contains NaN or infinite samples")
    clip = Clip(np.ascontiguousarray(x, dtype=np.float32), sample_rate, notes)
    if clip.seconds < min_duration:
        raise BadAudio("too_short", f"{path}: {clip.seconds:.3f} s at offset {offset:.3f} s is shorter than "
                                    f"min_duration {min_duration} s")
    if len(x) == 0 or float(np.abs(x).max()) < SILENCE_PEAK:
        raise BadAudio("silent", f"{path}: silent (peak below {SILENCE_PEAK:g}) at offset {offset:.3f} s")
    return clip


def read_segment(data_path: str | Path, row) -> Clip:
    """The audio of one metadata row that has audio_filepath, offset and duration (as ``extract``
    writes them); a relative path is taken from the data manifest's folder (``data_path``'s)."""
    path = Path(str(row["audio_filepath"]))
    if not path.is_absolute() and not path.exists():
        path = Path(data_path).parent / path
    return read(path, float(row["offset"]), float(row["duration"]))
