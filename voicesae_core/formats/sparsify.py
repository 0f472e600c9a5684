"""EleutherAI sparsify's disk format, both ways: ``cfg.json`` + ``sae.safetensors``, as
``sparsify.SparseCoder.load_from_disk`` reads and ``save_to_disk`` writes it.

sparsify computes ``pre = ReLU(encoder(x - b_dec))``, keeps the top k of ``pre``, and decodes
``acts @ W_dec + b_dec``; encoder.weight and W_dec are both (num_latents, d_in), as ours. ReLU then
TopK keeps the same values as our TopK then ReLU (a negative value is zero either way), so

    encoder.weight = W_enc    encoder.bias = b_lat    W_dec = W_dec    b_dec = b_pre

is exact for topk. sparsify has no ReLU-with-L1 or BatchTopK SAE (those are refused on export), and
its GroupMax activation, skip connection and transcoders have no counterpart in ours (refused on import).
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import VoicesaeError
from ..files import read_json, write_json
from ..sae.model import SparseAutoencoder
from .folder import build, ours

CFG, WEIGHTS = "cfg.json", "sae.safetensors"
OURS = "voicesae.json"
"""Our config and training record beside sparsify's files (sparsify prints every unknown cfg.json field)."""
TENSORS = ("encoder.weight", "encoder.bias", "W_dec", "b_dec")


def check(sae: SparseAutoencoder) -> None:
    """Refuse an SAE sparsify cannot hold: it has TopK (and GroupMax) only."""
    if sae.cfg.activation != "topk":
        raise VoicesaeError(f"--format sparsify: {sae.cfg.name} is a {sae.cfg.activation} SAE; sparsify's "
                            "SparseCoder is TopK (or GroupMax) only; export it with --format saelens")


def write(sae: SparseAutoencoder, directory: Path) -> None:
    """Write ``sae`` (TopK) into ``directory`` in sparsify's format."""
    check(sae)
    L, d = sae.W_dec.shape
    cfg = {"activation": "topk", "expansion_factor": max(1, L // d), "normalize_decoder": True, "num_latents": L,
           "k": sae.cfg.k, "multi_topk": False, "skip_connection": False, "transcode": False, "d_in": d}
    tensors = {"encoder.weight": sae.W_enc, "encoder.bias": sae.b_lat, "W_dec": sae.W_dec, "b_dec": sae.b_pre}
    save_file({n: t.detach().to("cpu", torch.float32).contiguous() for n, t in tensors.items()}, str(directory / WEIGHTS))
    write_json(directory / CFG, cfg)
    write_json(directory / OURS, ours(sae))


def read(directory: Path, k: int | None = None) -> SparseAutoencoder:
    """The sparsify SparseCoder in ``directory`` as ours (``k`` is not used: the file says K)."""
    cfg_path, st_path = directory / CFG, directory / WEIGHTS
    cfg = read_json(cfg_path)  # a missing file is an error naming it
    if not isinstance(cfg, dict):
        raise VoicesaeError(f"{cfg_path}: expected a JSON object")
    if cfg.get("activation", "topk") != "topk":
        raise VoicesaeError(f"{cfg_path}: field 'activation' is {cfg['activation']!r}; voicesae reads sparsify's "
                            "topk SAEs only (GroupMax keeps one latent per group, which ours cannot)")
    for field, why in (("skip_connection", "a linear skip connection x W_skip^T added to the output"),
                       ("transcode", "a transcoder (it predicts another module's output, not its input)")):
        if cfg.get(field):
            raise VoicesaeError(f"{cfg_path}: field {field!r} is true: {why}, which our SAE has no term for")
    kk = cfg.get("k")
    if not isinstance(kk, int) or isinstance(kk, bool) or kk < 1:
        raise VoicesaeError(f"{cfg_path}: field 'k' is {kk!r}; expected a positive integer")
    try:
        t = load_file(str(st_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise VoicesaeError(f"{st_path}: not a readable safetensors file ({e})") from None
    missing, extra = set(TENSORS) - set(t), set(t) - set(TENSORS)
    if missing:
        raise VoicesaeError(f"{st_path}: tensor(s) {sorted(missing)} missing (a SparseCoder saved without its "
                            "decoder cannot reconstruct)" if "W_dec" in missing else
                            f"{st_path}: tensor(s) {sorted(missing)} missing")
    if extra:
        raise VoicesaeError(f"{st_path}: tensor(s) {sorted(extra)}: terms our SAE does not have")
    notes = ("multi_topk: a training loss only; inference is TopK",) if cfg.get("multi_topk") else ()
    saved = read_json(directory / OURS) if (directory / OURS).is_file() else None
    return build(directory, "sparsify", st_path, activation="topk", W_enc=t["encoder.weight"],
                 b_lat=t["encoder.bias"], W_dec=t["W_dec"], b_pre=t["b_dec"], k=kk, saved=saved, notes=notes)
