"""The sparse autoencoder of Fig. 1: speaker embedding e -> sparse latents v -> reconstruction epsilon.

Semantics of OpenAI's reference implementation (github.com/openai/sparse_autoencoder), which
the paper built on::

    v_pre = W_enc (e - b_pre) + b_lat
    v     = ReLU(TopK(v_pre))          # keep the K largest, zero the rest; ReLU may zero more
    eps   = W_dec v + b_pre            # decoder columns have unit norm

Shapes here: ``W_enc`` and ``W_dec`` are both stored (latent_dim, d_in), so row l of ``W_dec``
is decoder column l of the formula above (the direction latent l writes). This module is the
plain, dense, autograd-friendly definition; ``trainer.py`` trains it faster by touching only
the K active latents, and the tests prove the two agree.

Saved as ``model.safetensors`` + ``cfg.json`` (never pickled).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..version import __version__
from . import kernels
from .config import SAEConfig
from ..errors import VoicesaeError
from ..files import atomic_path, read_json, write_json

FORMAT = "voicesae.sae"
FORMAT_VERSION = 1
PARAMS = ("W_enc", "b_lat", "W_dec", "b_pre")


class SAEOutput(NamedTuple):
    """What a forward pass returns: the reconstruction and both latent views."""

    x_hat: torch.Tensor
    """epsilon, the reconstruction (n, d_in)."""
    v: torch.Tensor
    """v, the sparse latents after activation (n, latent_dim)."""
    v_pre: torch.Tensor
    """The latents before activation (n, latent_dim)."""


class SparseAutoencoder(nn.Module):
    """A TopK, BatchTopK or ReLU sparse autoencoder; ``cfg.d_in`` must be set."""

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        if cfg.d_in is None:
            raise VoicesaeError("SparseAutoencoder: cfg.d_in is not set (use SAEConfig.resolved or set d_in)")
        self.cfg = cfg
        L, d = cfg.latent_dim, cfg.d_in
        self.W_enc = nn.Parameter(torch.zeros(L, d))
        self.b_lat = nn.Parameter(torch.zeros(L))
        self.W_dec = nn.Parameter(torch.zeros(L, d))
        self.b_pre = nn.Parameter(torch.zeros(d))
        # BatchTopK at inference: a latent fires when v_pre exceeds this (learned while training).
        self.register_buffer("threshold", torch.zeros(()))
        self.info: dict = {}  # training provenance, saved into cfg.json

    @classmethod
    def initialised(cls, cfg: SAEConfig, b_pre: torch.Tensor | None = None) -> "SparseAutoencoder":
        """Fresh weights from ``cfg.seed``: unit-norm decoder rows, W_enc = W_dec (i.e. the encoder
        is the decoder transposed in the paper's column convention), b_lat = 0, b_pre as given
        (the trainer passes the data's geometric median)."""
        sae = cls(cfg)
        gen = torch.Generator().manual_seed(cfg.seed)
        w = torch.randn(cfg.latent_dim, cfg.d_in, generator=gen)
        w /= w.norm(dim=1, keepdim=True)
        with torch.no_grad():
            sae.W_dec.copy_(w)
            sae.W_enc.copy_(w)
            if b_pre is not None:
                sae.b_pre.copy_(b_pre)
        return sae

    # ------------------------------------------------------------------ forward pass

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        """v_pre = W_enc (x - b_pre) + b_lat."""
        if x.shape[-1] != self.W_enc.shape[1]:
            raise VoicesaeError(f"SAE {self.cfg.name}: trained on {self.W_enc.shape[1]}-dimensional embeddings, "
                                f"given {x.shape[-1]}-dimensional data (a grid from other data?)")
        return torch.addmm(self.b_lat, x - self.b_pre, self.W_enc.T)

    def activate(self, v_pre: torch.Tensor) -> torch.Tensor:
        """The activation as a dense (n, latent_dim) tensor. BatchTopK selects over the batch
        while training (``self.training``) and uses the learned threshold otherwise."""
        act = self.cfg.activation
        if act == "relu":
            return torch.relu(v_pre)
        if act == "batchtopk" and not self.training:
            return torch.where(v_pre > self.threshold, torch.relu(v_pre), torch.zeros_like(v_pre))
        if act == "batchtopk":
            code, _ = kernels.batch_topk(v_pre, self.cfg.k)
        else:
            code = kernels.topk(v_pre, self.cfg.k, kernels.resolve_backend("auto", v_pre.device))
        # Gather the selected entries from v_pre itself so autograd flows through them.
        vals = torch.relu(v_pre.gather(1, code.idx)) * (code.act > 0)
        return torch.zeros_like(v_pre).scatter(1, code.idx, vals)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """v, the sparse latents of x."""
        return self.activate(self.encode_pre(x))

    def decode(self, v: torch.Tensor) -> torch.Tensor:
        """epsilon = W_dec v + b_pre."""
        return torch.addmm(self.b_pre, v, self.W_dec)

    def forward(self, x: torch.Tensor) -> SAEOutput:
        v_pre = self.encode_pre(x)
        v = self.activate(v_pre)
        return SAEOutput(self.decode(v), v, v_pre)

    # ------------------------------------------------------------------ constraints

    @torch.no_grad()
    def project_decoder_grad(self) -> None:
        """Remove from each decoder row's gradient its component along the row, so a step moves
        the row along the unit sphere (OpenAI's unit_norm_decoder_grad_adjustment_)."""
        g = self.W_dec.grad
        g -= (g * self.W_dec).sum(1, keepdim=True) * self.W_dec

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale each decoder row to unit norm (after every optimizer step)."""
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True)

    @torch.no_grad()
    def fold_input_scale(self, scale: float) -> None:
        """Make this model, trained on inputs multiplied by ``scale``, take raw inputs:
        afterwards model(x) == old_model(scale * x) / scale, and the latents are in raw units.
        Only biases (and the BatchTopK threshold) change, so decoder rows stay unit-norm."""
        self.b_pre /= scale
        self.b_lat /= scale
        self.threshold /= scale

    # ------------------------------------------------------------------ files

    def config_json(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "voicesae_version": __version__,
                "sae": self.cfg.to_dict(), "info": self.info}

    def save(self, directory: str | Path) -> Path:
        """Write ``model.safetensors`` and ``cfg.json`` into ``directory`` (each atomically).
        The safetensors header carries the same config, so a mismatched pair is detected."""
        directory = Path(directory)
        meta = self.config_json()
        tensors = {name: getattr(self, name).detach().cpu().contiguous() for name in PARAMS}
        tensors["threshold"] = self.threshold.detach().cpu().reshape(1)
        with atomic_path(directory / "model.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata={"cfg": json.dumps(meta, sort_keys=True)})
        write_json(directory / "cfg.json", meta)
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> "SparseAutoencoder":
        """Read a model written by ``save``; every problem is a VoicesaeError naming the file."""
        directory = Path(directory)
        cfg_path, st_path = directory / "cfg.json", directory / "model.safetensors"
        for p in (cfg_path, st_path):
            if not p.is_file():
                raise VoicesaeError(f"{p}: missing (a saved SAE is a folder with cfg.json and model.safetensors)")
        meta = read_json(cfg_path)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise VoicesaeError(f"{cfg_path}: field 'format' is {meta.get('format') if isinstance(meta, dict) else None!r}, "
                                f"expected {FORMAT!r}: not a voicesae SAE")
        if meta.get("format_version") != FORMAT_VERSION:
            raise VoicesaeError(f"{cfg_path}: field 'format_version' {meta.get('format_version')!r} is not supported")
        try:
            cfg = SAEConfig.from_dict(meta["sae"])
        except (KeyError, TypeError) as e:
            raise VoicesaeError(f"{cfg_path}: field 'sae' is incomplete ({e})") from None
        except VoicesaeError as e:
            raise VoicesaeError(f"{cfg_path}: field 'sae': {e}") from None
        try:
            tensors = load_file(str(st_path))
            from safetensors import safe_open
            with safe_open(str(st_path), "pt") as f:
                header = (f.metadata() or {}).get("cfg")
        except (SafetensorError, OSError, ValueError) as e:
            raise VoicesaeError(f"{st_path}: not a readable safetensors file ({e})") from None
        if header is None or json.loads(header) != meta:
            raise VoicesaeError(f"{st_path}: its embedded config differs from {cfg_path} (files from different saves?)")
        sae = cls(cfg)
        for name in (*PARAMS, "threshold"):
            if name not in tensors:
                raise VoicesaeError(f"{st_path}: tensor {name!r} missing")
            want = getattr(sae, name).shape
            t = tensors[name].reshape(want) if name == "threshold" else tensors[name]
            if t.shape != want:
                raise VoicesaeError(f"{st_path}: tensor {name!r} has shape {tuple(t.shape)}, cfg.json implies {tuple(want)}")
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise VoicesaeError(f"{st_path}: tensor {name!r} holds NaN or inf (a model that diverged?)")
            with torch.no_grad():
                getattr(sae, name).copy_(t)
        sae.info = meta.get("info", {})
        return sae.to(device).eval()
