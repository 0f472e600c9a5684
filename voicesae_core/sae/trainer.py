"""Train a whole grid of SAEs (latent_dim x K x activation x seed) in one pass of the data per epoch.

Each batch is read once and serves every model; each model keeps its own weights, Adam state
and dead-latent counters, so a model trained in a grid ends identical to the same config
trained alone (same seed and batch order; ``tests/test_trainer.py`` proves it).

Why it is fast on a CPU: the dense encoder product (x @ W_enc^T) is unavoidable, but TopK
makes everything after it sparse. Decoding gathers K decoder rows per sample, and the
backward pass (``kernels.py``) touches only the K active latents: encoder and decoder
gradients are sparse row updates, b_lat's is a scatter, and b_pre's is
``sum_i dL/dx_hat_i - (dL/db_lat) @ W_enc`` -- no dense input-gradient product. ReLU models
(dense by nature) use autograd on ``loss.sae_loss``. On the CPU a TopK model's step is three
calls (the encoder product, ``kernels.topk_grads``, ``optim.UnitNormAdam``), so small batches,
which small data train with, are not dominated by per-operation overhead.

Checkpoints (one file for the grid, written atomically) are taken every epoch and optionally
every N steps; a rerun resumes from the last one and reaches the same result as an
uninterrupted run, since batch order is a pure function of (data_seed, epoch).

Each model's training curve (its FVU over windows of steps, ``convergence.window``) is recorded,
checkpointed with it, saved with the model and judged (``convergence.judge``): the results table
says whether each model converged, and why not.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..version import __version__
from . import convergence, distributed, kernels
from .config import SAEConfig, TrainConfig
from ..arrays import as_data
from ..device import exact_float32, resolve as resolve_device
from ..errors import VoicesaeError
from ..files import atomic_path, check_output, read_json, sha256_array
from .geometric_median import geometric_median
from .loss import sae_loss
from .metrics import Metrics, evaluate_checked
from .model import PARAMS, SparseAutoencoder
from .optim import UnitNormAdam

CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_FORMAT = "voicesae.grid_checkpoint"
NUMERICS = 2
"""Raised when a change alters training's rounding (2: the CPU's fused TopK step and Adam). Saved
in each model's ``info.trained_on``: a finished model of another grid is reused only if it matches."""


class GridResult(NamedTuple):
    """What ``train_grid`` returns."""

    models: list[SparseAutoencoder]
    """The trained models, in config order, taking raw (unscaled) inputs."""
    table: list[dict]
    """One row per model: its config and its metrics (see ``metrics.py``)."""
    out_dir: Path | None
    """Where models/, results.csv and the checkpoint were written (None: nothing written)."""
    trained: list[str] = []
    """The configs this call trained (by name): not loaded from a finished run, nor reused from another grid."""
    train_seconds: float = 0.0
    """The wall time of this call's training (0 when it trained nothing). Kept out of the files, which
    are the same bytes however long training took."""


def pick_device(name: str) -> torch.device:
    return resolve_device(name, "TrainConfig.device")


