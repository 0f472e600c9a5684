"""Sparse TopK kernels: selection, decoding and the backward pass through the active latents only.

TopK leaves K of ``latent_dim`` latents active per sample, so after the dense encoder product
nothing needs to touch the inactive ones: decoding gathers K decoder rows, and the gradients
of ``W_enc``, ``W_dec`` and ``b_lat`` only touch rows of latents that fired. A batch's active
latents are a ``SparseCode``: ``idx[i, j]`` is a latent index, ``act[i, j] >= 0`` its value
(0 marks an empty or ReLU-zeroed slot, which contributes nothing).

Two back ends, same results (``tests/test_kernels.py`` checks both against autograd through
the dense model in ``sae.py``):

* ``numba`` (CPU): parallel loops with float32 accumulators (so LLVM vectorises them); every
  sum runs in a fixed order, so results do not depend on the thread count. Each kernel has a
  single-threaded twin, used when the calling thread's numba thread count is 1 (the trainer's
  worker threads, which each train their own models);
* ``torch`` (any device; the CUDA path): gathers, and the latent gradients as two matrix
  products with the batch's code written out densely (n, latent_dim). CUDA's ``index_add_``
  adds with atomics in no fixed order, so it would make training differ run to run; a matrix
  product sums in a fixed order, and on a GPU its extra arithmetic is cheap.

The trainer's CPU path for TopK runs all of it in one call, ``topk_grads`` (the same steps,
plus AuxK and b_pre's gradient); the separate functions serve BatchTopK, evaluation and the
torch back end, and the tests check the fused call against autograd too.

Decoding uses ``torch.nn.functional.embedding_bag`` on both: it is a weighted sum of rows,
and torch's kernel for it is faster than a hand-written gather.
"""
from __future__ import annotations

import types
from typing import NamedTuple

import numba
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VoicesaeError


class SparseCode(NamedTuple):
    """Active latents of a batch: ``idx`` (n, k) int64 latent indices, ``act`` (n, k) values >= 0."""

    idx: torch.Tensor
    act: torch.Tensor


def _serial_twin(kernel):
    """The same kernel compiled without threads (prange runs as range), for worker threads that
    each train their own models: one launch of a threaded region per tiny call costs more there."""
    f = kernel.py_func
    twin = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_1", f.__defaults__, f.__closure__)
    twin.__qualname__ = f.__qualname__ + "_1"  # its own on-disk cache entry, apart from the threaded one
    opts = {k: v for k, v in kernel.targetoptions.items() if k in ("fastmath", "nogil", "error_model")}
    return numba.njit(cache=True, **opts)(twin)


PARALLEL_MIN_WORK = 1 << 17
"""Below this many elements of work a call runs single-threaded: a threaded region costs more than
it saves there, and with another busy process on the machine OpenMP's spinning threads made
thousands of tiny regions 10-30 x slower (two test workers, each training at batch 100)."""


def _pick(kernel, twin, work: int):
    return kernel if work >= PARALLEL_MIN_WORK and numba.get_num_threads() > 1 else twin


def resolve_backend(backend: str, device: torch.device) -> str:
    if backend == "auto":
        return "numba" if device.type == "cpu" else "torch"
    if backend == "numba" and device.type != "cpu":
        raise VoicesaeError("the numba back end runs on the CPU only; use backend='torch' on CUDA")
    return backend


# ----------------------------------------------------------------------------- selection


def topk(z: torch.Tensor, k: int, backend: str = "torch") -> SparseCode:
    """Per row, the k largest pre-activations, then ReLU (so fewer than k may be active)."""
    if backend == "numba":
        zc = z.detach().contiguous()
        idx = np.empty((zc.shape[0], k), np.int64)
        val = np.empty((zc.shape[0], k), np.float32)
        _pick(_topk_rows, _topk_rows_1, zc.numel())(zc.numpy(), k, idx, val)
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


