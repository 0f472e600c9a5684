import json
import pickle

import numpy as np
import pytest

from voicesae_core import VoicesaeError
from voicesae_core.audio import nemo_manifest
from voicesae_core.data import manifest


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


def test_nemo_manifest_to_metadata_joins_nemo_pkl(tmp_path):
    lines = [{"audio_filepath": f"/data/calls/spk{i // 2}/seg{i}.wav", "offset": 0, "duration": 5.0,
              "label": f"spk{i // 2}", "language": "en", "split": "train"} for i in range(4)]
    (tmp_path / "nemo.json").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    nemo_manifest.to_metadata(tmp_path / "nemo.json", tmp_path / "m.csv")
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    with open(tmp_path / "e.pkl", "wb") as f:  # what NeMo's script writes: keys from the path
        pickle.dump({"calls@spk1@seg3.wav": x[3], "calls@spk0@seg0.wav": x[0], "calls@spk0@seg1.wav": x[1],
                     "calls@spk1@seg2.wav": x[2]}, f)
    out = manifest.write_manifest(tmp_path / "d.json", tmp_path / "e.pkl", tmp_path / "m.csv", "nemo",
                                  columns={"audio_filepath": "audio file", "offset": "s", "duration": "s",
                                           "label": "NeMo label"})
    np.testing.assert_array_equal(manifest.load(out).embeddings, x)
    lines.append(dict(lines[0], offset=5.0))  # a second segment of the same file: NeMo would lose one
    (tmp_path / "nemo.json").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    with pytest.raises(VoicesaeError, match=r"nemo.json: row 5, field 'audio_filepath': NeMo's .pkl key "
                                            r"'calls@spk0@seg0.wav' repeats row 1's"):
        nemo_manifest.to_metadata(tmp_path / "nemo.json", tmp_path / "m2.csv")
    assert not (tmp_path / "m2.csv").exists()

