"""Benchmark: train the paper's 6 x 7 grid (latent 100..600 x K 5..35) for one epoch, side by side.

    python bench/train_grid.py [--rows 200000] [--batch-size 4096] [--repeats 3]
                               [--systems ours,dense,sparsify,E,E-bf16] [--scaling | --no-scaling]

Systems (each run in a subprocess of its own, so its peak memory is its own):

1. ours      voicesae_core.train_grid, the whole grid in one call (fp32);
2. dense     a plain dense PyTorch TopK loop with autograd, configuration by configuration;
3. sparsify  EleutherAI's SparseCoder (package eai-sparsify), configuration by configuration;
4. E         the bare fp32 encoder products x @ W_enc^T for all 42 models over the epoch: the floor;
5. E-bf16    the same products in bfloat16 (AMX / AVX512-BF16 on this CPU): what bf16 could give.

Every system sees the same synthetic 192-d data, the same batches (batch 4096, one epoch), Adam
with the same learning rate per latent size, AuxK 1/32 with the same dead window, and a unit-norm
decoder. FVU is computed afterwards the same way for all: sum ||x - x_hat||^2 / sum ||x - mean||^2.
Ours also times ``evaluate()`` of its 42 finished models on all rows (one pass of the encoder).

Fair timing: each child warms up (the same work on 8 batches, untimed) before the timed run; the
systems run ``--repeats`` times in rounds whose order alternates (forward, then reversed), and the
table gives the minimum and the median. Then a scaling table (ours and E, one run each after a
warm-up): rows 50k -> 1.1M on the 6 x 7 grid, and the 12 x 7 grid (latent up to 1,200).
``--batch-size 64 --rows 20000 --no-scaling`` times the regime small data train in (a study's
floor of optimizer steps at small batches), where per-step overhead, not arithmetic, decides.
This is a measurement, not a test: nothing here asserts a time.
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
"""Rows per optimizer step (``--batch-size``)."""
SCALING = [(50_000, 6), (200_000, 6), (1_100_000, 6), (200_000, 12)]
"""(rows, latent sizes) of the scaling table: latent sizes 100, 200, ..., 100 x that number."""


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

def run_ours(x, latents=LATENTS):
    from voicesae_core import TrainConfig, evaluate, expand_grid, train_grid
    configs = expand_grid(latents, KS)
    t = time.perf_counter()
    # Metrics of train_grid itself are computed on a 2-row set so they cost nothing here.
    res = train_grid(x, configs, TrainConfig(epochs=1, batch_size=BATCH), eval_data=x[:2], quiet=True)
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    fvus = [evaluate(m, x).fvu for m in res.models]  # what train_grid pays to evaluate on all rows
    return seconds, fvus, {"eval_seconds": time.perf_counter() - t}


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
    return seconds, fvus, {}


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


def encoder_floor(x, latents=LATENTS, dtype=torch.float32):
    n, d = x.shape
    encoders = [torch.randn(latent, d).to(dtype) for latent in latents for _ in KS]
    t = time.perf_counter()
    for rows in batches(n):
        xb = x[rows].to(dtype)
        for w in encoders:
            torch.matmul(xb, w.T)
    return time.perf_counter() - t, [], {}


SYSTEMS = {"ours": run_ours, "dense": run_dense, "sparsify": run_sparsify,
           "E": encoder_floor, "E-bf16": lambda x, latents=LATENTS: encoder_floor(x, latents, torch.bfloat16)}
LABELS = {"ours": "ours (voicesae, whole grid in one call)", "sparsify": "sparsify SparseCoder, per config",
          "dense": "plain dense PyTorch TopK, per config", "E": "E: bare fp32 encoder products (floor)",
          "E-bf16": "E-bf16: the same products in bfloat16", "eval": "evaluate() of ours' 42 models, all rows"}


def child(system: str, rows: int, latent_sizes: int) -> None:
    x = torch.from_numpy(synthetic(rows))
    latents = [100 * (i + 1) for i in range(latent_sizes)]
    run = SYSTEMS[system]
    kwargs = {"latents": latents} if system in ("ours", "E", "E-bf16") else {}
    run(x[:8 * BATCH], **kwargs)  # warm-up: compiled kernels, allocator, thread pools
    seconds, fvus, extra = run(x, **kwargs)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "mean_fvu": float(np.mean(fvus)) if fvus else None, "peak_mb": peak_mb,
                      "models": len(fvus), **extra}))


def measure(system: str, rows: int, latent_sizes: int = len(LATENTS)) -> dict | None:
    out = subprocess.run([sys.executable, __file__, "--child", system, "--rows", str(rows), "--batch-size", str(BATCH),
                          "--latent-sizes", str(latent_sizes)], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"{system}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    global BATCH
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=4096, help="rows per optimizer step (default %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of every system (order alternating)")
    ap.add_argument("--systems", default="ours,dense,sparsify,E,E-bf16")
    ap.add_argument("--scaling", action=argparse.BooleanOptionalAction, default=True,
                    help="also the scaling table (ours and E): rows 50k -> 1.1M, grid 6 x 7 -> 12 x 7")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--latent-sizes", type=int, default=len(LATENTS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    BATCH = args.batch_size
    if args.child:
        child(args.child, args.rows, args.latent_sizes)
        return
    systems = args.systems.split(",")
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        ap.error(f"--systems: unknown {', '.join(unknown)} (known: {', '.join(SYSTEMS)})")
    print(f"grid {len(LATENTS)} x {len(KS)} = {len(LATENTS) * len(KS)} TopK SAEs, d=192, {args.rows:,} rows, "
          f"batch {BATCH}, 1 epoch, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.repeats} rounds, order alternating, each run after a warm-up", flush=True)
    runs: dict[str, list[dict]] = {s: [] for s in systems}
    for r in range(args.repeats):
        for system in (systems if r % 2 == 0 else systems[::-1]):
            result = measure(system, args.rows)
            if result is not None:
                runs[system].append(result)
                print(f"  round {r + 1}: {system} {result['seconds']:.1f} s", flush=True)
    table(runs)
    if args.scaling:
        scaling()


def stats(values: list[float]) -> tuple[float, float]:
    return min(values), float(np.median(values))


def table(runs: dict[str, list[dict]]) -> None:
    rows = dict(runs)
    if runs.get("ours"):
        rows["eval"] = [{"seconds": r["eval_seconds"], "mean_fvu": None, "peak_mb": r["peak_mb"]} for r in runs["ours"]]
    best = {s: stats([r["seconds"] for r in rs])[0] for s, rs in rows.items() if rs}
    ours, floor = best.get("ours"), best.get("E")
    print()
    print(f"| {'system':42} | {'min s':>7} | {'median s':>8} | {'runs':>4} | {'x E':>5} | {'x ours':>6} | "
          f"{'mean FVU':>8} | {'peak MB':>7} |")
    print(f"|{'-' * 44}|{'-' * 9}|{'-' * 10}|{'-' * 6}|{'-' * 7}|{'-' * 8}|{'-' * 10}|{'-' * 9}|")
    for system, rs in rows.items():
        if not rs:
            print(f"| {LABELS[system]:42} | {'failed':>7} | {'':>8} | {'':>4} | {'':>5} | {'':>6} | {'':>8} | {'':>7} |")
            continue
        lo, med = stats([r["seconds"] for r in rs])
        xe = f"{lo / floor:.2f}" if floor else ""
        xo = f"{lo / ours:.2f}" if ours else ""
        fvu = f"{rs[-1]['mean_fvu']:.4f}" if rs[-1]["mean_fvu"] is not None else "-"
        print(f"| {LABELS[system]:42} | {lo:7.1f} | {med:8.1f} | {len(rs):4} | {xe:>5} | {xo:>6} | {fvu:>8} | "
              f"{max(r['peak_mb'] for r in rs):7.0f} |")
    # The targets, said against this run's numbers (minimum times).
    if ours and floor:
        print(f"\nours / E = {ours / floor:.2f} (target <= 2)")
    peers = [s for s in ("dense", "sparsify") if s in best]
    if ours and peers:
        fastest = min(peers, key=best.get)
        print(f"fastest peer ({fastest}) / ours = {best[fastest] / ours:.1f} (target >= 10)")
    if runs.get("ours") and runs.get("dense"):
        gap = abs(runs["ours"][-1]["mean_fvu"] - runs["dense"][-1]["mean_fvu"])
        print(f"|mean FVU ours - dense| = {gap:.4f} (target <= 0.002)")
    if "E" in best and "E-bf16" in best:
        print(f"E / E-bf16 = {best['E'] / best['E-bf16']:.2f} (what bf16 encoder products could save)")


def scaling() -> None:
    print("\nScaling: ours and E, one run each after a warm-up")
    print(f"| {'rows':>9} | {'grid':>6} | {'ours s':>7} | {'E s':>6} | {'ours / E':>8} | {'ours s per 100k rows':>20} |")
    print(f"|{'-' * 11}|{'-' * 8}|{'-' * 9}|{'-' * 8}|{'-' * 10}|{'-' * 22}|")
    for rows, sizes in SCALING:
        ours, floor = measure("ours", rows, sizes), measure("E", rows, sizes)
        if ours is None or floor is None:
            print(f"| {rows:9,} | {sizes:>2} x {len(KS)} | failed |")
            continue
        print(f"| {rows:9,} | {sizes:>2} x {len(KS)} | {ours['seconds']:7.1f} | {floor['seconds']:6.1f} | "
              f"{ours['seconds'] / floor['seconds']:8.2f} | {ours['seconds'] / rows * 1e5:20.2f} |", flush=True)


if __name__ == "__main__":
    main()
