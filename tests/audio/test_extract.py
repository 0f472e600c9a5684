
import json

import numpy as np
import pandas as pd
import pytest

from conftest import tone, write_wav
from voicesae_core import VoicesaeError
from voicesae_core.audio import clip, extract
from voicesae_core.data import manifest


@pytest.fixture
def mixed(demo, tmp_path):
    """Eight demo segments plus one row of every kind of bad audio, in one NeMo manifest."""
    _, seg = demo
    good = [json.loads(line) for line in seg.read_text().splitlines()][:: 10][:8]
    for r in good:
        r["audio_filepath"] = str((seg.parent / r["audio_filepath"]).resolve())
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF0000WAVEjunk" * 20)
    write_wav(tmp_path / "silent.wav", np.zeros(48000, np.float32))
    write_wav(tmp_path / "stereo.wav", np.stack([tone(5.0), tone(5.0, freq=300)], 1))
    write_wav(tmp_path / "tel.wav", tone(5.0, sr=8000), sr=8000, subtype="ULAW")
    bad = [{"id": "missing", "audio_filepath": "missing.wav", "duration": 5.0},
           {"id": "corrupt", "audio_filepath": "corrupt.wav", "duration": 5.0},
           {"id": "silent", "audio_filepath": "silent.wav", "duration": 3.0},
           {"id": "short", "audio_filepath": "stereo.wav", "offset": 0.0, "duration": 0.2},
           {"id": "past_end", "audio_filepath": "stereo.wav", "offset": 9.0, "duration": 4.0},
           {"id": "stereo", "audio_filepath": "stereo.wav", "offset": 0.0, "duration": 5.0},
           {"id": "tel", "audio_filepath": "tel.wav", "duration": 5.0}]
    rows = good[:4] + bad + good[4:]
    for r in bad:
        r.update(language="en", gender="male", is_music=0, split="train", speaker="x")
    path = tmp_path / "mixed.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows


def test_every_row_is_embedded_or_skipped_with_its_reason(mixed, titanet, tmp_path):
    path, rows = mixed
    result = extract.extract(path, tmp_path / "out", titanet, batch_size=4, quiet=True)
    skipped = pd.read_csv(tmp_path / "out" / "skipped.csv")
    assert dict(zip(skipped["id"], skipped["reason"])) == {
        "missing": "missing", "corrupt": "corrupt", "silent": "silent", "short": "too_short", "past_end": "out_of_range"}
    assert skipped["row"].tolist() == [5, 6, 7, 8, 9]
    assert result.embedded == len(rows) - 5 and result.embedded + len(result.skipped) == result.rows

    ds = manifest.load(result.manifest)  # the data manifest validates, hashes included
    assert ds.embeddings.shape == (len(rows) - 5, 192)
    assert ds.metadata["id"].tolist() == [r["id"] for r in rows if r["id"] not in set(skipped["id"])]
    notes = dict(zip(ds.metadata["id"], ds.metadata["audio_notes"].fillna("")))
    assert notes["stereo"] == "2 channels->mono" and notes["tel"] == "resampled 8000->16000 Hz"
    assert ds.manifest["normalization"].startswith("none")
    prov = ds.manifest["provenance"]
    assert prov["model"] == "random:titanet-small" and prov["dither"] == 0.0 and prov["skipped"] == 5

    # each embedding equals the clip embedded alone (batching does not leak between clips)
    for i in (0, 4, len(ds.metadata) - 1):
        r = ds.metadata.iloc[i]
        sound = clip.read(r["audio_filepath"], r["offset"], r["duration"])
        alone = titanet.embed([sound.signal])[0]
        assert np.abs(ds.embeddings[i] - alone).max() / np.abs(alone).max() < 1e-5


