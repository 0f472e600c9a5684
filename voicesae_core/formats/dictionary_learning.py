"""dictionary_learning's checkpoints, read only: ``ae.pt`` (a state dict) + ``config.json`` (whose
``trainer.dict_class`` names the class), the format AudioSAE publishes its SAEs in.

``ae.pt`` is read with ``torch.load(weights_only=True)``: tensors only, never code. The classes
read, and how (decoder.weight is (d_in, dict_size), the transpose of ours):

* ``AutoEncoderTopK``: ``ReLU(encoder(x - b_dec))``, top k -> our topk (ReLU then TopK keeps the same values)
* ``BatchTopKSAE``: ``f * (f > threshold)``, f = ``ReLU(encoder(x - b_dec))``, one threshold -> our batchtopk
* ``AutoEncoder``: ``ReLU(encoder(x - bias))``, decoded ``decoder(f) + bias`` -> our relu

Others (gated, JumpReLU with a threshold per latent, Matryoshka) are refused with the reason.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from ..errors import VoicesaeError
from ..files import read_json
from ..sae.model import SparseAutoencoder
from .folder import build

CFG, WEIGHTS = "config.json", "ae.pt"
CLASSES = {  # dict_class -> (our activation, the state dict's keys)
    "AutoEncoderTopK": ("topk", {"encoder.weight", "encoder.bias", "decoder.weight", "b_dec", "k", "threshold"}),
    "BatchTopKSAE": ("batchtopk", {"encoder.weight", "encoder.bias", "decoder.weight", "b_dec", "k", "threshold"}),
    "AutoEncoder": ("relu", {"encoder.weight", "encoder.bias", "decoder.weight", "bias"}),
}


def read(directory: Path, k: int | None = None) -> SparseAutoencoder:
    """The dictionary_learning SAE in ``directory`` as ours (``k`` is not used: ae.pt holds K)."""
    cfg_path, pt_path = directory / CFG, directory / WEIGHTS
    if not cfg_path.is_file():
        raise VoicesaeError(f"{cfg_path}: missing; it names the dictionary class (trainer.dict_class), without "
                            "which a TopK and a BatchTopK checkpoint look the same")
    cfg = read_json(cfg_path)
    trainer = cfg.get("trainer") if isinstance(cfg, dict) else None
    cls = trainer.get("dict_class") if isinstance(trainer, dict) else None
    if cls not in CLASSES:
        raise VoicesaeError(f"{cfg_path}: field 'trainer.dict_class' is {cls!r}; voicesae reads "
                            f"{', '.join(CLASSES)} (the others compute latents our SAE cannot)")
    activation, keys = CLASSES[cls]
    try:
        state = torch.load(pt_path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        raise VoicesaeError(f"{pt_path}: not a readable tensors-only checkpoint ({str(e).splitlines()[0]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise VoicesaeError(f"{pt_path}: expected a state dict (names -> tensors), got {type(state).__name__}")
    if keys - set(state):
        raise VoicesaeError(f"{pt_path}: tensor(s) {sorted(keys - set(state))} missing for a {cls}")
    if set(state) - keys:
        raise VoicesaeError(f"{pt_path}: tensor(s) {sorted(set(state) - keys)}: terms a {cls} (and our SAE) "
                            "does not have")
    dec = state["decoder.weight"]
    if dec.ndim != 2:
        raise VoicesaeError(f"{pt_path}: decoder.weight has shape {tuple(dec.shape)}; expected (d_in, dict_size)")
    b_pre = state["bias"] if cls == "AutoEncoder" else state["b_dec"]
    kk, threshold = 0, 0.0
    if cls != "AutoEncoder":
        if state["k"].numel() != 1:
            raise VoicesaeError(f"{pt_path}: tensor 'k' has shape {tuple(state['k'].shape)}; expected one number")
        kk = int(state["k"])
        theirs = trainer.get("k")
        if theirs is not None and theirs != kk:
            raise VoicesaeError(f"{cfg_path}: trainer.k is {theirs!r}, {pt_path.name} holds k = {kk}")
        if cls == "BatchTopKSAE":  # AutoEncoderTopK keeps one too, unused by its encode()
            threshold = float(state["threshold"])
    notes = ()
    if cls == "BatchTopKSAE" and threshold < 0:
        notes = (f"threshold {threshold:g} < 0 (never set by training): every positive latent fires",)
    return build(directory, "dictionary_learning", pt_path, activation=activation, W_enc=state["encoder.weight"],
                 b_lat=state["encoder.bias"], W_dec=dec.T, b_pre=b_pre, k=kk, threshold=threshold, notes=notes)
