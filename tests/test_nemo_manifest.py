import json

import pytest

from voicesae_core import VoicesaeError, nemo_manifest


def test_read_resolves_paths_and_defaults_offset(tmp_path):
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"audio_filepath": "a/b.wav", "duration": 3.5, "language": "es"}) + "\n\n")
    (row,) = nemo_manifest.read(m)
    assert row["audio_filepath"] == str((tmp_path / "a/b.wav").resolve())
    assert row["offset"] == 0.0 and row["_row"] == 1 and row["language"] == "es"


@pytest.mark.parametrize("line, message", [
    ("{not json", "row 2: not a JSON object"),
    ('["a"]', "row 2: not a JSON object"),
    ('{"duration": 1}', "row 2: field 'audio_filepath' is missing"),
    ('{"audio_filepath": "x.wav", "duration": -1}', "row 2: field 'duration' must be a non-negative number"),
    ('{"audio_filepath": "x.wav", "offset": "0"}', "row 2: field 'offset' must be a non-negative number"),
])
def test_bad_rows_name_file_row_and_field(tmp_path, line, message):
    m = tmp_path / "m.json"
    m.write_text('{"audio_filepath": "ok.wav"}\n' + line + "\n")
    with pytest.raises(VoicesaeError, match=message) as err:
        nemo_manifest.read(m)
    assert str(m) in str(err.value)


def test_write_round_trip_with_relative_paths(tmp_path):
    rows = [{"audio_filepath": str(tmp_path / "audio" / "x.wav"), "offset": 1.0, "duration": 4.0, "_row": 7}]
    out = nemo_manifest.write(tmp_path / "out" / "m.json", rows)
    stored = json.loads(out.read_text())
    assert stored["audio_filepath"] == "../audio/x.wav" and "_row" not in stored
    assert nemo_manifest.read(out)[0]["audio_filepath"] == str((tmp_path / "audio" / "x.wav").resolve())


def test_missing_and_empty_manifest(tmp_path):
    with pytest.raises(VoicesaeError, match="not found"):
        nemo_manifest.read(tmp_path / "none.json")
    (tmp_path / "e.json").write_text("\n")
    with pytest.raises(VoicesaeError, match="no rows"):
        nemo_manifest.read(tmp_path / "e.json")