class GridMember:
    """One model of the grid with its training state (kept in the model's scaled input space)."""

    def __init__(self, cfg: SAEConfig, b_pre: torch.Tensor, scale: float, train: TrainConfig, device, backend):
        self.cfg, self.scale, self.backend = cfg, scale, backend
        self.sae = SparseAutoencoder.initialised(cfg, b_pre * scale).to(device).train()
        self.params = [getattr(self.sae, p) for p in PARAMS]
        betas = (train.beta1, train.beta2)
        if backend == "numba":  # the whole update (and the decoder's unit norm) in one numba call
            self.opt = UnitNormAdam(self.params, cfg.lr, betas, train.eps)
        else:
            # fused: one kernel per tensor; the same update as the reference loop, on CPU and CUDA.
            # (Elsewhere, e.g. the tests' meta device, the reference loop.)
            fused = torch.device(device).type in ("cpu", "cuda")
            self.opt = torch.optim.Adam(self.params, lr=cfg.lr, betas=betas, eps=train.eps, fused=fused)
        # TopK on numba: the backward pass in one call (kernels.topk_grads) into buffers kept for the run.
        self.fused_grads = backend == "numba" and cfg.activation == "topk"
        self.grad_buffers = [torch.zeros_like(p) for p in self.params] if self.fused_grads else []
        # Samples seen since each latent last fired (dead when >= cfg.dead_after_samples).
        self.since_fired = torch.zeros(cfg.latent_dim, dtype=torch.int64, device=device)
        self.threshold_steps = 0
        # Summed squared errors: floats from numba, 0-d tensors on a GPU (read at window ends only).
        self.epoch_sq_err = 0.0
        self.window_sq_err = 0.0
        self.curve: list[tuple[int, float]] = []
        """(optimizer steps done, FVU over the window that ended there), one per window."""

    def step(self, x: torch.Tensor) -> float | torch.Tensor:
        """One optimizer step on batch x (n, d_in); returns the batch's summed squared error."""
        sq_err = self.compute_grads(x)
        if isinstance(self.opt, UnitNormAdam):
            self.opt.step()  # projects W_dec's gradient and renormalises its rows itself
        else:
            self.sae.project_decoder_grad()
            self.opt.step()
            self.sae.normalize_decoder()
        return sq_err

    def compute_grads(self, x: torch.Tensor) -> float | torch.Tensor:
        """Set every parameter's .grad to that of ``loss.sae_loss`` (with the dead mask after this
        batch's counter update) and return the summed squared error. TopK/BatchTopK: sparse."""
        n = x.shape[0]
        if self.cfg.activation == "relu":
            for p in self.params:
                p.grad = None
            out = sae_loss(self.sae, x)
            out.loss.backward()
            self.since_fired = torch.where((out.v > 0).any(0), 0, self.since_fired + n)
            return (out.x_hat.detach() - x).pow(2).sum().double()
        sae, cfg, be = self.sae, self.cfg, self.backend
        with torch.no_grad():
            xc = x - sae.b_pre
            z = torch.addmm(sae.b_lat, xc, sae.W_enc.T)
            if self.fused_grads:
                sq_err = kernels.topk_grads(z, xc, sae.W_enc.detach().numpy(), sae.W_dec.detach().numpy(), cfg.k,
                                            self.since_fired.numpy(), cfg.dead_after_samples, cfg.k_aux, cfg.aux_coef,
                                            [g.numpy() for g in self.grad_buffers])
                for p, g in zip(self.params, self.grad_buffers):
                    p.grad = g
                return sq_err
            if cfg.activation == "topk":
                code = kernels.topk(z, cfg.k, be)
            else:
                code, _ = kernels.batch_topk(z, cfg.k, be)
                self._update_threshold(code)
            # grad_out = d mean_i ||x_hat_i - x_i||^2 / d x_hat = (2 / n) (x_hat - x)
            grad_out, sq_err = kernels.residual(kernels.decode(code, sae.W_dec), xc, 2.0 / n, be)
            grads = [torch.zeros_like(p) for p in self.params]
            g_enc, g_blat, g_dec, g_bpre = grads
            g_act = kernels.grad_act(code, sae.W_dec, grad_out, be)
            fired = kernels.accumulate_latent_grads(code, g_act, grad_out, xc, g_dec, g_enc, g_blat, be)
            self.since_fired = torch.where(fired > 0, 0, self.since_fired + n)
            dead = self.dead()
            if cfg.aux_coef > 0 and bool(dead.any()):
                self._aux_grads(z, xc, grad_out * (n / 2.0), dead, grads)

            # b_pre enters twice: + b_pre in the decoder, - b_pre before the encoder.
            g_bpre += grad_out.sum(0) - g_blat @ sae.W_enc
            for p, g in zip(self.params, grads):
                p.grad = g
        return sq_err

    def dead(self) -> torch.Tensor:
        """Bool mask of latents that have not fired on the last cfg.dead_after_samples samples."""
        return self.since_fired >= self.cfg.dead_after_samples

    def _aux_grads(self, z, xc, diff, dead, grads):
        """AuxK (see loss.py): dead latents' top k_aux pre-activations reconstruct e = x - x_hat
        (``diff`` is x_hat - x); adds their gradients into ``grads``."""
        cfg, sae, be = self.cfg, self.sae, self.backend
        dead_ids = dead.nonzero().squeeze(1)
        sub = kernels.topk(z[:, dead_ids], min(cfg.k_aux, dead_ids.numel()), be)
        code = kernels.SparseCode(dead_ids[sub.idx], sub.act)
        e = -diff
        denom = float((e - e.mean(0)).pow(2).sum())
        if denom <= 0:
            return
        grad_out = (kernels.decode(code, sae.W_dec) - e) * (2.0 * cfg.aux_coef / denom)
        g_enc, g_blat, g_dec, _ = grads
        g_act = kernels.grad_act(code, sae.W_dec, grad_out, be)
        kernels.accumulate_latent_grads(code, g_act, grad_out, xc, g_dec, g_enc, g_blat, be)

    def _update_threshold(self, code):
        """BatchTopK's inference threshold: the running mean of each batch's smallest kept
        positive activation (as in Bussmann et al. 2024)."""
        pos = code.act[code.act > 0]
        if pos.numel():
            self.threshold_steps += 1
            t = self.sae.threshold
            t += (pos.min() - t) / self.threshold_steps

    # Checkpoint state as flat tensors.
    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        out = {f"{prefix}since_fired": self.since_fired.cpu(), f"{prefix}threshold": self.sae.threshold.cpu().reshape(1),
               f"{prefix}threshold_steps": torch.tensor([self.threshold_steps]),
               f"{prefix}window_sq_err": torch.tensor([float(self.window_sq_err)], dtype=torch.float64),
               f"{prefix}curve": torch.tensor(self.curve, dtype=torch.float64).reshape(-1, 2)}
        for name, p in zip(PARAMS, self.params):
            out[f"{prefix}{name}"] = p.detach().cpu()
            st = self.opt.state.get(p)
            if st:
                out[f"{prefix}{name}.exp_avg"] = st["exp_avg"].cpu()
                out[f"{prefix}{name}.exp_avg_sq"] = st["exp_avg_sq"].cpu()
                out[f"{prefix}{name}.step"] = st["step"].cpu().reshape(1)
        return out

    def load_state(self, t: dict[str, torch.Tensor], prefix: str) -> None:
        dev = self.since_fired.device
        with torch.no_grad():
            self.since_fired = t[f"{prefix}since_fired"].to(dev)
            self.sae.threshold.copy_(t[f"{prefix}threshold"].reshape(()))
            self.threshold_steps = int(t[f"{prefix}threshold_steps"])
            if f"{prefix}curve" in t:  # checkpoints written before curves were recorded have none
                self.window_sq_err = float(t[f"{prefix}window_sq_err"])
                self.curve = [(int(a), float(b)) for a, b in t[f"{prefix}curve"].tolist()]
            for name, p in zip(PARAMS, self.params):
                p.copy_(t[f"{prefix}{name}"])
                if f"{prefix}{name}.step" in t:
                    # Every piece of Adam's state on the parameter's device: fused CUDA Adam reads
                    # ``step`` there too (a CPU step would crash a resumed GPU run).
                    self.opt.state[p] = {"step": t[f"{prefix}{name}.step"].reshape(()).to(dev).clone(),
                                         "exp_avg": t[f"{prefix}{name}.exp_avg"].to(dev).clone(),
                                         "exp_avg_sq": t[f"{prefix}{name}.exp_avg_sq"].to(dev).clone()}


