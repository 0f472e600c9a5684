"""Sparse TopK kernels: selection, decoding and the backward pass through the active latents only.

TopK leaves K of ``latent_dim`` latents active per sample, so after the dense encoder product
nothing needs to touch the inactive ones: decoding gathers K decoder rows, and the gradients
of ``W_enc``, ``W_dec`` and ``b_lat`` only touch rows of latents that fired. A batch's active
latents are a ``SparseCode``: ``idx[i, j]`` is a latent index, ``act[i, j] >= 0`` its value
(0 marks an empty or ReLU-zeroed slot, which contributes nothing).

Two back ends, same results (``tests/test_kernels.py`` checks both against autograd through
the dense model in ``sae.py``):

* ``numba`` (CPU): parallel loops with float32 accumulators (so LLVM vectorises them); every
  sum runs in a fixed order, so results do not depend on the thread count;
* ``torch`` (any device; the CUDA path): gathers and ``index_add_``.

Decoding uses ``torch.nn.functional.embedding_bag`` on both: it is a weighted sum of rows,
and torch's kernel for it is faster than a hand-written gather.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import torch
import torch.nn.functional as F


class SparseCode(NamedTuple):
    """Active latents of a batch: ``idx`` (n, k) int64 latent indices, ``act`` (n, k) values >= 0."""

    idx: torch.Tensor
    act: torch.Tensor


def resolve_backend(backend: str, device: torch.device) -> str:
    if backend == "auto":
        return "numba" if device.type == "cpu" else "torch"
    if backend == "numba" and device.type != "cpu":
        raise ValueError("the numba back end runs on the CPU only; use backend='torch' on CUDA")
    return backend


# ----------------------------------------------------------------------------- selection


def topk(z: torch.Tensor, k: int, backend: str = "torch") -> SparseCode:
    """Per row, the k largest pre-activations, then ReLU (so fewer than k may be active)."""
    if backend == "numba":
        zc = z.detach().contiguous()
        idx = np.empty((zc.shape[0], k), np.int64)
        val = np.empty((zc.shape[0], k), np.float32)
        _topk_rows(zc.numpy(), k, idx, val)
        return SparseCode(torch.from_numpy(idx), torch.from_numpy(val).clamp_(min=0))
    vals, idx = torch.topk(z.detach(), k, dim=-1, sorted=False)
    return SparseCode(idx, vals.clamp_(min=0))


def batch_topk(z: torch.Tensor, k: int, backend: str = "torch") -> tuple[SparseCode, torch.Tensor]:
    """BatchTopK: keep the k * n largest pre-activations of the whole batch (any row may get more
    or fewer than k), then ReLU. Returns the code (rows padded with zero activations to the
    busiest row's count) and the smallest kept value (the batch's threshold)."""
    n = z.shape[0]
    z = z.detach()
    kept = torch.topk(z.reshape(-1), min(k * n, z.numel()), sorted=False).values
    threshold = kept.min()
    selected = z >= threshold
    width = int(selected.sum(1).max())
    code = topk(torch.where(selected, z, torch.full_like(z, -torch.inf)), max(width, 1), backend)
    act = torch.nan_to_num(code.act, neginf=0.0, posinf=0.0)  # padding slots picked -inf -> 0
    return SparseCode(code.idx, act), threshold


@numba.njit(parallel=True, cache=True)
def _topk_rows(z, k, idx_out, val_out):  # pragma: no cover - compiled
    # A size-k min-heap per row: one comparison for most elements, a log k sift for the rest.
    # Strict ">" keeps the earlier index on ties.
    n, m = z.shape
    for i in numba.prange(n):
        vals = val_out[i]
        ids = idx_out[i]
        for j in range(k):
            vals[j] = z[i, j]
            ids[j] = j
            c = j
            while c > 0:
                p = (c - 1) >> 1
                if vals[c] < vals[p]:
                    vals[c], vals[p] = vals[p], vals[c]
                    ids[c], ids[p] = ids[p], ids[c]
                    c = p
                else:
                    break
        for j in range(k, m):
            v = z[i, j]
            if v > vals[0]:
                vals[0] = v
                ids[0] = j
                c = 0
                while True:
                    s = 2 * c + 1
                    if s >= k:
                        break
                    if s + 1 < k and vals[s + 1] < vals[s]:
                        s += 1
                    if vals[s] < vals[c]:
                        vals[c], vals[s] = vals[s], vals[c]
                        ids[c], ids[s] = ids[s], ids[c]
                        c = s
                    else:
                        break


# ------------------------------------------------------------------------------- decoding


def decode(code: SparseCode, w_dec: torch.Tensor) -> torch.Tensor:
    """sum_j act[i, j] * w_dec[idx[i, j]] for each row i (no bias)."""
    return F.embedding_bag(code.idx, w_dec.detach(), per_sample_weights=code.act, mode="sum")


# ------------------------------------------------------------------------------- backward


def grad_act(code: SparseCode, w_dec: torch.Tensor, grad_out: torch.Tensor, backend: str) -> torch.Tensor:
    """dL/d(pre-activation) at the active slots: <grad_out[i], w_dec[idx[i, j]]>, zero where act == 0
    (the ReLU gate; TopK's selection passes gradients straight through to the kept entries)."""
    if backend == "numba":
        out = np.empty(code.idx.shape, np.float32)
        _dots(code.idx.numpy(), code.act.numpy(), w_dec.detach().numpy(), grad_out.contiguous().numpy(), out)
        return torch.from_numpy(out)
    dots = torch.bmm(w_dec.detach()[code.idx], grad_out.unsqueeze(-1)).squeeze(-1)
    return torch.where(code.act > 0, dots, torch.zeros_like(dots))


def accumulate_latent_grads(code: SparseCode, g_act: torch.Tensor, grad_out: torch.Tensor, xc: torch.Tensor,
                            gw_dec: torch.Tensor, gw_enc: torch.Tensor, gb_lat: torch.Tensor, backend: str) -> None:
    """Add, over active slots (i, j) with l = idx[i, j]:
    gw_dec[l] += act[i, j] * grad_out[i];  gw_enc[l] += g_act[i, j] * xc[i];  gb_lat[l] += g_act[i, j]."""
    if backend == "numba":
        _latent_grads(code.idx.numpy(), code.act.numpy(), g_act.numpy(), grad_out.contiguous().numpy(),
                      xc.contiguous().numpy(), gw_dec.numpy(), gw_enc.numpy(), gb_lat.numpy())
        return
    flat = code.idx.reshape(-1)
    d = grad_out.shape[1]
    gw_dec.index_add_(0, flat, (code.act.unsqueeze(-1) * grad_out.unsqueeze(1)).reshape(-1, d))
    gw_enc.index_add_(0, flat, (g_act.unsqueeze(-1) * xc.unsqueeze(1)).reshape(-1, d))
    gb_lat.index_add_(0, flat, g_act.reshape(-1))


@numba.njit(parallel=True, fastmath=True, cache=True)
def _dots(idx, act, w, g, out):  # pragma: no cover - compiled
    n, k = idx.shape
    d = w.shape[1]
    for i in numba.prange(n):
        for j in range(k):
            if act[i, j] > 0.0:
                row = idx[i, j]
                s = np.float32(0.0)
                for t in range(d):
                    s += g[i, t] * w[row, t]
                out[i, j] = s
            else:
                out[i, j] = np.float32(0.0)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _latent_grads(idx, act, g_act, grad_out, xc, gw_dec, gw_enc, gb_lat):  # pragma: no cover - compiled
    # A stable counting sort groups the active (sample, slot) pairs by latent; each latent's
    # sums then run in sample order on one thread: deterministic, and free of write races.
    n, k = idx.shape
    m, d = gw_dec.shape
    start = np.zeros(m + 1, np.int64)
    for i in range(n):
        for j in range(k):
            if act[i, j] > 0.0:
                start[idx[i, j] + 1] += 1
    for l in range(m):
        start[l + 1] += start[l]
    fill = start[:-1].copy()
    rows = np.empty(start[m], np.int64)
    slots = np.empty(start[m], np.int64)
    for i in range(n):
        for j in range(k):
            if act[i, j] > 0.0:
                p = fill[idx[i, j]]
                rows[p] = i
                slots[p] = j
                fill[idx[i, j]] = p + 1
    for l in numba.prange(m):
        gb = np.float32(0.0)
        for p in range(start[l], start[l + 1]):
            i = rows[p]
            a = act[i, slots[p]]
            ga = g_act[i, slots[p]]
            gb += ga
            for t in range(d):
                gw_dec[l, t] += a * grad_out[i, t]
                gw_enc[l, t] += ga * xc[i, t]
        gb_lat[l] += gb
