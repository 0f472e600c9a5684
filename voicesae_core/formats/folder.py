"""What the formats share: which format a folder holds, our model built from mapped weights, and a
folder written whole (into a temporary sibling, renamed at the end: never half a folder).

An exported folder carries our config and training record (``metadata.voicesae`` in SAELens,
``voicesae.json`` beside sparsify's files) with a hash of the weights as exported; importing it back
restores them only when the weights still hash the same, so a model fine-tuned elsewhere is
imported as a foreign one rather than claiming our training record.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import torch

from ..errors import VoicesaeError
from ..files import check_output, sha256_file
from ..sae.config import SAEConfig
from ..sae.model import PARAMS, SparseAutoencoder
from ..version import __version__

FORMATS = ("voicesae", "saelens", "sparsify", "dictionary_learning")
"""Formats ``read_sae`` reads; ``export_sae`` writes saelens and sparsify."""

EXPORTS = ("saelens", "sparsify")

_MARKERS = {"voicesae": "model.safetensors", "saelens": "sae_weights.safetensors",
            "sparsify": "sae.safetensors", "dictionary_learning": "ae.pt"}


def detect(path: str | os.PathLike) -> str:
    """The format of the SAE folder ``path``, from the weights file it holds."""
    p = Path(path)
    if not p.is_dir():
        raise VoicesaeError(f"{p}: not a folder (an SAE is a folder: cfg.json + model.safetensors (voicesae), "
                            "cfg.json + sae_weights.safetensors (SAELens), cfg.json + sae.safetensors (sparsify), "
                            "or config.json + ae.pt (dictionary_learning))")
    found = [fmt for fmt, name in _MARKERS.items() if (p / name).is_file()]
    if not found:
        raise VoicesaeError(f"{p}: holds none of model.safetensors (voicesae), sae_weights.safetensors (SAELens), "
                            "sae.safetensors (sparsify) or ae.pt (dictionary_learning)")
    if len(found) > 1:
        raise VoicesaeError(f"{p}: holds the weights of {len(found)} formats ({', '.join(found)}); "
                            "keep one SAE per folder")
    return found[0]


def read_sae(path: str | os.PathLike, k: int | None = None) -> SparseAutoencoder:
    """The SAE in folder ``path`` (any of ``FORMATS``) as our model, on the CPU, in eval mode.

    ``k``: K for a SAELens jumprelu SAE read as our BatchTopK (its files do not say it); refused otherwise.
    """
    from . import dictionary_learning, saelens, sparsify

    fmt = detect(path)
    if k is not None and fmt != "saelens":
        raise VoicesaeError(f"--k {k}: only for a SAELens jumprelu SAE; {path} is a {fmt} SAE, whose K is in its files")
    if fmt == "voicesae":
        return SparseAutoencoder.load(path)
    reader = {"saelens": saelens.read, "sparsify": sparsify.read, "dictionary_learning": dictionary_learning.read}[fmt]
    return reader(Path(path), k=k)


def export_sae(model: SparseAutoencoder | str | os.PathLike, fmt: str, out: str | os.PathLike) -> Path:
    """Write ``model`` (ours, or a folder of ours) as a new folder ``out`` in format ``fmt``."""
    from . import saelens, sparsify

    if fmt not in EXPORTS:
        raise VoicesaeError(f"--format {fmt!r}: expected one of {', '.join(EXPORTS)} "
                            "(dictionary_learning is read, not written)")
    inputs = [model] if not isinstance(model, SparseAutoencoder) else []
    check_output(out, inputs, "--out", kind="folder")
    sae = model if isinstance(model, SparseAutoencoder) else SparseAutoencoder.load(model)
    module = {"saelens": saelens, "sparsify": sparsify}[fmt]
    module.check(sae)  # refuse before anything is written
    return write_folder(out, lambda tmp: module.write(sae, tmp), source=inputs[0] if inputs else None)


def import_sae(path: str | os.PathLike, out: str | os.PathLike, k: int | None = None) -> Path:
    """Read the SAE folder ``path`` (any format) and save it as our model in the new folder ``out``."""
    check_output(out, [path], "--out", kind="folder")
    sae = read_sae(path, k=k)
    return write_folder(out, sae.save, source=path)


def write_folder(out: str | os.PathLike, write: Callable[[Path], object], source=None, replace: bool = False) -> Path:
    """Run ``write(tmp)`` on a fresh temporary folder beside ``out``, then rename it to ``out``.
    ``out`` must not lie inside the ``source`` folder (which is left as it was). Without ``replace``
    it must not exist or be an empty folder (an export never mixes with other files); with it, what
    was there is swapped out only once the new folder is whole, and put back if the swap fails."""
    out = Path(out)
    if source is not None and Path(source).resolve() in out.resolve().parents:
        raise VoicesaeError(f"--out {out}: lies inside the input folder {source}; choose a folder outside it")
    if not replace and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VoicesaeError(f"--out {out}: exists and is not an empty folder; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    old = out.parent / f".{out.name}.old"
    try:
        write(tmp)
        shutil.rmtree(old, ignore_errors=True)
        had = out.exists()
        if had:
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except OSError:
            if had:
                os.replace(old, out)  # what was there, back where it was
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ------------------------------------------------------------------ building our model

def weights_sha256(sae: SparseAutoencoder) -> str:
    """A hash of the weights the model computes with (W_enc, b_lat, W_dec, b_pre, and the threshold
    of a BatchTopK SAE), as float32 bytes."""
    h = hashlib.sha256()
    for name in (*PARAMS, "threshold") if sae.cfg.activation == "batchtopk" else PARAMS:
        h.update(getattr(sae, name).detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def ours(sae: SparseAutoencoder) -> dict:
    """What an exported folder carries of ours: the config, the training record and the weights' hash."""
    return {"voicesae_version": __version__, "sae": sae.cfg.to_dict(), "info": sae.info,
            "weights_sha256": weights_sha256(sae)}


