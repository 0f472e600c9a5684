"""SAELens 6's disk format, both ways: ``cfg.json`` + ``sae_weights.safetensors``, as
``sae_lens.SAE.load_from_disk`` reads and ``SAE.save_model`` writes it.

SAELens computes ``acts = act(( x - b_dec * apply_b_dec_to_input) @ W_enc + b_enc)``, ``x_hat =
acts @ W_dec + b_dec``, with W_enc (d_in, d_sae) and W_dec (d_sae, d_in). Ours maps as

    W_enc = ours.W_enc^T    b_enc = b_lat    W_dec = ours.W_dec    b_dec = b_pre

and our activations as architectures: topk -> "topk" (TopK, then ReLU, as ours), relu ->
"standard", batchtopk -> "jumprelu" (BatchTopK at inference is one threshold for all latents;
JumpReLU's is per latent, so ours is written into each). Read back: ``apply_b_dec_to_input``
false folds W_enc b_dec into b_lat, ``rescale_acts_by_decoder_norm`` folds the decoder norms into
the encoder (both exact up to float32 rounding); a JumpReLU threshold that differs between latents,
a run-time input normalisation and the other architectures are refused with the reason.
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

CFG, WEIGHTS = "cfg.json", "sae_weights.safetensors"
SAELENS_VERSION = "6.54.12"
"""The SAELens release written into ``metadata.sae_lens_version`` (the one the round-trip tests load with)."""

ARCHITECTURE = {"topk": "topk", "relu": "standard", "batchtopk": "jumprelu"}
"""Our activation -> SAELens's architecture."""


def check(sae: SparseAutoencoder) -> None:
    """Every activation of ours has a SAELens architecture: nothing to refuse."""


def write(sae: SparseAutoencoder, directory: Path) -> None:
    """Write ``sae`` into ``directory`` in SAELens 6's format."""
    act, (L, d) = sae.cfg.activation, sae.W_dec.shape
    cfg = {"architecture": ARCHITECTURE[act], "d_in": d, "d_sae": L, "dtype": "float32", "device": "cpu",
           "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
           "metadata": {"sae_lens_version": SAELENS_VERSION, "sae_lens_training_version": None,
                        "hook_name": "speaker_embedding", "voicesae": ours(sae)}}
    if act == "topk":
        cfg.update(k=sae.cfg.k, rescale_acts_by_decoder_norm=False)
    tensors = {"W_enc": sae.W_enc.detach().T, "b_enc": sae.b_lat.detach(), "W_dec": sae.W_dec.detach(),
               "b_dec": sae.b_pre.detach()}
    if act == "batchtopk":
        tensors["threshold"] = sae.threshold.detach().expand(L)
    save_file({n: t.to("cpu", torch.float32).contiguous() for n, t in tensors.items()}, str(directory / WEIGHTS))
    write_json(directory / CFG, cfg)


