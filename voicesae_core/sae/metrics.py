"""Evaluation metrics of a trained SAE over a whole evaluation set (streamed in batches).

Definitions (x: an input row, x_hat its reconstruction, v its latents, n rows, mean over rows):

* ``fvu``  fraction of variance unexplained = sum_i ||x_i - x_hat_i||^2 / sum_i ||x_i - mean(x)||^2,
  both sums over the whole evaluation set. Predicting the mean gives exactly 1, a perfect
  reconstruction 0. (Not the per-dimension explained-variance average of SAELens <= 6.18 or
  SAEBench, which is a different, and there wrong, quantity.)
* ``nmse`` per-sample normalised MSE = mean_i ||x_i - x_hat_i||^2 / ||x_i||^2.
* ``l0``   mean_i #{l : v_il > 0}, the active latents per sample (<= K for TopK).
* ``density`` per latent, the fraction of samples on which it fires (v_il > 0).
* ``dead_frac`` the fraction of latents with density 0 on this set.
* ``cosine`` mean_i cos(x_i, x_hat_i).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..arrays import as_data
from ..errors import VoicesaeError
from . import kernels
from .model import SparseAutoencoder


class Metrics(NamedTuple):
    fvu: float
    nmse: float
    l0: float
    dead_frac: float
    cosine: float
    density: np.ndarray

    SUMMARY = ("fvu", "nmse", "l0", "dead_frac", "cosine", "median_density")
    """The keys of ``summary()`` (what the trainer saves with a model and puts in its table)."""

    def summary(self) -> dict:
        """The scalar metrics as a dict (density summarised by its median)."""
        return {"fvu": self.fvu, "nmse": self.nmse, "l0": self.l0, "dead_frac": self.dead_frac,
                "cosine": self.cosine, "median_density": float(np.median(self.density))}


@torch.no_grad()
def evaluate(sae: SparseAutoencoder, x, batch_size: int = 16384) -> Metrics:
    """All metrics of ``sae`` (in eval mode) on ``x`` (n, d_in): one pass of the encoder, per-row
    quantities in float32 and their sums over rows in float64.

    A TopK model decodes sparsely (K decoder rows per sample, as it trains): the dense (n, latent_dim)
    code is never formed, so what it costs is the encoder product and the top-k selection."""
    x = as_data(x, "evaluation data")
    if x.shape[1] != sae.cfg.d_in:
        raise VoicesaeError(f"evaluation data: dimension {x.shape[1]}, but the SAE {sae.cfg.name} takes {sae.cfg.d_in}")
    return evaluate_checked(sae, x, batch_size)


@torch.no_grad()
def evaluate_checked(sae: SparseAutoencoder, x: torch.Tensor, batch_size: int = 16384) -> Metrics:
    """``evaluate`` on data already through ``as_data`` (the trainer's: its finiteness check reads
    every value, which costs as much as a third of the evaluation)."""
    was_training = sae.training
    sae.eval()
    dev = sae.W_dec.device
    n = x.shape[0]
    sums = torch.zeros(5, dtype=torch.float64, device=dev)  # squared error, ||x||^2, nmse, cosine, l0
    sum_x = torch.zeros(sae.cfg.d_in, dtype=torch.float64, device=dev)
    fired = torch.zeros(sae.cfg.latent_dim, dtype=torch.int64, device=dev)
    try:
        for s in range(0, n, batch_size):
            xb = x[s:s + batch_size].to(dev)
            x_hat, fired_b = _reconstruct(sae, xb)
            err = (xb - x_hat).pow(2).sum(1)
            norm2 = xb.pow(2).sum(1)
            cos = (xb * x_hat).sum(1) / (norm2.sqrt() * x_hat.pow(2).sum(1).sqrt()).clamp_min(1e-8)
            sums += torch.stack([err.sum(dtype=torch.float64), norm2.sum(dtype=torch.float64),
                                 (err / norm2.clamp_min(1e-30)).sum(dtype=torch.float64),
                                 cos.sum(dtype=torch.float64), fired_b.sum(dtype=torch.float64)])
            sum_x += xb.sum(0, dtype=torch.float64)
            fired += fired_b
    finally:
        sae.train(was_training)
    sq_err, sum_x2, nmse, cos, l0 = sums.tolist()
    total_var = sum_x2 - float(sum_x.pow(2).sum()) / n  # sum_i ||x_i - mean||^2
    if n < 2 or total_var <= 1e-12 * sum_x2:
        # FVU is relative to the data's variance: undefined for one row or identical rows.
        raise VoicesaeError(f"evaluation data: {'one row' if n < 2 else f'all {n} rows are the same'} (variance 0); "
                            "the fraction of variance unexplained is undefined")
    density = (fired.double() / n).cpu().numpy()
    return Metrics(fvu=sq_err / total_var, nmse=nmse / n, l0=l0 / n,
                   dead_frac=float((density == 0).mean()), cosine=cos / n, density=density)


def _reconstruct(sae: SparseAutoencoder, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_hat, on how many of the batch's samples each latent fired) for a batch."""
    v_pre = sae.encode_pre(xb)
    if sae.cfg.activation == "topk":
        code = kernels.topk(v_pre, sae.cfg.k, kernels.resolve_backend("auto", v_pre.device))
        # Integer sums: the same in any order, so deterministic on a GPU too.
        fired = torch.zeros(sae.cfg.latent_dim, dtype=torch.int64, device=v_pre.device)
        fired.scatter_add_(0, code.idx.reshape(-1), (code.act > 0).reshape(-1).long())
        return kernels.decode(code, sae.W_dec) + sae.b_pre, fired
    v = sae.activate(v_pre)  # ReLU and BatchTopK's threshold: dense by nature
    return sae.decode(v), (v > 0).sum(0)