@numba.njit(cache=True, nogil=True)
def _heap_topk(z, cols, count, k, vals, ids):  # pragma: no cover - compiled
    # The k largest of z[cols[:count]] by a size-k min-heap: one comparison for most elements,
    # a log k sift for the rest. Strict ">" keeps the earlier column on ties. (Measured faster
    # here than quickselect or counting ranks, whose branches mispredict as often.)
    for j in range(k):
        vals[j] = z[cols[j]]
        ids[j] = cols[j]
        c = j
        while c > 0:
            p = (c - 1) >> 1
            if vals[c] < vals[p]:
                vals[c], vals[p] = vals[p], vals[c]
                ids[c], ids[p] = ids[p], ids[c]
                c = p
            else:
                break
    for q in range(k, count):
        v = z[cols[q]]
        if v > vals[0]:
            vals[0] = v
            ids[0] = cols[q]
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


@numba.njit(cache=True, nogil=True)
def _topk_hint(z, k, everything):  # pragma: no cover - compiled
    # The smallest k-th largest value of a few probe rows: most rows have more than k entries above it.
    probe_vals = np.empty(k, z.dtype)
    probe_ids = np.empty(k, np.int64)
    hint = np.inf
    for i in range(min(z.shape[0], 32)):
        _heap_topk(z[i], everything, z.shape[1], k, probe_vals, probe_ids)
        hint = min(hint, probe_vals[0])
    return hint


@numba.njit(cache=True, nogil=True)
def _topk_row(row, k, hint, cols, everything, vals, ids):  # pragma: no cover - compiled
    # One branch-free pass keeps the entries above the hint (usually not many more than k); the
    # heap then runs over those. A row with fewer than k above the hint takes the whole row.
    count = 0
    for j in range(row.shape[0]):
        cols[count] = j
        count += row[j] > hint
    if count >= k:
        _heap_topk(row, cols, count, k, vals, ids)
    else:
        _heap_topk(row, everything, row.shape[0], k, vals, ids)


