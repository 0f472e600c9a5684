import json
import subprocess

import numpy as np
import pytest

from conftest import tone, write_wav
from voicesae_core import VoicesaeError
from voicesae_core.audio import clip, segments

SR = 16000


def planted(pattern):
    """Concatenate (kind, seconds): 'sound' is a tone, 'gap' digital silence."""
    parts = [tone(s, seed=i) if kind == "sound" else np.zeros(int(s * SR), np.float32)
             for i, (kind, s) in enumerate(pattern)]
    return np.concatenate(parts)


def test_energy_finds_the_planted_stretches_and_bridges_short_gaps():
    x = planted([("gap", 1.0), ("sound", 3.0), ("gap", 0.3), ("sound", 2.0), ("gap", 1.0), ("sound", 5.0), ("gap", 0.7)])
    regions = segments.nonsilent_energy(x, SR)
    expected = [(1.0, 6.3), (7.3, 12.3)]  # the 0.3 s gap is bridged, the 1.0 s one is not
    assert len(regions) == 2
    np.testing.assert_allclose(np.array(regions), np.array(expected), atol=0.02)


def test_energy_agrees_with_sox_silence(tmp_path):
    """SoX's `silence 1 0.1 1% -1 0.5 1%` keeps the same amount of sound as the energy rule."""
    x = planted([("gap", 0.8), ("sound", 2.5), ("gap", 1.5), ("sound", 4.0), ("gap", 0.2), ("sound", 1.5), ("gap", 2.0)])
    src = write_wav(tmp_path / "in.wav", x)
    out = tmp_path / "out.wav"
    subprocess.run(["sox", str(src), str(out), "silence", "1", "0.1", "1%", "-1", "0.5", "1%"], check=True)
    kept_by_sox = clip.info(out)[2]
    ours = sum(b - a for a, b in segments.nonsilent_energy(x, SR))
    # SoX keeps up to its 0.5 s detection window of each removed silence; ours keeps none of it
    assert ours == pytest.approx(8.2, abs=0.03)
    assert 0 <= kept_by_sox - ours <= 0.5 * 2 + 0.05


def test_pack_gives_4_to_8_second_segments_covering_each_long_region():
    regions = [(0.0, 3.9), (5.0, 9.0), (10.0, 18.5), (20.0, 45.0)]
    pieces = segments.pack(regions)
    lengths = np.array([b - a for a, b in pieces])
    assert np.all(lengths >= 4.0 - 1e-9) and np.all(lengths <= 8.0 + 1e-9)
    assert sum(lengths) == pytest.approx(4.0 + 8.5 + 25.0)  # the 3.9 s region is dropped
    assert len(pieces) == 1 + 2 + 4
    with pytest.raises(VoicesaeError, match="min_len"):
        segments.pack(regions, min_len=5, max_len=8)
    assert segments.pack([(2.0, 3.5)], min_len=1, max_len=1e12) == [(2.0, 3.5)]  # a region far shorter than max_len


def test_segment_manifest_of_the_demo_corpus(demo):
    recordings, seg = demo
    rows = [json.loads(line) for line in seg.read_text().splitlines()]
    source = [json.loads(line) for line in recordings.read_text().splitlines()]
    assert all(4.0 <= r["duration"] <= 8.0 for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:  # metadata travels from the recording to its segments
        rec = source[r["source_row"] - 1]
        assert (r["language"], r["gender"], r["split"], r["speaker"]) == (rec["language"], rec["gender"], rec["split"], rec["speaker"])
        assert r["offset"] + r["duration"] <= rec["duration"] + 1e-3
    assert {r["is_music"] for r in rows} == {0, 1}


def test_silero_keeps_speech_and_drops_music(demo, tmp_path):
    recordings, _ = demo
    result = segments.segment(recordings, tmp_path / "speech.json", method="silero", quiet=True)
    rows = [json.loads(line) for line in result.manifest.read_text().splitlines()]
    assert rows and all(r["is_music"] == 0 for r in rows)
    music = [json.loads(line) for line in recordings.read_text().splitlines() if '"is_music": 1' in line]
    assert set(result.skipped["reason"]) == {"no_segment"} and len(result.skipped) == len(music)
    assert (tmp_path / "speech.json.skipped.csv").exists()


def test_unreadable_recordings_are_listed_not_lost(tmp_path):
    write_wav(tmp_path / "ok.wav", planted([("sound", 6.0), ("gap", 0.6)]))
    write_wav(tmp_path / "short.wav", tone(2.0))
    m = tmp_path / "in.json"
    m.write_text("\n".join(json.dumps({"audio_filepath": f}) for f in ["ok.wav", "missing.wav", "short.wav"]) + "\n")
    result = segments.segment(m, tmp_path / "out.json", quiet=True)
    assert result.segments == 1
    assert result.skipped[["row", "reason"]].values.tolist() == [[2, "missing"], [3, "no_segment"]]


def test_counts_group_by_the_columns_present_per_split(tmp_path):
    rows = ([{"language": "en", "is_music": 0, "gender": "male", "split": "train"}] * 3
            + [{"language": "en", "is_music": 0, "gender": "female", "split": "test"}]
            + [{"language": "es", "is_music": 0, "gender": "female", "split": "test"}] * 2
            + [{"language": "none", "is_music": 1, "gender": "none", "split": "train"}])
    m = tmp_path / "seg.json"
    m.write_text("".join(json.dumps({"audio_filepath": "x.wav", **r}) + "\n" for r in rows))
    # is_music follows from language (it splits no group): left out; an absent column too
    table = segments.counts(m, ["language", "is_music", "gender", "channel"])
    assert table.index.names == ["language", "gender"] and table.columns.tolist() == ["test", "train"]
    assert table.loc[("en", "male")].tolist() == [0, 3] and table.loc[("none", "none")].tolist() == [0, 1]
    assert int(table.values.sum()) == len(rows)
    assert segments.counts(m, ["is_music"]).index.name == "is_music"  # first: kept
    assert segments.counts(m, ["channel"]).loc["all"].tolist() == [3, 4]  # nothing to group by: one row

    m.write_text("".join(json.dumps({"audio_filepath": "x.wav", "language": r["language"]}) + "\n" for r in rows))
    table = segments.counts(m, ["language"])
    assert table.columns.tolist() == ["segments"] and table["segments"].to_dict() == {"en": 4, "es": 2, "none": 1}
