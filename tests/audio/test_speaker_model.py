import numpy as np
import pytest
import torch

from conftest import tone
from voicesae_core import VoicesaeError
from voicesae_core.audio import speaker_model


def rel_err(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def clips():
    rng = np.random.default_rng(1)
    return [tone(s, freq=f, seed=i) + 0.01 * rng.standard_normal(int(s * 16000)).astype(np.float32)
            for i, (s, f) in enumerate([(4.13, 180), (6.02, 240), (7.9, 130), (4.0, 300)])]


def test_titanet_from_config_is_a_nemo_speaker_model(titanet):
    from nemo.collections.asr.models import EncDecSpeakerLabelModel
    assert isinstance(titanet.model, EncDecSpeakerLabelModel) and not titanet.model.training
    assert titanet.dim == 192 and titanet.sample_rate == 16000
    assert titanet.model.preprocessor.featurizer.dither == 0.0
    assert titanet.provenance["weights"].startswith("random")
    emb = titanet.embed(clips())
    assert emb.shape == (4, 192) and emb.dtype == np.float32 and np.all(np.isfinite(emb))


def test_batched_equals_one_at_a_time(titanet):
    cs = clips()
    batched = titanet.embed(cs, batched=True)  # zero-padded and masked (a CPU's default is one at a time)
    for i, c in enumerate(cs):
        assert rel_err(batched[i], titanet.embed([c])[0]) < 1e-5
    assert np.array_equal(titanet.embed(cs), np.concatenate([titanet.embed([c]) for c in cs]))


def test_nemo_repeat_padding_would_fail_that_check(titanet):
    """What NeMo's collate does (repeat the short clip to the longest, length = longest) changes the embedding."""
    short, long = clips()[0], clips()[2]
    repeated = np.tile(short, int(np.ceil(len(long) / len(short))))[: len(long)]
    with torch.inference_mode():
        _, emb = titanet.model.forward(input_signal=torch.from_numpy(np.stack([repeated, long])),
                                       input_signal_length=torch.tensor([len(long)] * 2))
    assert rel_err(emb[0].numpy(), titanet.embed([short])[0]) > 1e-3


def test_nemo_file_round_trip(titanet, tmp_path):
    path = speaker_model.save(titanet, tmp_path / "titanet.nemo")
    restored = speaker_model.load(str(path))
    cs = clips()
    np.testing.assert_allclose(restored.embed(cs), titanet.embed(cs), rtol=0, atol=1e-6)
    assert restored.provenance["weights_sha256"] and restored.source == str(path)


def test_random_weights_follow_the_seed():
    a = speaker_model.load("random:titanet-small", seed=3).embed(clips()[:1])
    b = speaker_model.load("random:titanet-small", seed=3).embed(clips()[:1])
    c = speaker_model.load("random:titanet-small", seed=4).embed(clips()[:1])
    np.testing.assert_array_equal(a, b)
    assert rel_err(a, c) > 0.01


@pytest.mark.parametrize("source, message", [
    ("nowhere/model.nemo", "model.nemo: .nemo model file not found"),
    ("random:titanet-huge", "unknown TitaNet size"),
    ("wav2vec", "not a NeMo pretrained name"),
])
def test_bad_sources(source, message):
    with pytest.raises(VoicesaeError, match=message):
        speaker_model.load(source)


def test_pretrained_name_offline_is_a_clear_error():
    """This machine cannot reach NVIDIA's servers; the error must say what to do instead."""
    try:
        speaker_model.load("titanet_small")
    except VoicesaeError as e:
        assert "could not fetch" in str(e) and ".nemo" in str(e)
    else:  # pragma: no cover - online machines (or a warm NeMo cache) really load it
        pytest.skip("titanet_small was fetched: this machine is online")


def test_a_file_that_is_not_a_nemo_model(tmp_path):
    bad = tmp_path / "bad.nemo"
    bad.write_bytes(b"not a tar file")
    with pytest.raises(VoicesaeError, match="bad.nemo: not a NeMo speaker model"):
        speaker_model.load(str(bad))


def test_resemblyzer_backend_embeds_offline():
    m = speaker_model.load("resemblyzer")
    emb = m.embed(clips()[:2])
    assert emb.shape == (2, 256) and m.provenance["weights_sha256"]
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
