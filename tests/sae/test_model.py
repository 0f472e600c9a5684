"""The model: initialisation, forward semantics, input-scale folding, save/load and its errors."""
import json

import pytest
import torch

from voicesae_core import SAEConfig, SparseAutoencoder, VoicesaeError


def model(activation="topk", **kw):
    cfg = SAEConfig(24, 4, activation, seed=7, d_in=10, **kw)
    sae = SparseAutoencoder.initialised(cfg, b_pre=torch.linspace(-1, 1, 10))
    with torch.no_grad():
        sae.b_lat.normal_(0, 0.3, generator=torch.Generator().manual_seed(1))
        sae.threshold.fill_(0.2)
    return sae


def test_init_ties_encoder_to_decoder_and_unit_norm():
    sae = model()
    assert torch.equal(sae.W_enc, sae.W_dec)
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(24), atol=1e-6)
    other = SparseAutoencoder.initialised(SAEConfig(24, 4, seed=8, d_in=10))
    assert not torch.equal(other.W_dec, sae.W_dec)


def test_forward_is_openai_topk():
    sae = model()
    x = torch.randn(50, 10, generator=torch.Generator().manual_seed(2))
    out = sae(x)
    v_pre = (x - sae.b_pre) @ sae.W_enc.T + sae.b_lat
    assert torch.allclose(out.v_pre, v_pre, atol=1e-6)
    vals, idx = torch.topk(v_pre, 4)
    v = torch.zeros_like(v_pre).scatter(1, idx, torch.relu(vals))
    assert torch.allclose(out.v, v, atol=1e-6)
    assert torch.allclose(out.x_hat, v @ sae.W_dec + sae.b_pre, atol=1e-6)
    assert ((out.v > 0).sum(1) <= 4).all()


def test_batchtopk_uses_threshold_at_inference_and_relu_is_relu():
    sae = model("batchtopk").eval()
    x = torch.randn(50, 10)
    v_pre = sae.encode_pre(x)
    assert torch.equal(sae.encode(x), torch.where(v_pre > 0.2, v_pre, torch.zeros_like(v_pre)))
    relu = model("relu")
    assert torch.equal(relu.encode(x), torch.relu(relu.encode_pre(x)))


@pytest.mark.parametrize("activation", ["topk", "batchtopk", "relu"])
def test_fold_input_scale(activation):
    sae = model(activation).eval()
    x = torch.randn(30, 10)
    c = 3.7
    before = sae(c * x)
    w_dec = sae.W_dec.clone()
    sae.fold_input_scale(c)
    after = sae(x)
    assert torch.allclose(after.x_hat, before.x_hat / c, atol=1e-5)
    assert torch.allclose(after.v, before.v / c, atol=1e-5)
    assert torch.equal(sae.W_dec, w_dec)  # decoder rows stay unit-norm


def test_save_load_round_trip(tmp_path):
    sae = model("batchtopk")
    sae.info = {"train_data_sha256": "ab" * 32}
    sae.save(tmp_path / "m")
    back = SparseAutoencoder.load(tmp_path / "m")
    assert back.cfg == sae.cfg and back.info == sae.info
    for name in ("W_enc", "b_lat", "W_dec", "b_pre", "threshold"):
        assert torch.equal(getattr(back, name), getattr(sae, name)), name
    meta = json.loads((tmp_path / "m" / "cfg.json").read_text())
    assert meta["sae"]["latent_dim"] == 24 and meta["voicesae_version"]
    assert not back.training


def test_load_errors_name_the_file(tmp_path):
    d = tmp_path / "m"
    with pytest.raises(VoicesaeError, match="cfg.json: missing"):
        SparseAutoencoder.load(d)
    model().save(d)
    (d / "cfg.json").write_text("{not json")
    with pytest.raises(VoicesaeError, match=r"cfg.json: not valid JSON"):
        SparseAutoencoder.load(d)
    (d / "cfg.json").write_text(json.dumps({"format": "sparsify"}))
    with pytest.raises(VoicesaeError, match="field 'format' is 'sparsify'.*not a voicesae SAE"):
        SparseAutoencoder.load(d)
    model().save(d)
    other = tmp_path / "o"
    model("relu").save(other)
    (d / "cfg.json").write_bytes((other / "cfg.json").read_bytes())
    with pytest.raises(VoicesaeError, match="embedded config differs"):
        SparseAutoencoder.load(d)
    model().save(d)
    (d / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(VoicesaeError, match="model.safetensors: not a readable safetensors file"):
        SparseAutoencoder.load(d)


def test_save_is_atomic(tmp_path, monkeypatch):
    d = tmp_path / "m"
    model().save(d)
    good = (d / "model.safetensors").read_bytes()
    import voicesae_core.sae.model as sae_mod

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(sae_mod, "save_file", boom)
    with pytest.raises(OSError):
        model("relu").save(d)
    assert (d / "model.safetensors").read_bytes() == good
    assert [p.name for p in d.iterdir()] and not list(d.glob("*.tmp"))
