import numpy as np
import pandas as pd
import pytest

from conftest import tone, write_wav
from voicesae_core.audio import clip


def test_reads_a_segment_exactly(tmp_path):
    x = tone(3.0)
    sound = clip.read(write_wav(tmp_path / "a.wav", x, subtype="FLOAT"), offset=1.0, duration=0.5)
    np.testing.assert_array_equal(sound.signal, x[16000:24000])
    assert sound.notes == [] and sound.seconds == 0.5


def test_stereo_becomes_the_mean_of_its_channels(tmp_path):
    left, right = tone(1.0, freq=200), tone(1.0, freq=300)
    sound = clip.read(write_wav(tmp_path / "s.wav", np.stack([left, right], 1), subtype="FLOAT"))
    np.testing.assert_allclose(sound.signal, (left + right) / 2, atol=1e-7)
    assert sound.notes == ["2 channels->mono"]


def test_other_sample_rates_are_resampled(tmp_path):
    sound = clip.read(write_wav(tmp_path / "n.wav", tone(2.0, sr=8000), sr=8000), sample_rate=16000)
    assert len(sound.signal) == 32000 and sound.notes == ["resampled 8000->16000 Hz"]
    # the 220 Hz fundamental survives resampling
    spectrum = np.abs(np.fft.rfft(sound.signal))
    assert abs(np.argmax(spectrum) * 16000 / len(sound.signal) - 220) < 2


def test_mu_law_telephony_file_reads(tmp_path):
    sound = clip.read(write_wav(tmp_path / "u.wav", tone(1.0, sr=8000), sr=8000, subtype="ULAW"))
    assert len(sound.signal) == 16000 and np.abs(sound.signal).max() > 0.3


@pytest.mark.parametrize("case, reason", [("missing", "missing"), ("corrupt", "corrupt"), ("silent", "silent"),
                                          ("short", "too_short"), ("offset", "out_of_range")])
def test_bad_audio_has_a_reason_and_names_the_file(tmp_path, case, reason):
    path = tmp_path / f"{case}.wav"
    kwargs = {}
    if case == "corrupt":
        path.write_bytes(b"RIFF\x00\x01\x00\x00WAVEfmt garbage" * 10)
    elif case == "silent":
        write_wav(path, np.zeros(16000, np.float32))
    elif case == "short":
        write_wav(path, tone(0.3))
        kwargs = {"min_duration": 0.5}
    elif case == "offset":
        write_wav(path, tone(1.0))
        kwargs = {"offset": 2.0}
    with pytest.raises(clip.BadAudio) as err:
        clip.read(path, **kwargs)
    assert err.value.reason == reason and str(path) in str(err.value)


def test_read_segment_reads_a_relative_path_from_the_manifest_folder(tmp_path):
    from conftest import tone, write_wav
    write_wav(tmp_path / "a.wav", tone(3.0))
    sound = clip.read_segment(tmp_path / "manifest.json", pd.Series({"audio_filepath": "a.wav", "offset": 1.0, "duration": 1.5}))
    assert sound.sample_rate == 16000 and len(sound.signal) == 24000

