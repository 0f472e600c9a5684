"""SAELens 6, both ways, checked with the real sae-lens package: the same inputs give the same
latents and reconstructions within 1e-5, and what cannot map is refused with the reason."""
import json

import pytest
import torch
from sae_lens import SAE
from sae_lens.saes.jumprelu_sae import JumpReLUSAE, JumpReLUSAEConfig
from sae_lens.saes.standard_sae import StandardSAE, StandardSAEConfig
from sae_lens.saes.topk_sae import TopKSAE, TopKSAEConfig

from foreign_saes import close
from voicesae_core import VoicesaeError
from voicesae_core.formats import export_sae, read_sae


@pytest.mark.parametrize("activation, architecture", [("topk", "TopKSAE"), ("relu", "StandardSAE"),
                                                      ("batchtopk", "JumpReLUSAE")])
def test_ours_exported_loads_in_saelens_and_computes_the_same(trained, tmp_path, activation, architecture):
    models, x = trained
    sae = models[activation]
    out = export_sae(sae, "saelens", tmp_path / "exported")
    theirs = SAE.load_from_disk(str(out))
    assert type(theirs).__name__ == architecture
    with torch.no_grad():
        ours = sae(x)
        acts = theirs.encode(x)
        close(acts, ours.v)
        close(theirs.decode(acts), ours.x_hat)
        assert int((ours.v > 0).sum()) > 0  # not a comparison of two zero tensors
    # and back: the same model, with our config and training record
    back = read_sae(out)
    assert back.cfg == sae.cfg and back.info == sae.info
    with torch.no_grad():
        assert torch.equal(back(x).x_hat, ours.x_hat)


def saelens_topk(apply_b_dec_to_input, rescale):
    g = torch.Generator().manual_seed(5)
    sae = TopKSAE(TopKSAEConfig(d_in=24, d_sae=40, k=5, apply_b_dec_to_input=apply_b_dec_to_input,
                                rescale_acts_by_decoder_norm=rescale))
    with torch.no_grad():
        for p in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec):
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return sae


@pytest.mark.parametrize("apply_b_dec_to_input, rescale", [(True, False), (False, False), (True, True), (False, True)])
def test_a_saelens_topk_sae_imported_computes_the_same(trained, tmp_path, apply_b_dec_to_input, rescale):
    _, x = trained
    theirs = saelens_topk(apply_b_dec_to_input, rescale)
    theirs.save_model(tmp_path / "theirs")
    ours = read_sae(tmp_path / "theirs")
    assert (ours.cfg.activation, ours.cfg.latent_dim, ours.cfg.k, ours.cfg.d_in) == ("topk", 40, 5, 24)
    assert ours.info["imported"]["format"] == "saelens"
    with torch.no_grad():
        acts = theirs.encode(x)
        out = ours(x)
        close(out.v, acts)
        close(out.x_hat, theirs.decode(acts))
    # random decoder rows are said, not hidden; rescale_acts_by_decoder_norm is folded into unit-norm rows
    assert ours.info["imported"]["decoder_unit_norm"] is rescale


def test_standard_and_uniform_jumprelu_import_and_a_threshold_per_latent_is_refused(trained, tmp_path):
    _, x = trained
    g = torch.Generator().manual_seed(6)
    std = StandardSAE(StandardSAEConfig(d_in=24, d_sae=30))
    jump = JumpReLUSAE(JumpReLUSAEConfig(d_in=24, d_sae=30))
    with torch.no_grad():
        for sae in (std, jump):
            for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
                p = getattr(sae, name)
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        jump.threshold.fill_(0.3)
    std.save_model(tmp_path / "std")
    jump.save_model(tmp_path / "jump")
    with torch.no_grad():
        ours = read_sae(tmp_path / "std")
        assert ours.cfg.activation == "relu"
        close(ours(x).x_hat, std(x))
        with pytest.raises(VoicesaeError, match="give --k"):
            read_sae(tmp_path / "jump")
        ours = read_sae(tmp_path / "jump", k=4)
        assert (ours.cfg.activation, ours.cfg.k) == ("batchtopk", 4)
        close(ours(x).v, jump.encode(x))
        close(ours(x).x_hat, jump(x))
        jump.threshold[3] = 0.5
    jump.save_model(tmp_path / "per_latent")
    with pytest.raises(VoicesaeError, match="threshold per latent"):
        read_sae(tmp_path / "per_latent", k=4)


