"""The geometric median, which initialises the SAE's pre-bias b_pre (as OpenAI's trainer does).

The geometric median m minimises sum_i ||x_i - m||: a robust centre of the data, unlike the
mean not pulled by outliers (hold-music segments, say). Weiszfeld's algorithm: repeatedly
take the average of the points weighted by 1 / distance to the current estimate.
"""
from __future__ import annotations

import torch

from ..errors import VoicesaeError


def geometric_median(x: torch.Tensor, max_iter: int = 200, tol: float = 1e-7, eps: float = 1e-12) -> torch.Tensor:
    """Weiszfeld iterations from the mean, in float64; stops when the estimate moves less than
    ``tol`` (relative to the data's scale). Returns a float32 vector of x's width."""
    if x.ndim != 2 or x.shape[0] == 0:
        raise VoicesaeError(f"geometric_median needs a non-empty 2-D array, got shape {tuple(x.shape)}")
    pts = x.detach().to(torch.float64)
    m = pts.mean(0)
    scale = pts.std(0).norm().clamp_min(eps)
    for _ in range(max_iter):
        w = 1.0 / (pts - m).norm(dim=1).clamp_min(eps)
        new = (w[:, None] * pts).sum(0) / w.sum()
        moved = (new - m).norm() / scale
        m = new
        if moved < tol:
            break
    return m.to(torch.float32)