def read(directory: Path, k: int | None = None) -> SparseAutoencoder:
    """The SAELens SAE in ``directory`` as ours (``k``: K for a jumprelu SAE, whose files lack it)."""
    cfg_path, st_path = directory / CFG, directory / WEIGHTS
    cfg = read_json(cfg_path)
    if not isinstance(cfg, dict):
        raise VoicesaeError(f"{cfg_path}: expected a JSON object")
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    arch = cfg.get("architecture") or "standard"
    # Before SAELens 6 a TopK SAE was "standard" with activation_fn(_str) "topk" (as SAELens reads it too)
    field = "activation_fn" if "activation_fn" in cfg else "activation_fn_str"
    fn = cfg.get(field)
    if fn is not None and fn not in ("relu", "topk"):
        raise VoicesaeError(f"{cfg_path}: field {field!r} is {fn!r}; voicesae reads relu and topk activations")
    if fn == "topk" and arch == "standard":
        arch = "topk"
        if cfg.get("k") is None:
            cfg["k"] = (cfg.get("activation_fn_kwargs") or {}).get("k")
    if k is not None and arch != "jumprelu":
        raise VoicesaeError(f"--k {k}: only for a jumprelu SAE; {cfg_path} describes a {arch} SAE, whose K "
                            "(if any) is in its files")
    if arch not in ("topk", "standard", "jumprelu"):
        raise VoicesaeError(f"{cfg_path}: field 'architecture' is {arch!r}; voicesae reads topk, standard and "
                            "jumprelu SAEs (the others compute latents our SAE cannot)")
    norm = cfg.get("normalize_activations", "none")
    if norm not in ("none", None, False):
        raise VoicesaeError(f"{cfg_path}: field 'normalize_activations' is {norm!r}: SAELens rescales the input "
                            "at run time, which our SAE has no step for; fold it into the weights in SAELens "
                            "(sae.fold_activation_norm_scaling_factor(...)) and save again")
    if cfg.get("reshape_activations", "none") not in ("none", None):
        raise VoicesaeError(f"{cfg_path}: field 'reshape_activations' is {cfg['reshape_activations']!r}; "
                            "voicesae reads SAEs on flat vectors only")
    try:
        t = load_file(str(st_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise VoicesaeError(f"{st_path}: not a readable safetensors file ({e})") from None
    need = {"W_enc", "b_enc", "W_dec", "b_dec"} | ({"threshold"} if arch == "jumprelu" else set())
    if need - set(t):
        raise VoicesaeError(f"{st_path}: tensor(s) {sorted(need - set(t))} missing")
    if set(t) - need:
        raise VoicesaeError(f"{st_path}: tensor(s) {sorted(set(t) - need)}: terms our SAE does not have "
                            f"(a {arch} SAE holds {sorted(need)})")
    t = {n: v.to(torch.float64) for n, v in t.items()}  # folds below in float64, stored as float32
    if t["W_enc"].ndim != 2:
        raise VoicesaeError(f"{st_path}: W_enc has shape {tuple(t['W_enc'].shape)}; expected (d_in, d_sae)")
    d_in, d_sae = t["W_enc"].shape
    want = {"b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,), "threshold": (d_sae,)}
    for name in sorted(set(t) & set(want)):
        if tuple(t[name].shape) != want[name]:
            raise VoicesaeError(f"{st_path}: {name} has shape {tuple(t[name].shape)}; W_enc {(d_in, d_sae)} "
                                f"implies {want[name]}")
    W_enc, b_lat, W_dec, b_pre = t["W_enc"].T, t["b_enc"], t["W_dec"], t["b_dec"]
    notes = []
    if cfg.get("apply_b_dec_to_input", True) is False:
        if W_enc.shape[1] != b_pre.shape[0]:
            raise VoicesaeError(f"{st_path}: W_enc {tuple(t['W_enc'].shape)} and b_dec {tuple(b_pre.shape)} disagree")
        b_lat = b_lat + W_enc @ b_pre
        notes.append("apply_b_dec_to_input false: W_enc b_dec folded into b_lat")
    if arch == "topk" and cfg.get("rescale_acts_by_decoder_norm"):
        n = W_dec.norm(dim=1)
        if not bool((n > 0).all()):
            raise VoicesaeError(f"{st_path}: decoder row {int((n == 0).nonzero()[0])} is zero, and "
                                "rescale_acts_by_decoder_norm divides by its norm")
        W_enc, b_lat, W_dec = W_enc * n[:, None], b_lat * n, W_dec / n[:, None]
        notes.append("rescale_acts_by_decoder_norm: decoder norms folded into the encoder")
    saved = meta.get("voicesae")
    if arch == "topk":
        kk = cfg.get("k")
        if not isinstance(kk, int) or isinstance(kk, bool) or kk < 1:
            raise VoicesaeError(f"{cfg_path}: field 'k' is {kk!r}; a topk SAE needs a positive integer K")
        return build(directory, "saelens", st_path, activation="topk", W_enc=W_enc, b_lat=b_lat, W_dec=W_dec,
                     b_pre=b_pre, k=kk, saved=saved, notes=tuple(notes))
    if arch == "standard":
        return build(directory, "saelens", st_path, activation="relu", W_enc=W_enc, b_lat=b_lat, W_dec=W_dec,
                     b_pre=b_pre, saved=saved, notes=tuple(notes))
    thr = t["threshold"].reshape(-1)
    if thr.numel() and not bool((thr == thr[0]).all()):
        raise VoicesaeError(f"{st_path}: a JumpReLU threshold per latent ({float(thr.min()):.4g} to "
                            f"{float(thr.max()):.4g}); our SAE has one threshold for all latents (BatchTopK at "
                            "inference), so this SAE cannot be represented")
    if k is None and saved and isinstance(saved, dict) and isinstance(saved.get("sae"), dict):
        k = saved["sae"].get("k")  # our own export: the record says K (a --k given wins)
    if k is None:
        raise VoicesaeError(f"{cfg_path}: a jumprelu SAE with one threshold reads as our BatchTopK, which needs "
                            "its K (the average number of latents per sample it was trained for); give --k")
    return build(directory, "saelens", st_path, activation="batchtopk", W_enc=W_enc, b_lat=b_lat, W_dec=W_dec,
                 b_pre=b_pre, k=k, threshold=float(thr[0]) if thr.numel() else 0.0, saved=saved,
                 notes=tuple(notes) + ("jumprelu with one threshold for all latents read as batchtopk",))

