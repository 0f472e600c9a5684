import json

import numpy as np
import pytest

from voicesae_core import VoicesaeError
from voicesae_core.audio import clip, demo_corpus


def test_demo_corpus_recordings(demo):
    recordings, _ = demo
    rows = [json.loads(line) for line in recordings.read_text().splitlines()]
    p = demo_corpus.PROFILES["quick"]
    speech = [r for r in rows if r["is_music"] == 0]
    assert len(speech) == 4 * p["speakers_per_group"] and len(rows) - len(speech) == p["music"]
    assert {(r["language"], r["gender"]) for r in speech} == {("en", "female"), ("en", "male"), ("es", "female"), ("es", "male")}
    # speaker-disjoint split with both classes in both splits
    assert {(r["language"], r["split"]) for r in speech} >= {("en", "train"), ("en", "test"), ("es", "train"), ("es", "test")}
    for r in rows:
        sr, channels, seconds = clip.info(recordings.parent / r["audio_filepath"])
        assert seconds == pytest.approx(r["duration"], abs=1e-3)
        assert sr == (8000 if r["channel"] == "telephone" else 16000)
        assert channels == (2 if r["voice"] == "stereo" else 1)


def test_telephony_channel_is_band_limited(demo):
    recordings, _ = demo
    r = next(json.loads(line) for line in recordings.read_text().splitlines() if '"telephone"' in line)
    x = clip.read(recordings.parent / r["audio_filepath"], sample_rate=8000).signal
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    assert power[(freqs > 300) & (freqs < 3400)].sum() > 50 * power[freqs < 150].sum()


def test_espeak_voices_differ_by_gender_in_pitch(demo):
    """The female variants speak higher: the median fundamental (autocorrelation) is higher."""
    recordings, _ = demo
    rows = [json.loads(line) for line in recordings.read_text().splitlines()]

    def f0(path):
        x = clip.read(recordings.parent / path, 0.5, 2.0).signal
        frames = x[: len(x) // 640 * 640].reshape(-1, 640)
        out = []
        for fr in frames[np.abs(frames).max(1) > 0.1]:
            ac = np.correlate(fr, fr, "full")[639:]
            lo, hi = 16000 // 400, 16000 // 70
            out.append(16000 / (lo + np.argmax(ac[lo:hi])))
        return np.median(out)

    clean = [r for r in rows if r["is_music"] == 0 and r["channel"] == "clean"]
    female = np.median([f0(r["audio_filepath"]) for r in clean if r["gender"] == "female"])
    male = np.median([f0(r["audio_filepath"]) for r in clean if r["gender"] == "male"])
    assert female > 1.2 * male


def test_missing_system_program_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(demo_corpus.shutil, "which", lambda name: None if name == "espeak-ng" else "/usr/bin/" + name)
    with pytest.raises(VoicesaeError, match=r"apt-get install espeak-ng"):
        demo_corpus.require_tools("espeak-ng", "sox")