def _check_memory(configs: list[SAEConfig], d: int, device: torch.device) -> None:
    """Refuse a grid whose weights, gradients and Adam moments (8 float32 copies of each encoder and
    decoder matrix) could not fit in the memory of ``device`` (the machine's, or the GPU's), naming
    the largest model."""
    import os
    try:
        if device.type == "cuda":
            memory, where = torch.cuda.get_device_properties(device).total_memory, f"GPU {device}"
        else:
            memory, where = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine"
    except (ValueError, OSError, AttributeError):
        return
    need = sum(8 * 4 * c.latent_dim * d for c in configs)
    if need > memory:
        big = max(configs, key=lambda c: c.latent_dim)
        raise VoicesaeError(f"grid: its SAEs need about {need / 2**30:,.0f} GiB for weights and optimizer state "
                            f"(the largest, {big.name}: latent_dim {big.latent_dim:,} x {d} dimensions); "
                            f"{where} has {memory / 2**30:,.0f} GiB")


def _placed(x: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    """The training data on ``device`` for the whole run when it takes under a quarter of the free
    memory there (a GPU then never waits for a copy), else None: each batch is copied on its own."""
    if device.type == "cpu":
        return x
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 0
    return x.to(device) if x.numel() * x.element_size() < free / 4 else None


def _fingerprint(configs, train: TrainConfig, data_hash: str) -> dict:
    """What must match for a checkpoint to be resumed (checkpoint frequency and device may change)."""
    t = {k: v for k, v in train.to_dict().items() if k not in ("checkpoint_every_steps", "device", "eval_batch_size", "workers")}
    return {"configs": [c.to_dict() for c in configs], "train": t, "data_sha256": data_hash}


def _save_checkpoint(path: Path, members, local: list[int], fingerprint, epoch: int, step: int, done: bool,
                     window_var: float) -> None:
    """One file for the grid, model j's state under ``j.``; with several processes their states are
    gathered and the first writes it (the same file one process would write)."""
    states = {}
    for j, mem in zip(local, members):
        states.update({k: v.cpu() for k, v in mem.state(f"{j}.").items()})
    parts = distributed.gather_to_first(states)
    if parts is None:
        return
    tensors = {k: v for part in parts for k, v in part.items()}
    meta = {"format": CHECKPOINT_FORMAT, "voicesae_version": __version__, "fingerprint": fingerprint,
            "epoch": epoch, "step": step, "done": done, "window_var": window_var}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"state": json.dumps(meta, sort_keys=True)})