def test_resume_reuses_what_is_done(mixed, titanet, tmp_path):
    path, rows = mixed
    first = tmp_path / "first.json"
    first.write_text("".join(path.read_text().splitlines(keepends=True)[:4]))
    out = tmp_path / "out"
    extract.extract(first, out, titanet, quiet=True)  # "interrupted" after the first four rows
    result = extract.extract(path, out, titanet, batch_size=3, quiet=True)
    assert result.reused == 4 and result.embedded == len(rows) - 5
    fresh = extract.extract(path, tmp_path / "fresh", titanet, batch_size=5, quiet=True)
    a, b = manifest.load(result.manifest), manifest.load(fresh.manifest)
    assert np.abs(a.embeddings - b.embeddings).max() / np.abs(b.embeddings).max() < 1e-5


def test_resume_with_another_model_is_refused(mixed, titanet, tmp_path):
    path, _ = mixed
    extract.extract(path, tmp_path / "out", titanet, quiet=True)
    from voicesae_core.audio import speaker_model
    other = speaker_model.load("random:titanet-small", seed=1)
    with pytest.raises(VoicesaeError, match="another model or setting"):
        extract.extract(path, tmp_path / "out", other, quiet=True)


def test_the_device_is_stamped_and_a_run_on_another_is_refused(mixed, titanet, tmp_path):
    # A GPU's embeddings differ from a CPU's in the last digits: one folder never mixes them.
    path, _ = mixed
    extract.extract(path, tmp_path / "out", titanet, quiet=True)
    stamp_path = tmp_path / "out" / "extraction.json"
    stamp = json.loads(stamp_path.read_text())
    assert stamp["device"] == "cpu"
    del stamp["device"]  # a stamp written before the device was recorded: those all ran on a CPU
    stamp_path.write_text(json.dumps(stamp))
    assert extract.extract(path, tmp_path / "out", titanet, quiet=True).reused > 0
    stamp["device"] = "cuda (NVIDIA H200)"
    stamp_path.write_text(json.dumps(stamp))
    with pytest.raises(VoicesaeError, match=r"device: 'cuda \(NVIDIA H200\)' there, 'cpu' now"):
        extract.extract(path, tmp_path / "out", titanet, quiet=True)


@pytest.mark.cuda
def test_cuda_embeddings_are_within_float32_rounding_of_the_cpus(mixed, tmp_path):
    path, _ = mixed
    cpu = manifest.load(extract.extract(path, tmp_path / "cpu", "random:titanet-small", device="cpu", quiet=True).manifest)
    gpu = manifest.load(extract.extract(path, tmp_path / "gpu", "random:titanet-small", device="cuda", quiet=True).manifest)
    assert json.loads((tmp_path / "gpu" / "extraction.json").read_text())["device"].startswith("cuda (")
    assert np.abs(cpu.embeddings - gpu.embeddings).max() / np.abs(cpu.embeddings).max() < 1e-4


def test_normalization_is_applied_and_recorded(mixed, titanet, tmp_path):
    path, _ = mixed
    raw = manifest.load(extract.extract(path, tmp_path / "raw", titanet, quiet=True).manifest)
    l2 = manifest.load(extract.extract(path, tmp_path / "l2", titanet, normalization="l2", quiet=True).manifest)
    nemo = manifest.load(extract.extract(path, tmp_path / "nemo", titanet, normalization="nemo", quiet=True).manifest)
    np.testing.assert_allclose(l2.embeddings, raw.embeddings / np.linalg.norm(raw.embeddings, axis=1, keepdims=True), atol=1e-6)
    centred = raw.embeddings - raw.embeddings.mean(0)
    np.testing.assert_allclose(nemo.embeddings, centred / np.linalg.norm(centred, axis=1, keepdims=True), atol=1e-5)
    assert l2.manifest["normalization"] == "l2 per row"
    assert "set-dependent" in nemo.manifest["normalization"] and f"these {len(raw.embeddings)} rows" in nemo.manifest["normalization"]


