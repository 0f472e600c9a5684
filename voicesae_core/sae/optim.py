"""The optimizer step on the CPU: Adam with the unit-norm decoder, in one numba call.

One step of training does, after the gradients are known (``trainer.GridMember.step``):

    g_dec[l] -= <g_dec[l], W_dec[l]> W_dec[l]      project: move decoder rows along the unit sphere
    Adam on W_enc, b_lat, W_dec, b_pre              torch.optim.Adam's update (its fused kernel's formula)
    W_dec[l] /= ||W_dec[l]||                         renormalise the decoder rows

With torch that is about a dozen dispatches and a Python optimizer wrapper per model and step,
which cost more than the arithmetic at the small batches that small data train with. Here it is
one call. The moments live in ``state`` exactly as ``torch.optim.Adam`` keeps them (``step``,
``exp_avg``, ``exp_avg_sq`` per parameter), so checkpoints are the same either way.
``tests/sae/test_optim.py`` checks a step against torch.optim.Adam with the same constraint.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import torch

from .kernels import _pick, _serial_twin


class UnitNormAdam:
    """Adam over a SparseAutoencoder's (W_enc, b_lat, W_dec, b_pre), keeping decoder rows at unit norm.

    ``params``: the four parameters (CPU, float32, contiguous), their ``.grad`` set before ``step``."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas: tuple[float, float], eps: float):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        """Per parameter: ``step`` (0-d float32), ``exp_avg`` and ``exp_avg_sq`` (its shape)."""

    def step(self) -> None:
        if not self.state:
            for p in self.params:
                self.state[p] = {"step": torch.zeros(()), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
        st = [self.state[p] for p in self.params]
        for s in st:
            s["step"] += 1
        step = float(st[0]["step"])
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1 ** step)
        bc2_sqrt = math.sqrt(1 - beta2 ** step)
        view = [t.detach().numpy() for t in self.params]
        grad = [p.grad.numpy() for p in self.params]
        avg = [s["exp_avg"].numpy() for s in st]
        avg_sq = [s["exp_avg_sq"].numpy() for s in st]
        _pick(_adam_unit_decoder, _adam_unit_decoder_1, view[0].size)(
            *view, *grad, *avg, *avg_sq, np.float32(step_size), np.float32(bc2_sqrt),
            np.float32(beta1), np.float32(beta2), np.float32(1 - beta1), np.float32(1 - beta2), np.float32(self.eps))


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _adam(p, g, m, v, step_size, bc2_sqrt, beta1, beta2, one_b1, one_b2, eps):  # pragma: no cover - compiled
    # torch's fused Adam: m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2;
    # p -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with step_size = lr / (1 - beta1^t).
    # (1 - beta) comes in computed in float64, as torch computes it, not as float32(1) - float32(beta).
    for t in range(p.shape[0]):
        m[t] += one_b1 * (g[t] - m[t])
        v[t] = beta2 * v[t] + one_b2 * g[t] * g[t]
        p[t] -= step_size * m[t] / (np.sqrt(v[t]) / bc2_sqrt + eps)


@numba.njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _adam_unit_decoder(w_enc, b_lat, w_dec, b_pre, g_enc, g_blat, g_dec, g_bpre, m_enc, m_blat, m_dec, m_bpre,
                       v_enc, v_blat, v_dec, v_bpre, step_size, bc2_sqrt, beta1, beta2, one_b1, one_b2, eps):  # pragma: no cover - compiled
    for l in numba.prange(w_dec.shape[0]):
        w, g = w_dec[l], g_dec[l]
        along = np.float32(0.0)
        for t in range(w.shape[0]):
            along += g[t] * w[t]
        for t in range(w.shape[0]):
            g[t] -= along * w[t]
        _adam(w, g, m_dec[l], v_dec[l], step_size, bc2_sqrt, beta1, beta2, one_b1, one_b2, eps)
        sq = np.float32(0.0)
        for t in range(w.shape[0]):
            sq += w[t] * w[t]
        norm = np.sqrt(sq)
        for t in range(w.shape[0]):
            w[t] /= norm
        _adam(w_enc[l], g_enc[l], m_enc[l], v_enc[l], step_size, bc2_sqrt, beta1, beta2, one_b1, one_b2, eps)
    _adam(b_lat, g_blat, m_blat, v_blat, step_size, bc2_sqrt, beta1, beta2, one_b1, one_b2, eps)
    _adam(b_pre, g_bpre, m_bpre, v_bpre, step_size, bc2_sqrt, beta1, beta2, one_b1, one_b2, eps)


_adam_unit_decoder_1 = _serial_twin(_adam_unit_decoder)
