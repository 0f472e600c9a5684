"""Benchmark: train the paper's 6 x 7 grid (latent 100..600 x K 5..35) for one epoch, four ways.

    python bench/train_grid.py [--rows 200000] [--systems ours,sparsify,dense,E]

1. ours      voicesae_core.train_grid, the whole grid in one call;
2. sparsify  EleutherAI's SparseCoder (package eai-sparsify), configuration by configuration;
3. dense     a plain dense PyTorch TopK loop with autograd, configuration by configuration;
4. E         the bare encoder products x @ W_enc^T for all 42 models over the epoch: the floor.

Every system sees the same synthetic 192-d data, the same batches (batch 4096, one epoch), Adam
with the same learning rate per latent size, AuxK 1/32 with the same dead window, and a unit-norm
decoder. Each runs in its own subprocess, so its peak memory (max RSS) is its own. FVU is
computed afterwards the same way for all: sum ||x - x_hat||^2 / sum ||x - mean||^2 over the data.
Prints one table. This is a measurement, not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

LATENTS = [100, 200, 300, 400, 500, 600]
KS = [5, 10, 15, 20, 25, 30, 35]
BATCH = 4096


def synthetic(rows: int, d: int = 192, n_features: int = 1024, per_row: float = 12.0, seed: int = 0) -> np.ndarray:
    """Sparse superposed unit features (about ``per_row`` active per row) plus noise, L2-normalised."""
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((n_features, d)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    out = np.empty((rows, d), np.float32)
    for s in range(0, rows, 50_000):
        m = min(50_000, rows - s)
        acts = (rng.random((m, n_features), dtype=np.float32) < per_row / n_features) * rng.uniform(0.2, 1.0, (m, n_features)).astype(np.float32)
        x = acts @ feats + 0.05 * rng.standard_normal((m, d)).astype(np.float32)
        out[s:s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def lr_for(latent: int) -> float:
    return 2e-4 / (latent / 2**14) ** 0.5  # the same rule voicesae_core uses by default


def batches(n: int):
    from voicesae_core.sae.trainer import _batches
    return _batches(n, BATCH, 0, 0)


def fvu_of(x: torch.Tensor, reconstruct, total_var: float | None = None) -> float:
    """FVU over all of x, in float64, with reconstruct(batch) -> x_hat."""
    err = 0.0
    with torch.no_grad():
        for s in range(0, len(x), 16384):
            xb = x[s:s + 16384]
            err += float((xb.double() - reconstruct(xb).double()).pow(2).sum())
    if total_var is None:
        total_var = float((x.double() - x.double().mean(0)).pow(2).sum())
    return err / total_var


# ---------------------------------------------------------------------------------- systems

def run_ours(x):
    from voicesae_core import TrainConfig, expand_grid, train_grid
    configs = expand_grid(LATENTS, KS)
    t = time.perf_counter()
    # Metrics of train_grid itself are computed on a 2-row set so they cost nothing here.
    res = train_grid(x, configs, TrainConfig(epochs=1, batch_size=BATCH), eval_data=x[:2], quiet=True)
    seconds = time.perf_counter() - t
    total_var = float((x.double() - x.double().mean(0)).pow(2).sum())
    return seconds, [fvu_of(x, lambda b, m=m: m(b).x_hat, total_var) for m in res.models]


def per_config(x, build, step, reconstruct):
    """Train the grid configuration by configuration over the same batches, timing only the
    training loops. ``build(latent, k)`` returns a model; ``step(model, xb, dead)`` does one
    optimizer step and returns the bool mask of latents that fired; ``reconstruct(model, b)``."""
    n = len(x)
    fvus, seconds = [], 0.0
    order = batches(n)
    total_var = float((x.double() - x.double().mean(0)).pow(2).sum())
    for latent in LATENTS:
        for k in KS:
            model = build(latent, k)
            since = torch.zeros(latent, dtype=torch.int64)  # samples since each latent fired
            t = time.perf_counter()
            for rows in order:
                fired = step(model, x[rows], since >= n // 10)
                since = torch.where(fired, 0, since + len(rows))
            seconds += time.perf_counter() - t
            fvus.append(fvu_of(x, lambda b, model=model: reconstruct(model, b), total_var))
    return seconds, fvus


def run_dense(x):
    from voicesae_core.sae.geometric_median import geometric_median
    d = x.shape[1]
    median = geometric_median(x[:32768])

    def build(latent, k):
        w = torch.randn(latent, d, generator=torch.Generator().manual_seed(0))
        w /= w.norm(dim=1, keepdim=True)
        p = [torch.nn.Parameter(t) for t in (w.clone(), torch.zeros(latent), w.clone(), median.clone())]
        return p, torch.optim.Adam(p, lr=lr_for(latent)), k

    def encode(model, xb):
        (W_enc, b_lat, W_dec, b_pre), _, k = model
        pre = (xb - b_pre) @ W_enc.T + b_lat
        vals, idx = pre.topk(k)
        return pre, torch.zeros_like(pre).scatter(1, idx, torch.relu(vals))

    def step(model, xb, dead):
        (W_enc, b_lat, W_dec, b_pre), opt, k = model
        pre, v = encode(model, xb)
        x_hat = v @ W_dec + b_pre
        loss = (x_hat - xb).pow(2).sum(1).mean()
        if dead.any():  # AuxK, as in voicesae_core.sae.loss
            a_vals, a_idx = torch.where(dead, pre, -torch.inf).topk(min(d // 2, int(dead.sum())))
            e = (xb - x_hat).detach()
            e_hat = torch.zeros_like(pre).scatter(1, a_idx, torch.relu(a_vals)) @ W_dec
            loss = loss + (e_hat - e).pow(2).sum() / (e - e.mean(0)).pow(2).sum() / 32
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            W_dec.grad -= (W_dec.grad * W_dec).sum(1, keepdim=True) * W_dec
        opt.step()
        with torch.no_grad():
            W_dec /= W_dec.norm(dim=1, keepdim=True)
        return (v > 0).any(0)

    def reconstruct(model, b):
        (_, _, W_dec, b_pre), _, _ = model
        return encode(model, b)[1] @ W_dec + b_pre

    return per_config(x, build, step, reconstruct)


def run_sparsify(x):
    from sparsify import SparseCoder, SparseCoderConfig
    d = x.shape[1]

    def build(latent, k):
        torch.manual_seed(0)
        sae = SparseCoder(d, SparseCoderConfig(num_latents=latent, k=k), device="cpu")
        return sae, torch.optim.Adam(sae.parameters(), lr=lr_for(latent))

    def step(model, xb, dead):
        sae, opt = model
        out = sae(xb, dead_mask=dead)
        loss = out.fvu + out.auxk_loss / 32
        opt.zero_grad()
        loss.backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        sae.set_decoder_norm_to_unit_norm()
        fired = torch.zeros(sae.num_latents, dtype=torch.bool)
        fired[out.latent_indices.flatten()] = True
        return fired

    return per_config(x, build, step, lambda model, b: model[0](b).sae_out)


def run_encoder_floor(x):
    n, d = x.shape
    encoders = [torch.randn(latent, d) for latent in LATENTS for _ in KS]
    t = time.perf_counter()
    for rows in batches(n):
        xb = x[rows]
        for w in encoders:
            torch.matmul(xb, w.T)
    return time.perf_counter() - t, []


SYSTEMS = {"ours": run_ours, "sparsify": run_sparsify, "dense": run_dense, "E": run_encoder_floor}
LABELS = {"ours": "ours (voicesae, whole grid in one call)", "sparsify": "sparsify SparseCoder, per config",
          "dense": "plain dense PyTorch TopK, per config", "E": "E: bare encoder products (floor)"}


def child(system: str, rows: int) -> None:
    x = torch.from_numpy(synthetic(rows))
    seconds, fvus = SYSTEMS[system](x)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "mean_fvu": float(np.mean(fvus)) if fvus else None, "peak_mb": peak_mb,
                      "models": len(fvus)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--systems", default="ours,sparsify,dense,E")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.rows)
        return
    print(f"grid {len(LATENTS)} x {len(KS)} = {len(LATENTS) * len(KS)} TopK SAEs, d=192, {args.rows:,} rows, "
          f"batch {BATCH}, 1 epoch, torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    results = {}
    for system in args.systems.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", system, "--rows", str(args.rows)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            results[system] = None
            print(f"{system}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        results[system] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {system}: {results[system]['seconds']:.1f} s", flush=True)
    print()
    print(f"| {'system':42} | {'wall s':>7} | {'x ours':>6} | {'mean FVU':>8} | {'peak MB':>7} |")
    print(f"|{'-' * 44}|{'-' * 9}|{'-' * 8}|{'-' * 10}|{'-' * 9}|")
    ours = (results.get("ours") or {}).get("seconds")
    for system, r in results.items():
        if r is None:
            print(f"| {LABELS[system]:42} | {'failed':>7} | {'':>6} | {'':>8} | {'':>7} |")
            continue
        ratio = f"{r['seconds'] / ours:.2f}" if ours else ""
        fvu = f"{r['mean_fvu']:.4f}" if r["mean_fvu"] is not None else "-"
        print(f"| {LABELS[system]:42} | {r['seconds']:7.1f} | {ratio:>6} | {fvu:>8} | {r['peak_mb']:7.0f} |")


if __name__ == "__main__":
    main()