def test_repeated_ids_and_nothing_embeddable_are_errors(tmp_path, titanet):
    m = tmp_path / "dup.json"
    m.write_text('{"audio_filepath": "a.wav", "id": "x"}\n{"audio_filepath": "b.wav", "id": "x"}\n')
    with pytest.raises(VoicesaeError, match="row 2: field 'id': 'x' repeats row 1"):
        extract.extract(m, tmp_path / "out", titanet, quiet=True)
    m.write_text('{"audio_filepath": "a.wav"}\n')
    with pytest.raises(VoicesaeError, match="no row could be embedded"):
        extract.extract(m, tmp_path / "out2", titanet, quiet=True)
    assert not (tmp_path / "out2" / "manifest.json").exists()


def test_cli_segments_and_extracts(demo, tmp_path, capsys):
    from voicesae_core.__main__ import main
    recordings, _ = demo
    rows = recordings.read_text().splitlines()
    small = tmp_path / "rec.json"
    small.write_text("".join(json.dumps({**json.loads(r), "audio_filepath": str((recordings.parent / json.loads(r)["audio_filepath"]).resolve())}) + "\n"
                             for r in rows[:2]))
    assert main(["audio", "segment", str(small), "--out", str(tmp_path / "seg.json"), "--quiet"]) == 0
    assert main(["audio", "extract", str(tmp_path / "seg.json"), "--out", str(tmp_path / "emb"),
                 "--normalization", "l2", "--quiet"]) == 0
    out = capsys.readouterr()
    assert "embedded" in out.err and manifest.load(out.out.strip().splitlines()[-1]).embeddings.shape[1] == 192
    assert main(["audio", "extract", str(tmp_path / "seg.json"), "--out", str(tmp_path / "x"), "--model", "nope.nemo"]) == 2
    assert "nope.nemo: .nemo model file not found" in capsys.readouterr().err


def test_model_folder_is_a_plain_name_per_model():
    assert extract.model_folder("random:titanet-small") == "random-titanet-small"
    assert extract.model_folder("resemblyzer") == "resemblyzer"
    assert extract.model_folder("/models/mine.nemo") == "mine"
    assert extract.model_folder("nvidia/speakerverification_en_titanet_large") == "nvidia-speakerverification_en_titanet_large"
    with pytest.raises(VoicesaeError, match="no usable folder name"):
        extract.model_folder("::")


def test_mean_pairwise_cosine_by_hand():
    x = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])  # pair cosines 0, 1/sqrt 2, 1/sqrt 2
    assert extract.mean_pairwise_cosine(x) == pytest.approx(np.sqrt(2) / 3)
    assert extract.mean_pairwise_cosine(np.ones((5, 4))) == pytest.approx(1.0)
    with pytest.raises(VoicesaeError, match="at least 2 rows"):
        extract.mean_pairwise_cosine(np.ones((1, 4)))


def test_extract_models_embeds_with_each_model_and_tabulates_the_runs(mixed, titanet, tmp_path):
    path, rows = mixed
    datasets, runs = extract.extract_models(path, tmp_path / "emb", [titanet], normalization="l2", quiet=True)
    assert list(datasets) == ["random:titanet-small"] and runs.index.tolist() == ["random:titanet-small"]
    assert runs.columns.tolist() == extract.RUNS_COLUMNS
    r = runs.loc["random:titanet-small"]
    assert (r["dim"], r["embedded"], r["skipped"], r["normalization"]) == (192, len(rows) - 5, 5, "l2")
    ds = datasets["random:titanet-small"]
    assert ds.path == tmp_path / "emb" / "random-titanet-small" / "manifest.json"
    alone = manifest.load(extract.extract(path, tmp_path / "alone", titanet, normalization="l2", quiet=True).manifest)
    np.testing.assert_allclose(ds.embeddings, alone.embeddings, atol=1e-6)
    ids, raw = extract.raw_embeddings(tmp_path / "emb" / "random-titanet-small")
    raw = raw[[ids.index(i) for i in ds.metadata["id"]]]
    assert r["raw mean pairwise cosine"] == round(extract.mean_pairwise_cosine(raw), 5)