def _load_checkpoint(path: Path, fingerprint) -> tuple[dict, dict]:
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("state", "null"))
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise VoicesaeError(f"{path}: corrupt or not a checkpoint ({e}); delete it to start afresh") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise VoicesaeError(f"{path}: not a voicesae grid checkpoint (field 'format' is "
                            f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("fingerprint") != fingerprint:
        mine, theirs = fingerprint, meta.get("fingerprint") or {}
        diff = [k for k in ("configs", "train", "data_sha256") if mine.get(k) != theirs.get(k)]
        raise VoicesaeError(f"{path}: checkpoint is for different {', '.join(diff) or 'settings'}; "
                            "delete it or choose another output folder")
    return meta, tensors


def _batches(n: int, batch_size: int, data_seed: int, epoch: int):
    """The batch order of an epoch: a permutation seeded by (data_seed, epoch) alone."""
    gen = torch.Generator().manual_seed(data_seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen)
    return [perm[s:s + batch_size] for s in range(0, n, batch_size)]


def _running_fvu(members, var_seen) -> list[float]:
    """Each model's FVU over the epoch so far (its squared errors / the variance of the samples seen)."""
    var_seen = float(var_seen)
    return [float(m.epoch_sq_err) / (m.scale**2 * var_seen) if var_seen > 0 else float("nan") for m in members]


def _fvu_postfix(members, var_seen) -> str:
    """The progress bar's running FVU: every model when few, else the best, median and worst."""
    fvus = _running_fvu(members, var_seen)
    if len(fvus) <= 6:
        return " ".join(f"{m.cfg.name}:{f:.3f}" for m, f in zip(members, fvus))
    order = np.argsort(fvus)
    return (f"FVU min {fvus[order[0]]:.3f} ({members[order[0]].cfg.name}) median {float(np.median(fvus)):.3f} "
            f"max {fvus[order[-1]]:.3f} ({members[order[-1]].cfg.name})")


def _worker_groups(members, workers: int) -> list[list]:
    """Split the models into ``workers`` groups of similar cost (largest first, each to the
    lightest group). Cost per step grows with latent_dim (encoder product) and K (sparse part)."""
    groups, loads = [[] for _ in range(workers)], [0.0] * workers
    for m in sorted(members, key=lambda m: -(m.cfg.latent_dim + 10 * m.cfg.k)):
        g = loads.index(min(loads))
        groups[g].append(m)
        loads[g] += m.cfg.latent_dim + 10 * m.cfg.k
    return [g for g in groups if g]


@contextlib.contextmanager
def _model_parallel(workers: int):
    """A pool of ``workers`` threads, each running its models with one thread (torch's intra-op
    threads set to 1 for the duration, numba's per thread), or None when workers == 1."""
    if workers == 1:
        # numba's kernels take no more threads than torch may (under torchrun, OMP_NUM_THREADS=1 per
        # process: two processes each spinning two OpenMP threads on two cores ran 8 x slower).
        before = numba.get_num_threads()
        numba.set_num_threads(max(1, min(before, torch.get_num_threads())))
        try:
            yield None
        finally:
            numba.set_num_threads(before)
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers, initializer=numba.set_num_threads, initargs=(1,)) as pool:
            yield pool
    finally:
        torch.set_num_threads(before)


def _step_group(group, scaled) -> None:
    for m in group:
        sq_err = m.step(scaled[m.scale])
        # On the CPU the error is read every step (for free), so a divergence is named at its step.
        # A GPU's stays there (reading it would wait for the GPU): checked at each window's end.
        if isinstance(sq_err, torch.Tensor) and sq_err.device.type == "cpu":
            sq_err = float(sq_err)
        if isinstance(sq_err, float) and not math.isfinite(sq_err):
            raise _Diverged(m.cfg, sq_err)
        m.epoch_sq_err += sq_err
        m.window_sq_err += sq_err


def _check_finite(members) -> None:
    """Raise _Diverged (not at an exact step) for a model whose error in this window is NaN or inf."""
    for m in members:
        if not math.isfinite(float(m.window_sq_err)):
            raise _Diverged(m.cfg, float(m.window_sq_err), exact=False)