@pytest.mark.parametrize("field, value, message", [
    ("normalize_activations", "layer_norm", "rescales the input at run time"),
    ("normalize_activations", "expected_average_only_in", "fold_activation_norm_scaling_factor"),
    ("architecture", "gated", "'architecture' is 'gated'"),
    ("k", None, "field 'k' is None"),
])
def test_what_cannot_map_is_refused_naming_the_file_and_field(tmp_path, field, value, message):
    saelens_topk(True, False).save_model(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "cfg.json").read_text())
    cfg[field] = value
    (tmp_path / "m" / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(VoicesaeError, match=message) as err:
        read_sae(tmp_path / "m")
    assert "cfg.json" in str(err.value)


def test_weights_changed_after_export_are_imported_as_a_foreign_model(trained, tmp_path):
    models, _ = trained
    out = export_sae(models["topk"], "saelens", tmp_path / "exported")
    theirs = SAE.load_from_disk(str(out))
    with torch.no_grad():
        theirs.b_enc += 0.01  # fine-tuned elsewhere, saved with our record still in its metadata
    meta = json.loads((out / "cfg.json").read_text())["metadata"]
    theirs.cfg.metadata.voicesae = meta["voicesae"]
    theirs.save_model(tmp_path / "tuned")
    back = read_sae(tmp_path / "tuned")
    assert "train_data_sha256" not in back.info
    assert back.info["imported"]["notes"][-1].startswith("weights changed since voicesae exported them")


def test_a_pre_6_topk_config_reads_as_topk_and_an_unknown_activation_is_refused(tmp_path):
    """Before SAELens 6 a TopK SAE said "standard" with activation_fn_str "topk" and its K in
    activation_fn_kwargs (SAELens reads it as topk too)."""
    theirs = saelens_topk(True, False)
    theirs.save_model(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "cfg.json").read_text())
    old = {k: v for k, v in cfg.items() if k not in ("architecture", "k", "metadata")}
    old.update(activation_fn_str="topk", activation_fn_kwargs={"k": 5})
    (tmp_path / "m" / "cfg.json").write_text(json.dumps(old))
    ours = read_sae(tmp_path / "m")
    assert (ours.cfg.activation, ours.cfg.k) == ("topk", 5)
    old["activation_fn_str"] = "tanh-relu"
    (tmp_path / "m" / "cfg.json").write_text(json.dumps(old))
    with pytest.raises(VoicesaeError, match="field 'activation_fn_str' is 'tanh-relu'"):
        read_sae(tmp_path / "m")


def test_an_export_whose_k_was_edited_is_a_foreign_model_with_that_k(trained, tmp_path):
    models, x = trained
    out = export_sae(models["topk"], "saelens", tmp_path / "exported")
    cfg = json.loads((out / "cfg.json").read_text())
    cfg["k"] = 3  # to evaluate at another K, as SAELens then computes
    (out / "cfg.json").write_text(json.dumps(cfg))
    back = read_sae(out)
    assert back.cfg.k == 3 and "train_data_sha256" not in back.info
    assert back.info["imported"]["notes"][-1].startswith("K changed since voicesae exported it (6 -> 3)")
    with torch.no_grad():
        close(back(x).x_hat, SAE.load_from_disk(str(out))(x))


def test_k_is_refused_where_it_means_nothing_and_bad_files_are_named(trained, tmp_path):
    models, _ = trained
    out = export_sae(models["topk"], "saelens", tmp_path / "exported")
    with pytest.raises(VoicesaeError, match=r"--k 4: only for a jumprelu SAE; .*cfg.json describes a topk SAE"):
        read_sae(out, k=4)
    sp = export_sae(models["topk"], "sparsify", tmp_path / "sp")
    with pytest.raises(VoicesaeError, match=r"--k 4: only for a SAELens jumprelu SAE; .* is a sparsify SAE"):
        read_sae(sp, k=4)
    (out / "cfg.json").unlink()
    with pytest.raises(VoicesaeError, match=r"exported/cfg.json: cannot be read"):
        read_sae(out)
    theirs = saelens_topk(True, True)
    with torch.no_grad():
        theirs.W_dec[2] = 0
    theirs.save_model(tmp_path / "zero")
    with pytest.raises(VoicesaeError, match="decoder row 2 is zero"):
        read_sae(tmp_path / "zero")
    from safetensors.torch import load_file, save_file
    t = load_file(str(tmp_path / "zero" / "sae_weights.safetensors"))
    t["W_dec"] = t["W_dec"][:, :-1].contiguous()
    save_file(t, str(tmp_path / "zero" / "sae_weights.safetensors"))
    with pytest.raises(VoicesaeError, match=r"W_dec has shape \(40, 23\); W_enc \(24, 40\) implies \(40, 24\)"):
        read_sae(tmp_path / "zero")