@numba.njit(parallel=True, cache=True, nogil=True)
def _topk_rows(z, k, idx_out, val_out):  # pragma: no cover - compiled
    # Exact per-row top-k (see _topk_row), in blocks of rows, one block per task.
    n, m = z.shape
    everything = np.arange(m)
    hint = _topk_hint(z, k, everything)
    block = 64
    for b in numba.prange((n + block - 1) // block):
        cols = np.empty(m, np.int64)
        for i in range(b * block, min(n, (b + 1) * block)):
            _topk_row(z[i], k, hint, cols, everything, val_out[i], idx_out[i])


# ------------------------------------------------------------------------------- decoding


def decode(code: SparseCode, w_dec: torch.Tensor) -> torch.Tensor:
    """sum_j act[i, j] * w_dec[idx[i, j]] for each row i (no bias)."""
    return F.embedding_bag(code.idx, w_dec.detach(), per_sample_weights=code.act, mode="sum")


# ------------------------------------------------------------------------------- backward


def residual(recon: torch.Tensor, target: torch.Tensor, scale: float, backend: str) -> tuple[torch.Tensor, float | torch.Tensor]:
    """grad_out = scale * (recon - target) and the summed squared error sum ||recon - target||^2
    (a float from numba; from torch a 0-d float64 tensor on the data's device)."""
    if backend == "numba":
        grad_out = np.empty(recon.shape, np.float32)
        row_sq = np.empty(recon.shape[0], np.float32)
        kernel = _pick(_residual, _residual_1, recon.numel())
        kernel(recon.contiguous().numpy(), target.contiguous().numpy(), np.float32(scale), grad_out, row_sq)
        return torch.from_numpy(grad_out), float(row_sq.sum(dtype=np.float64))
    diff = recon - target
    # The sum stays on the device (a float() here would wait for the GPU every step).
    return diff * scale, diff.pow(2).sum().double()


def grad_act(code: SparseCode, w_dec: torch.Tensor, grad_out: torch.Tensor, backend: str) -> torch.Tensor:
    """dL/d(pre-activation) at the active slots: <grad_out[i], w_dec[idx[i, j]]>, zero where act == 0
    (the ReLU gate; TopK's selection passes gradients straight through to the kept entries)."""
    if backend == "numba":
        out = np.empty(code.idx.shape, np.float32)
        kernel = _pick(_dots, _dots_1, grad_out.numel() * code.idx.shape[1])
        kernel(code.idx.numpy(), code.act.numpy(), w_dec.detach().numpy(), grad_out.contiguous().numpy(), out)
        return torch.from_numpy(out)
    dots = torch.bmm(w_dec.detach()[code.idx], grad_out.unsqueeze(-1)).squeeze(-1)
    return torch.where(code.act > 0, dots, torch.zeros_like(dots))


def accumulate_latent_grads(code: SparseCode, g_act: torch.Tensor, grad_out: torch.Tensor, xc: torch.Tensor,
                            gw_dec: torch.Tensor, gw_enc: torch.Tensor, gb_lat: torch.Tensor, backend: str) -> torch.Tensor:
    """Add, over active slots (i, j) with l = idx[i, j]:
    gw_dec[l] += act[i, j] * grad_out[i];  gw_enc[l] += g_act[i, j] * xc[i];  gb_lat[l] += g_act[i, j].
    Returns how many samples each latent fired on (act > 0)."""
    if backend == "numba":
        fired = np.zeros(gw_dec.shape[0], np.int64)
        kernel = _pick(_latent_grads, _latent_grads_1, grad_out.numel() * code.idx.shape[1])
        kernel(code.idx.numpy(), code.act.numpy(), g_act.numpy(), grad_out.contiguous().numpy(), xc.contiguous().numpy(),
               gw_dec.numpy(), gw_enc.numpy(), gb_lat.numpy(), fired, numba.get_num_threads())
        return torch.from_numpy(fired)
    # Dense (n, latent_dim) codes: a row's indices are distinct, so each scatter writes every
    # entry once (deterministic), and the sums over samples are matrix products (fixed order).
    n, m = code.idx.shape[0], gw_dec.shape[0]
    act = torch.zeros(n, m, dtype=grad_out.dtype, device=grad_out.device).scatter_(1, code.idx, code.act)
    g = torch.zeros_like(act).scatter_(1, code.idx, g_act)
    gw_dec.addmm_(act.T, grad_out)
    gw_enc.addmm_(g.T, xc)
    gb_lat.add_(g.sum(0))
    return (act > 0).sum(0)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _residual(recon, target, scale, grad_out, row_sq):  # pragma: no cover - compiled
    n, d = recon.shape
    for i in numba.prange(n):
        s = np.float32(0.0)
        for t in range(d):
            diff = recon[i, t] - target[i, t]
            grad_out[i, t] = scale * diff
            s += diff * diff
        row_sq[i] = s


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
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


@numba.njit(fastmath=True, cache=True, nogil=True)
def _latent_grads_range(idx, act, g_act, grad_out, xc, gw_dec, gw_enc, gb_lat, fired, lo, hi):  # pragma: no cover - compiled
    # The latent-gradient sums of latents lo..hi-1 only, every latent's in sample order.
    n, k = idx.shape
    d = gw_dec.shape[1]
    for i in range(n):
        for j in range(k):
            l = idx[i, j]
            a = act[i, j]
            if lo <= l < hi and a > 0.0:
                ga = g_act[i, j]
                fired[l] += 1
                gb_lat[l] += ga
                for t in range(d):
                    gw_dec[l, t] += a * grad_out[i, t]
                    gw_enc[l, t] += ga * xc[i, t]


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _latent_grads(idx, act, g_act, grad_out, xc, gw_dec, gw_enc, gb_lat, fired, parts):  # pragma: no cover - compiled
    # Each part (one per thread) owns a contiguous range of latents and scans every active slot,
    # updating only its own rows: no write races, no buffers, and every latent's sum runs in
    # sample order, so the result does not depend on the thread count.
    m = gw_dec.shape[0]
    for part in numba.prange(parts):
        _latent_grads_range(idx, act, g_act, grad_out, xc, gw_dec, gw_enc, gb_lat, fired,
                            part * m // parts, (part + 1) * m // parts)


# ------------------------------------------------------------ a TopK model's gradients, fused


def topk_grads(z: torch.Tensor, xc: torch.Tensor, w_enc: np.ndarray, w_dec: np.ndarray, k: int,
               since_fired: np.ndarray, dead_after: int, k_aux: int, aux_coef: float, grads: list[np.ndarray]) -> float:
    """A TopK model's whole backward pass on the CPU in one call (numba): what ``topk``, ``decode``,
    ``residual``, ``grad_act`` and ``accumulate_latent_grads`` do step by step, plus AuxK and
    b_pre's gradient, for a batch of n rows without a dispatch or an allocation per stage (at
    small batches those, not the arithmetic, were the cost: about 1.5 ms per model and step).

    ``z`` (n, latent_dim) pre-activations, ``xc`` (n, d_in) = x - b_pre; ``w_enc``, ``w_dec``
    (latent_dim, d_in) and ``since_fired`` (latent_dim,) int64 are numpy views of the model's
    tensors; ``since_fired`` is updated in place, and the dead mask (since_fired >= dead_after)
    taken after the update chooses AuxK's latents, as in ``loss.sae_loss``. ``grads`` are
    (W_enc, b_lat, W_dec, b_pre)'s gradient buffers, overwritten with the gradients of
    mean_i ||x_hat_i - x_i||^2 + aux_coef * AuxK. Returns the batch's summed squared error."""
    zc, xcc = z.detach().contiguous().numpy(), xc.detach().contiguous().numpy()
    g_enc, g_blat, g_dec, g_bpre = grads
    return float(_pick(_topk_grads, _topk_grads_1, zc.size)(zc, xcc, w_enc, w_dec, k, np.float32(2.0 / z.shape[0]), since_fired,
                                                   dead_after, k_aux, np.float32(aux_coef), g_enc, g_blat, g_dec, g_bpre,
                                                   numba.get_num_threads()))


@numba.njit(fastmath=True, cache=True, nogil=True)
def _decode_row(idx, act, w_dec, out):  # pragma: no cover - compiled
    out[:] = 0.0
    for j in range(idx.shape[0]):
        a = act[j]
        row = w_dec[idx[j]]  # hoisted: read inside the loop, it stops LLVM vectorising it (15 x slower)
        for t in range(out.shape[0]):
            out[t] += a * row[t]


@numba.njit(fastmath=True, cache=True, nogil=True)
def _dots_row(idx, act, w_dec, g, out):  # pragma: no cover - compiled
    for j in range(idx.shape[0]):
        s = np.float32(0.0)
        if act[j] > 0.0:
            row = w_dec[idx[j]]
            for t in range(g.shape[0]):
                s += g[t] * row[t]
        out[j] = s


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _topk_grads(z, xc, w_enc, w_dec, k, scale, since_fired, dead_after, k_aux, aux_coef,
                g_enc, g_blat, g_dec, g_bpre, parts):  # pragma: no cover - compiled
    n, m = z.shape
    d = xc.shape[1]
    idx = np.empty((n, k), np.int64)
    act = np.empty((n, k), np.float32)
    recon = np.empty((n, d), np.float32)
    grad_out = np.empty((n, d), np.float32)
    g_act = np.empty((n, k), np.float32)
    row_sq = np.empty(n, np.float32)
    fired = np.zeros(m, np.int64)
    everything = np.arange(m)
    hint = _topk_hint(z, k, everything)
    block = 64
    # Per row: top-k (ReLU'd), decode, residual (grad_out = scale * (x_hat - x)), dL/d(act).
    for b in numba.prange((n + block - 1) // block):
        cols = np.empty(m, np.int64)
        for i in range(b * block, min(n, (b + 1) * block)):
            _topk_row(z[i], k, hint, cols, everything, act[i], idx[i])
            for j in range(k):
                if act[i, j] < 0.0:
                    act[i, j] = 0.0
            _decode_row(idx[i], act[i], w_dec, recon[i])
            s = np.float32(0.0)
            for t in range(d):
                diff = recon[i, t] - xc[i, t]
                grad_out[i, t] = scale * diff
                s += diff * diff
            row_sq[i] = s
            _dots_row(idx[i], act[i], w_dec, grad_out[i], g_act[i])
    # Per latent range: the gradient sums and the dead-latent counters.
    for part in numba.prange(parts):
        lo, hi = part * m // parts, (part + 1) * m // parts
        g_enc[lo:hi] = 0.0
        g_dec[lo:hi] = 0.0
        g_blat[lo:hi] = 0.0
        _latent_grads_range(idx, act, g_act, grad_out, xc, g_dec, g_enc, g_blat, fired, lo, hi)
        for l in range(lo, hi):
            since_fired[l] = 0 if fired[l] > 0 else since_fired[l] + n
    # AuxK (loss.py): the dead latents' top k_aux pre-activations reconstruct e = x - x_hat.
    dead_ids = np.nonzero(since_fired >= dead_after)[0]
    if aux_coef > 0.0 and dead_ids.shape[0] > 0:
        ka = min(k_aux, dead_ids.shape[0])
        mean_e = np.zeros(d, np.float64)
        for i in range(n):
            for t in range(d):
                mean_e[t] += xc[i, t] - recon[i, t]
        mean_e /= n
        denom = 0.0
        for i in range(n):
            for t in range(d):
                c = (xc[i, t] - recon[i, t]) - mean_e[t]
                denom += c * c
        if denom > 0.0:
            aux_scale = np.float32(2.0 * aux_coef / denom)
            a_idx = np.empty((n, ka), np.int64)
            a_act = np.empty((n, ka), np.float32)
            a_out = np.empty((n, d), np.float32)
            a_gact = np.empty((n, ka), np.float32)
            for i in numba.prange(n):
                _heap_topk(z[i], dead_ids, dead_ids.shape[0], ka, a_act[i], a_idx[i])
                for j in range(ka):
                    if a_act[i, j] < 0.0:
                        a_act[i, j] = 0.0
                _decode_row(a_idx[i], a_act[i], w_dec, a_out[i])
                for t in range(d):
                    a_out[i, t] = (a_out[i, t] - (xc[i, t] - recon[i, t])) * aux_scale
                _dots_row(a_idx[i], a_act[i], w_dec, a_out[i], a_gact[i])
            unused = np.zeros(m, np.int64)
            for part in numba.prange(parts):
                _latent_grads_range(a_idx, a_act, a_gact, a_out, xc, g_dec, g_enc, g_blat, unused,
                                    part * m // parts, (part + 1) * m // parts)
    # b_pre enters twice: + b_pre in the decoder, - b_pre before the encoder.
    g_bpre[:] = 0.0
    for i in range(n):  # row by row (contiguous); each column still sums in sample order
        g_bpre += grad_out[i]
    for l in range(m):
        gl = g_blat[l]
        if gl != 0.0:
            for t in range(d):
                g_bpre[t] -= gl * w_enc[l, t]
    total = 0.0
    for i in range(n):
        total += row_sq[i]
    return total


_topk_rows_1 = _serial_twin(_topk_rows)
_residual_1 = _serial_twin(_residual)
_dots_1 = _serial_twin(_dots)
_latent_grads_1 = _serial_twin(_latent_grads)
_topk_grads_1 = _serial_twin(_topk_grads)
