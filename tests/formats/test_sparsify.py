"""sparsify, both ways, checked with the real eai-sparsify package (SparseCoder)."""
import json

import pytest
import torch
from sparsify import SparseCoder, SparseCoderConfig

from foreign_saes import close
from voicesae_core import VoicesaeError
from voicesae_core.formats import export_sae, read_sae


def dense(enc, latents):
    """sparsify's (top_acts, top_indices) as a dense (n, latents) tensor."""
    return torch.zeros(enc.top_acts.shape[0], latents).scatter(1, enc.top_indices, enc.top_acts)


def test_ours_exported_loads_in_sparsify_and_computes_the_same(trained, tmp_path):
    models, x = trained
    sae = models["topk"]
    out = export_sae(sae, "sparsify", tmp_path / "exported")
    theirs = SparseCoder.load_from_disk(out)
    with torch.no_grad():
        ours = sae(x)
        enc = theirs.encode(x)
        close(dense(enc, sae.cfg.latent_dim), ours.v)
        close(theirs.decode(enc.top_acts, enc.top_indices), ours.x_hat)
        assert int((ours.v > 0).sum()) > 0
    back = read_sae(out)
    assert back.cfg == sae.cfg and back.info == sae.info


@pytest.mark.parametrize("normalize_decoder", [True, False])
def test_a_sparsify_sae_imported_computes_the_same(trained, tmp_path, normalize_decoder):
    _, x = trained
    theirs = SparseCoder(24, SparseCoderConfig(num_latents=40, k=6, normalize_decoder=normalize_decoder))
    with torch.no_grad():
        g = torch.Generator().manual_seed(8)
        theirs.encoder.bias.copy_(torch.randn(40, generator=g) * 0.3)
        theirs.b_dec.copy_(torch.randn(24, generator=g))
        if not normalize_decoder:
            theirs.W_dec.mul_(torch.rand(40, 1, generator=g) + 0.5)
    theirs.save_to_disk(tmp_path / "theirs")
    ours = read_sae(tmp_path / "theirs")
    assert (ours.cfg.activation, ours.cfg.latent_dim, ours.cfg.k) == ("topk", 40, 6)
    with torch.no_grad():
        enc = theirs.encode(x)
        out = ours(x)
        close(out.v, dense(enc, 40))
        close(out.x_hat, theirs.decode(enc.top_acts, enc.top_indices))


@pytest.mark.parametrize("field, value, message", [("activation", "groupmax", "GroupMax"),
                                                   ("skip_connection", True, "skip connection"),
                                                   ("transcode", True, "transcoder"),
                                                   ("k", 0, "field 'k' is 0")])
def test_what_cannot_map_is_refused(tmp_path, field, value, message):
    SparseCoder(24, SparseCoderConfig(num_latents=40, k=6)).save_to_disk(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "cfg.json").read_text())
    cfg[field] = value
    (tmp_path / "m" / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(VoicesaeError, match=message):
        read_sae(tmp_path / "m")


@pytest.mark.parametrize("activation", ["relu", "batchtopk"])
def test_an_sae_sparsify_cannot_hold_is_refused_before_anything_is_written(trained, tmp_path, activation):
    models, _ = trained
    with pytest.raises(VoicesaeError, match="TopK .*only; export it with --format saelens"):
        export_sae(models[activation], "sparsify", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