def build(source: Path, fmt: str, weights_file: Path, *, activation: str, W_enc, b_lat, W_dec, b_pre,
          k: int = 0, threshold: float = 0.0, saved: dict | None = None, notes: tuple[str, ...] = ()) -> SparseAutoencoder:
    """Our model from weights already mapped to our convention (all (L, d) or (L,) / (d,) tensors).

    ``saved``: what ``ours`` wrote into the folder at export, restored if the weights still match.
    Otherwise ``info["imported"]`` records the source, its format, the weights file's hash and
    ``notes`` (what the mapping did), and the config is the plain one of this activation and K.
    """
    W_dec = torch.as_tensor(W_dec)
    if W_dec.ndim != 2:
        raise VoicesaeError(f"{weights_file}: the decoder has shape {tuple(W_dec.shape)}; expected (latents, d_in)")
    L, d = W_dec.shape
    want = {"W_enc": (L, d), "b_lat": (L,), "W_dec": (L, d), "b_pre": (d,)}
    tensors = {"W_enc": W_enc, "b_lat": b_lat, "W_dec": W_dec, "b_pre": b_pre}
    for name, t in tensors.items():
        t = torch.as_tensor(t)
        if tuple(t.shape) != want[name]:
            raise VoicesaeError(f"{weights_file}: {name} maps to shape {tuple(t.shape)}, expected {want[name]} "
                                f"for {L} latents of dimension {d}")
        if not bool(torch.isfinite(t).all()):
            raise VoicesaeError(f"{weights_file}: {name} holds NaN or inf")
        tensors[name] = t.to(torch.float32)
    try:
        cfg = SAEConfig(latent_dim=L, k=k if activation != "relu" else 0, activation=activation, d_in=d)
    except VoicesaeError as e:
        raise VoicesaeError(f"{weights_file}: {e}") from None
    sae = SparseAutoencoder(cfg)
    with torch.no_grad():
        for name, t in tensors.items():
            getattr(sae, name).copy_(t)
        sae.threshold.fill_(float(threshold))
    changed = ""
    if saved and isinstance(saved, dict) and saved.get("weights_sha256") == weights_sha256(sae):
        try:
            restored = SAEConfig.from_dict(saved["sae"])
        except (KeyError, TypeError, VoicesaeError) as e:
            raise VoicesaeError(f"{source}: its voicesae record is unreadable ({e})") from None
        if (restored.latent_dim, restored.d_in, restored.activation) != (L, d, activation):
            raise VoicesaeError(f"{source}: its voicesae record describes {restored.name} (d_in {restored.d_in}), "
                                f"the weights a {activation} SAE of {L} latents on {d} dimensions")
        if activation == "relu" or restored.k == cfg.k:
            sae.cfg = restored
            sae.info = dict(saved.get("info") or {})
            return sae.eval()
        changed = f"K changed since voicesae exported it ({restored.k} -> {cfg.k}): imported as a foreign model"
    elif saved:
        changed = "weights changed since voicesae exported them: imported as a foreign model"
    norms = W_dec.to(torch.float64).norm(dim=1)
    sae.info = {"imported": {"format": fmt, "from": str(Path(source).resolve()), "weights_file": weights_file.name,
                             "weights_sha256": sha256_file(weights_file),
                             "decoder_unit_norm": bool(torch.allclose(norms, torch.ones_like(norms), atol=1e-4)),
                             "notes": list(notes) + ([changed] if changed else [])}}
    return sae.eval()