def test_extract_models_refuses_no_model_and_two_models_in_one_folder(mixed, titanet, tmp_path):
    path, _ = mixed
    with pytest.raises(VoicesaeError, match="no speaker model given"):
        extract.extract_models(path, tmp_path / "emb", [], quiet=True)
    with pytest.raises(VoicesaeError, match=r"more than one writes to the folder\(s\) \['random-titanet-small'\]"):
        extract.extract_models(path, tmp_path / "emb", [titanet, "random:titanet-small"], quiet=True)
    assert not (tmp_path / "emb").exists()  # refused before any work


def test_resume_embeds_again_a_row_whose_audio_or_offset_changed_under_the_same_id(mixed, titanet, tmp_path):
    path, rows = mixed
    out = tmp_path / "out"
    before = manifest.load(extract.extract(path, out, titanet, quiet=True).manifest)
    edited = [dict(r) for r in rows]
    write_wav(tmp_path / "replaced.wav", tone(5.0, freq=410.0, seed=7))
    edited[0]["audio_filepath"] = str(tmp_path / "replaced.wav")  # same id, another file
    edited[1]["offset"] = round(edited[1].get("offset", 0.0) + 0.5, 4)  # same id, another stretch
    changed = tmp_path / "edited.json"
    changed.write_text("".join(json.dumps(r) + "\n" for r in edited))
    resumed = extract.extract(changed, out, titanet, quiet=True)
    assert resumed.reused == resumed.embedded - 2  # only the two edited rows were embedded again
    fresh = manifest.load(extract.extract(changed, tmp_path / "fresh", titanet, quiet=True).manifest)
    now = manifest.load(resumed.manifest)
    tolerance = 1e-5 * np.abs(fresh.embeddings).max()  # batching changes float rounding only
    np.testing.assert_allclose(now.embeddings, fresh.embeddings, rtol=0, atol=tolerance)
    assert (np.abs(now.embeddings[:2] - before.embeddings[:2]).max(1) > 50 * tolerance).all()  # not the stale ones
    assert now.metadata["audio_filepath"].iloc[0] == str(tmp_path / "replaced.wav")

    # and the audio file's bytes count, not its name: overwrite a file in place
    write_wav(tmp_path / "replaced.wav", tone(5.0, freq=530.0, seed=8))
    again = extract.extract(changed, out, titanet, quiet=True)
    assert again.reused == again.embedded - 1


def test_labels_are_checked_in_the_nemo_manifest_before_any_clip_is_embedded(mixed, titanet, tmp_path):
    path, rows = mixed
    bad = [dict(r) for r in rows]
    bad[2]["split"] = "Train"
    m = tmp_path / "bad.json"
    m.write_text("".join(json.dumps(r) + "\n" for r in bad))
    with pytest.raises(VoicesaeError, match=r"bad.json: row 3, field 'split': unknown value 'Train'"):
        extract.extract(m, tmp_path / "out", titanet, quiet=True)
    assert not (tmp_path / "out").exists()


def test_nemo_normalization_of_one_row_or_identical_rows_is_refused_and_nothing_is_written(mixed, titanet, tmp_path):
    path, rows = mixed
    for n, picked in (("one", [rows[0]]), ("same", [rows[0], {**rows[0], "id": "twin"}])):
        m = tmp_path / f"{n}.json"
        m.write_text("".join(json.dumps(r) + "\n" for r in picked))
        with pytest.raises(VoicesaeError, match=rf"{n}.json: row 1: normalization 'nemo' leaves {len(picked)} of"):
            extract.extract(m, tmp_path / n, titanet, normalization="nemo", quiet=True)
        assert sorted(p.name for p in (tmp_path / n).iterdir()) == ["extraction.json", "parts"]
        # the parts are reused by a rerun with a normalization that is defined
        ok = extract.extract(m, tmp_path / n, titanet, normalization="l2", quiet=True)
        assert ok.reused == len(picked)
