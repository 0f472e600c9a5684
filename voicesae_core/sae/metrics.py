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
from .model import SparseAutoencoder


class Metrics(NamedTuple):
    fvu: float
    nmse: float
    l0: float
    dead_frac: float
    cosine: float
    density: np.ndarray

    def summary(self) -> dict:
        """The scalar metrics as a dict (density summarised by its median)."""
        return {"fvu": self.fvu, "nmse": self.nmse, "l0": self.l0, "dead_frac": self.dead_frac,
                "cosine": self.cosine, "median_density": float(np.median(self.density))}


@torch.no_grad()
def evaluate(sae: SparseAutoencoder, x, batch_size: int = 16384) -> Metrics:
    """All metrics of ``sae`` (in eval mode) on ``x`` (n, d_in), accumulated in float64."""
    was_training = sae.training
    sae.eval()
    dev = sae.W_dec.device
    x = as_data(x, "evaluation data")
    n = x.shape[0]
    if x.shape[1] != sae.cfg.d_in:
        raise VoicesaeError(f"evaluation data: dimension {x.shape[1]}, but the SAE {sae.cfg.name} takes {sae.cfg.d_in}")
    sq_err = sum_x = sum_x2 = nmse = cos = l0 = 0.0
    fired = torch.zeros(sae.cfg.latent_dim, dtype=torch.float64, device=dev)
    for s in range(0, n, batch_size):
        xb = x[s:s + batch_size].to(dev)
        out = sae(xb)
        xb64, xh64 = xb.double(), out.x_hat.double()
        err = (xb64 - xh64).pow(2).sum(1)
        norm2 = xb64.pow(2).sum(1)
        sq_err += float(err.sum())
        sum_x = sum_x + xb64.sum(0)
        sum_x2 += float(norm2.sum())
        nmse += float((err / norm2.clamp_min(1e-30)).sum())
        cos += float(torch.nn.functional.cosine_similarity(xb64, xh64, dim=1).sum())
        active = out.v > 0
        l0 += float(active.sum())
        fired += active.sum(0).double()
    total_var = sum_x2 - float(sum_x.pow(2).sum()) / n  # sum_i ||x_i - mean||^2
    if n < 2 or total_var <= 1e-12 * sum_x2:
        # FVU is relative to the data's variance: undefined for one row or identical rows.
        sae.train(was_training)
        raise VoicesaeError(f"evaluation data: {'one row' if n < 2 else f'all {n} rows are the same'} (variance 0); "
                            "the fraction of variance unexplained is undefined")
    sae.train(was_training)
    density = (fired / n).cpu().numpy()
    return Metrics(fvu=sq_err / total_var if total_var > 0 else float("nan"), nmse=nmse / n, l0=l0 / n,
                   dead_frac=float((density == 0).mean()), cosine=cos / n, density=density)