class _Diverged(Exception):
    """A model's loss became NaN or inf (train_grid turns it into a VoicesaeError naming the step)."""

    def __init__(self, cfg: SAEConfig, value: float, exact: bool = True):
        super().__init__(cfg.name)
        self.cfg, self.value, self.exact = cfg, value, exact


def train_grid(data, configs: list[SAEConfig], train: TrainConfig = TrainConfig(), out_dir: str | Path | None = None,
               eval_data=None, quiet: bool = False, resume: bool = True, replace_stale: bool = False,
               reuse_from: list[str | Path] = ()) -> GridResult:
    """Train every config on ``data`` (n, d_in) in one pass per epoch; see the module docstring.

    ``out_dir`` (optional) receives ``checkpoint.safetensors``, ``models/<name>/`` and
    ``results.csv``; with ``resume`` a matching checkpoint there is continued (or, if the run
    had finished, loaded without training). Metrics are computed on ``eval_data`` when given,
    else on the training data. ``quiet`` silences the progress bar (for notebooks). A checkpoint
    for other settings (configs, training, data) is an error, unless ``replace_stale``: then it is
    deleted with the models and ``results.csv`` beside it, said on stderr, and the grid trained
    afresh (the notebooks pass it: their output folder is theirs, and a study edit means retraining).

    ``reuse_from``: folders of other finished grids (``out_dir`` of earlier calls). A config found
    there, trained with the same training settings on the same data, device and back end, is loaded
    instead of trained: it would come out identical (a grid member equals the model trained alone).
    """
    x = as_data(data, "training data")
    x_eval = as_data(eval_data, "evaluation data") if eval_data is not None else x
    n, d = x.shape
    if x_eval.shape[1] != d:
        raise VoicesaeError(f"evaluation data: dimension {x_eval.shape[1]} differs from training data's {d}")
    configs = list(configs)
    if not configs:
        raise VoicesaeError("train_grid: the grid is empty (no SAEConfig given)")
    configs = [c.resolved(d, n) for c in configs]
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise VoicesaeError(f"train_grid: duplicate configurations {sorted({a for a in names if names.count(a) > 1})}")
    device = pick_device(train.device)
    _check_memory(configs, d, device)
    backend = kernels.resolve_backend(train.backend, device)
    data_hash = sha256_array(x)
    trained_on = f"{device.type}/{backend}/numerics-{NUMERICS}"
    reused = {}  # config index -> the finished model found in reuse_from
    for i, c in enumerate(configs):
        for folder in reuse_from:
            model = _reusable(Path(folder) / "models" / c.name, c, _fingerprint([c], train, data_hash), trained_on)
            if model is not None:
                reused[i] = model.to(device)
                break
    all_configs, configs = configs, [c for i, c in enumerate(configs) if i not in reused]
    fingerprint = _fingerprint(configs, train, data_hash)

    # Shared, data-derived initial state: the geometric median of a fixed sample, the scale.
    sum_x, sum_sq = torch.zeros(d, dtype=torch.float64), 0.0
    for s in range(0, n, 65536):  # in chunks: no float64 copy of the whole data
        chunk = x[s:s + 65536].double()
        sum_x += chunk.sum(0)
        sum_sq += float(chunk.pow(2).sum())
    mean_sq_norm = sum_sq / n
    variance = mean_sq_norm - float((sum_x / n).pow(2).sum())
    if n < 2 or variance <= 1e-12 * max(mean_sq_norm, 1e-30):
        # FVU divides by the data's variance: with none there is nothing to explain, and no SAE to judge.
        raise VoicesaeError(f"training data: {'one row' if n < 2 else f'all {n} rows are the same'} "
                            "(variance 0); an SAE needs rows that differ")
    gen = torch.Generator().manual_seed(train.data_seed)
    sample = x[torch.randperm(n, generator=gen)[: train.median_sample]]
    median = geometric_median(sample)
    data_mean = (sum_x / n).to(device)
    # Under torchrun each process trains its share (``distributed``); alone, ``local`` is every config.
    rank, world = distributed.rank_and_world()
    local = distributed.share([c.latent_dim for c in configs], rank, world)
    members = []
    for c in (configs[j] for j in local):
        scale = 1.0 / math.sqrt(mean_sq_norm) if c.normalize_input and mean_sq_norm > 0 else 1.0
        members.append(GridMember(c, median, scale, train, device, backend))

    out = check_output(out_dir, (), "out_dir", kind="folder") if out_dir is not None else None
    ckpt = out / CHECKPOINT if out is not None else None
    start_epoch, start_step, done, window_var = 0, 0, not configs, 0.0
    if ckpt is not None and ckpt.exists() and configs:
        if not resume:
            raise VoicesaeError(f"{ckpt}: exists; pass resume=True to continue it or delete it")
        try:
            meta, tensors = _load_checkpoint(ckpt, fingerprint)
        except VoicesaeError as e:
            if not replace_stale:
                raise
            distributed.barrier()  # every process has read the file before the first removes it
            if rank == 0:
                print(f"{str(e).split(';')[0]}: replaced, the grid is trained afresh", file=sys.stderr)
                shutil.rmtree(out / "models", ignore_errors=True)
                (out / "results.csv").unlink(missing_ok=True)
                ckpt.unlink()
            distributed.barrier()
        else:
            for j, mem in zip(local, members):  # one file for the grid: a model's state under its index
                mem.load_state(tensors, f"{j}.")
            start_epoch, start_step, done = meta["epoch"], meta["step"], meta["done"]
            window_var = float(meta.get("window_var", 0.0))

    steps_per_epoch = math.ceil(n / train.batch_size)
    total_steps = train.epochs * steps_per_epoch
    every = convergence.window(total_steps)
    workers = 1 if device.type != "cpu" else max(1, min(train.workers or torch.get_num_threads(), len(members)))
    groups = _worker_groups(members, workers)
    t0 = time.perf_counter()
    if not done:
        x_on_device = _placed(x, device)
        shown = 0.0  # when the progress bar's FVU was last computed (it reads every model's error)
        bar = tqdm(total=train.epochs * n, initial=start_epoch * n + min(start_step * train.batch_size, n),
                   unit="sample", unit_scale=True, disable=quiet or rank > 0, dynamic_ncols=True,
                   desc=f"grid of {len(configs)} SAEs" + (f" on {world} processes" if world > 1 else ""))
        pending = None  # a model that diverged here, said once every process has heard of it
        with _model_parallel(workers) as pool, exact_float32():
            for epoch in range(start_epoch, train.epochs):
                var_seen = 0.0
                for m in members:
                    m.epoch_sq_err = 0.0
                first = start_step if epoch == start_epoch else 0
                for step, rows in enumerate(_batches(n, train.batch_size, train.data_seed, epoch)):
                    if step < first:
                        continue
                    xb = x_on_device[rows.to(device)] if x_on_device is not None else x[rows].to(device)
                    batch_var = (xb.double() - data_mean).pow(2).sum()
                    var_seen += batch_var
                    window_var += batch_var
                    scaled = {scale: xb * scale for scale in {m.scale for m in members}}
                    done_steps = epoch * steps_per_epoch + step + 1
                    last = step + 1 == steps_per_epoch
                    window_end = done_steps % every == 0 or done_steps == total_steps
                    save = ckpt is not None and (last or (train.checkpoint_every_steps and
                                                          (step + 1) % train.checkpoint_every_steps == 0))
                    try:
                        if pending is None:
                            if pool is None:
                                _step_group(members, scaled)
                            else:
                                for future in [pool.submit(_step_group, g, scaled) for g in groups]:
                                    future.result()
                            if window_end or save:
                                _check_finite(members)
                    except _Diverged as e:
                        pending = (e, done_steps, epoch)
                    # With several processes all stop together, at the next point where they all check.
                    if (world == 1 or window_end or save) and distributed.any_true(pending is not None):
                        bar.close()
                        if pending is None:
                            raise VoicesaeError("another process of this grid stopped: one of its SAEs diverged "
                                                "(its error says which); nothing of this run was saved")
                        e, at, ep = pending
                        raise VoicesaeError(
                            f"SAE {e.cfg.name}: the loss became {e.value} {'at' if e.exact else 'by'} optimizer step "
                            f"{at} (epoch {ep + 1}); training stopped and nothing of this run was saved "
                            f"(learning rate {e.cfg.lr:g}: try a smaller one)")
                    bar.update(len(rows))
                    if not quiet and (time.perf_counter() - shown > 0.5 or last):
                        bar.set_postfix_str(_fvu_postfix(members, var_seen), refresh=False)
                        shown = time.perf_counter()
                    if window_end:  # a point of the training curve
                        w = float(window_var)
                        for m in members:
                            m.curve.append((done_steps, float(m.window_sq_err) / (m.scale**2 * w) if w > 0 else float("nan")))
                            m.window_sq_err = 0.0
                        window_var = 0.0
                    if save:
                        _save_checkpoint(ckpt, members, local, fingerprint, epoch + (1 if last else 0),
                                         0 if last else step + 1, last and epoch + 1 == train.epochs, float(window_var))
                if not quiet and rank == 0 and ((epoch + 1) % max(1, train.epochs // 10) == 0 or epoch + 1 == train.epochs):  # ~10 lines
                    per_model = ", ".join(f"{m.cfg.name} {f:.4f}" for m, f in zip(members, _running_fvu(members, var_seen)))
                    bar.write(f"epoch {epoch + 1}/{train.epochs} running FVU per model: {per_model}", file=sys.stderr)
        bar.close()
    train_seconds = time.perf_counter() - t0
    eval_hash = data_hash if eval_data is None else sha256_array(x_eval)

    todo = [i for i in range(len(all_configs)) if i not in reused]  # configs[j] is all_configs[todo[j]]
    finished = {}  # index into all_configs -> this process's finished model
    for j, mem in zip(local, members):
        cfg = configs[j]
        sae = mem.sae
        sae.fold_input_scale(mem.scale)
        sae.eval()
        dead_frac = float(mem.dead().float().mean())
        # The verdict's dead latents: none fired over a whole epoch. The AuxK window (dead_frac_train,
        # a tenth of an epoch) is too short to judge by on small data: at batch 18 it is one batch.
        dead_epoch = float((mem.since_fired >= n).float().mean())
        verdict = convergence.judge([a for a, _ in mem.curve], [b for _, b in mem.curve], total_steps, dead_epoch)
        sae.info = {"train_data_sha256": data_hash, "train_rows": n, "input_scale_folded": mem.scale,
                    "dead_frac_train": dead_frac, "dead_frac_epoch": dead_epoch, "train": train.to_dict(),
                    "trained_on": trained_on, "train_steps": total_steps,
                    "curve": {"step": [a for a, _ in mem.curve], "fvu": [b for _, b in mem.curve]},
                    "convergence": verdict._asdict()}
        # A finished run loaded again keeps the metrics saved with its models (same weights, same
        # evaluation data): a rebuild never evaluates an unchanged model twice.
        summary = _saved_metrics(_info_on_disk(out / "models" / cfg.name), eval_hash) if done and out is not None else None
        if summary is None:
            summary = evaluate_checked(sae, x_eval, train.eval_batch_size).summary()
        sae.info["metrics"] = summary
        finished[todo[j]] = sae
    if world > 1:  # every process returns the whole grid (moved through the CPU: objects are pickled)
        for part in distributed.all_gather({i: m.cpu() for i, m in finished.items()}):
            finished.update({i: m.to(device) for i, m in part.items()})
    models, table = [], []
    for i, cfg in enumerate(all_configs):
        if i in reused:
            sae, summary = reused[i], _saved_metrics(reused[i].info, eval_hash)
            if summary is None:
                summary = evaluate_checked(sae, x_eval, train.eval_batch_size).summary()
        else:
            sae = finished[i]
            summary = sae.info.pop("metrics")
        info = sae.info
        row = {"name": cfg.name, **{k: v for k, v in cfg.to_dict().items() if k != "d_in"},
               **summary, "dead_frac_train": info["dead_frac_train"], "dead_frac_epoch": info["dead_frac_epoch"],
               "eval_set": "eval_data" if eval_data is not None else "training data",
               "train_steps": info["train_steps"], "converged": info["convergence"]["converged"],
               "convergence": "; ".join(info["convergence"]["reasons"])}
        sae.info["metrics"] = {k: row[k] for k in summary}
        sae.info["eval_data_sha256"] = eval_hash
        models.append(sae)
        table.append(row)
        if out is not None and rank == 0:  # one writer
            sae.save(out / "models" / cfg.name)
    if out is not None and rank == 0:
        write_table(out / "results.csv", table)
    distributed.barrier()  # the files are there for every process when it returns
    if not quiet and rank == 0:
        what = (f"loaded {len(configs)} finished SAEs from {ckpt}" if done and configs else
                f"trained {len(configs)} SAEs in {train_seconds:.1f} s" + (f" on {world} processes" if world > 1 else ""))
        if reused:
            what += f"; {len(reused)} taken from finished grids ({', '.join(all_configs[i].name for i in reused)})"
        tqdm.write(what + (f"; results in {out}" if out else ""), file=sys.stderr)  # progress, not a result
    trained = [] if done else [c.name for c in configs]
    return GridResult(models, table, out, trained, train_seconds if trained else 0.0)


def _reusable(model_dir: Path, cfg: SAEConfig, fingerprint: dict, trained_on: str) -> SparseAutoencoder | None:
    """The finished model in ``model_dir`` if it is ``cfg`` trained as this run would train it (the
    checkpoint fingerprint's training settings and data, the same device and back end), else None."""
    if not (model_dir / "cfg.json").is_file():
        return None
    try:
        sae = SparseAutoencoder.load(model_dir)
    except VoicesaeError:
        return None
    info = sae.info
    train = {k: v for k, v in (info.get("train") or {}).items() if k in fingerprint["train"]}
    same = (sae.cfg.to_dict() == cfg.to_dict() and train == fingerprint["train"] and info.get("trained_on") == trained_on
            and info.get("train_data_sha256") == fingerprint["data_sha256"])
    return sae if same and {"dead_frac_train", "dead_frac_epoch", "train_steps", "convergence"} <= set(info) else None


def _info_on_disk(model_dir: Path) -> dict:
    """The ``info`` of the model saved in ``model_dir`` ({} if there is none to read)."""
    try:
        info = read_json(model_dir / "cfg.json").get("info")
    except (OSError, VoicesaeError, AttributeError):
        return {}
    return info if isinstance(info, dict) else {}


def _saved_metrics(info: dict, eval_hash: str) -> dict | None:
    """The metrics saved in a finished model's ``info``, if they were computed on the same data."""
    metrics = info.get("metrics") if info.get("eval_data_sha256") == eval_hash else None
    # in the table's column order (cfg.json stores its keys sorted)
    return {k: metrics[k] for k in Metrics.SUMMARY} if isinstance(metrics, dict) and set(metrics) == set(Metrics.SUMMARY) else None


def write_table(path: Path, rows: list[dict]) -> None:
    """``rows`` as results.csv, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def train_sae(data, cfg: SAEConfig, train: TrainConfig = TrainConfig(), **kwargs) -> SparseAutoencoder:
    """Train a single SAE: a grid of one."""
    return train_grid(data, [cfg], train, **kwargs).models[0]


def load_grid(out_dir: str | Path, configs: list[SAEConfig], train_data=None,
              device: str | torch.device = "cpu") -> list[SparseAutoencoder]:
    """The trained models of ``configs`` from a grid folder written by ``train_grid``, in config order,
    on ``device`` (a torch device, or auto | cpu | cuda | cuda:N as in a study file).

    A missing model is one error listing every absent name, not a silent gap in a figure. With
    ``train_data`` (n, d_in), each model must have been trained on exactly that data (its saved
    ``train_data_sha256``), or, imported (``formats.import_grid``), evaluated on it: a grid folder
    left by another study's data is an error, not a result.
    """
    out = Path(out_dir)
    names = [c.name for c in configs]
    missing = [n for n in names if not (out / "models" / n / "model.safetensors").is_file()]
    if missing:
        raise VoicesaeError(f"{out / 'models'}: no trained model for {len(missing)} of the {len(names)} grid "
                            f"configurations: {missing[:6]}{' ...' if len(missing) > 6 else ''}; train them first "
                            "(notebook 02_train_grid, or python -m voicesae_core train-grid)")
    device = device if isinstance(device, torch.device) else resolve_device(device, "load_grid: device")
    models = [SparseAutoencoder.load(out / "models" / n, device) for n in names]
    for c, m in zip(configs, models):
        if (m.cfg.latent_dim, m.cfg.k, m.cfg.activation, m.cfg.seed) != (c.latent_dim, c.k, c.activation, c.seed):
            raise VoicesaeError(f"{out / 'models' / c.name}: holds {m.cfg.name}, not {c.name}")
    if train_data is not None:
        x = as_data(train_data, "training data")
        digest = sha256_array(x)
        for c, m in zip(configs, models):
            if m.cfg.d_in != x.shape[1]:
                raise VoicesaeError(f"{out / 'models' / c.name}: trained on {m.cfg.d_in}-dimensional embeddings, "
                                    f"the study's training set has {x.shape[1]}; retrain the grid (chapter 2)")
            if "imported" in m.info:  # trained elsewhere: what must match is the data chapter 2 evaluated it on
                if m.info.get("eval_data_sha256") != digest:
                    raise VoicesaeError(f"{out / 'models' / c.name}: imported and evaluated on other data than the "
                                        "study's training set; import the grid again (chapter 2: notebooks --only "
                                        "02_train_grid)")
                continue
            if m.info.get("train_data_sha256") != digest:
                raise VoicesaeError(f"{out / 'models' / c.name}: trained on other data (its train_data_sha256 "
                                    f"{str(m.info.get('train_data_sha256'))[:12]}..., the study's training set's "
                                    f"{digest[:12]}...); retrain the grid (chapter 2: notebooks --only "
                                    "02_train_grid)")
    return models
