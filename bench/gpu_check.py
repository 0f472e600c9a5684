"""make gpu-check: the GPU path checked end to end on one CUDA GPU, in about five minutes.

    python bench/gpu_check.py [--device cuda] [--rows 1100000] [--out out/gpu-check] [--skip tests,chapters]

1. tests     the suite's ``cuda`` tests (pytest -m cuda with VOICESAE_TEST_CUDA=1): the bitwise promises
             (grid member == alone, same seed == same bytes, resume == uninterrupted) on the GPU,
             training under PyTorch's deterministic mode, analyses and extraction against the CPU;
2. grid      the paper's 6 x 7 grid on the quick default's SAE training set, trained on the CPU and on
             the device: the largest weight and FVU differences (float32 rounding; a TopK tie decided
             the other way can move a model further, which the FVU bounds);
3. resume    the device run killed after a checkpoint and resumed: bitwise equal to the uninterrupted (2);
4. extract   the quick demo corpus's segments embedded by TitaNet-S (random weights) on the CPU and on
             the device: the largest relative difference, and clips per second on each;
5. chapters  chapters 2-6 of the quick study with ``device`` set to the device (papermill, as make book);
6. epoch     one epoch of the paper's grid (batch 4096) at ``--rows`` rows (1.1 M: the full profile's
             size) on the device, with its peak GPU memory.

Prints one table (and writes it to ``<out>/gpu_check.md``); exits 1 if a check failed. ``--device
cpu`` runs the same script on a CPU: a dry run of the script itself, its comparisons CPU against CPU.
This is a check, not a benchmark: the times are one run's, for orientation.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "studies" / "paper-quick.yml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N (or cpu: a dry run of this script)")
    ap.add_argument("--rows", type=int, default=1_100_000, help="rows of the one-epoch timing (step 6)")
    ap.add_argument("--out", default=str(REPO / "out" / "gpu-check"))
    ap.add_argument("--skip", default="", help="comma-separated steps to skip: tests,grid,resume,extract,chapters,epoch")
    args = ap.parse_args()
    os.chdir(REPO)
    import torch

    from voicesae_core.device import describe, resolve
    device = resolve(args.device, "--device")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    print(f"gpu-check on {describe(device)}; torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)

    rows, state = [], {}
    for name, step in STEPS.items():
        if name in skip:
            rows.append((name, "skipped (--skip)", "", 0.0))
            continue
        print(f"--- {name}", flush=True)
        t0 = time.perf_counter()
        try:
            ok, result = step(device, out, args, state)
        except Exception as e:  # one failed step is reported, the others still run
            traceback.print_exc()
            ok, result = False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
        verdict = "skipped" if ok is None else "ok" if ok else "FAILED"
        rows.append((name, result, verdict, time.perf_counter() - t0))
        print(f"    {rows[-1][2]}: {result} ({rows[-1][3]:.1f} s)", flush=True)

    table = ["| step | result | verdict | seconds |", "|---|---|---|---:|"]
    table += [f"| {n} | {r} | {v} | {s:.1f} |" for n, r, v, s in rows]
    text = f"gpu-check on {describe(device)} (torch {torch.__version__}, CUDA {torch.version.cuda})\n\n" + "\n".join(table)
    (out / "gpu_check.md").write_text(text + "\n")
    print("\n" + text)
    return 1 if any(v == "FAILED" for _, _, v, _ in rows) else 0


def tests(device, out, args, state):
    env = {**os.environ, "VOICESAE_TEST_CUDA": "1"}
    p = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "-rs"],
                       env=env, capture_output=True, text=True)
    print(p.stdout[-4000:], p.stderr[-2000:])
    last = [line for line in p.stdout.splitlines() if line.strip()][-1] if p.stdout.strip() else "no output"
    # On a GPU every cuda test must have run: a skip there means the tests could not see the GPU.
    return p.returncode == 0 and (device.type == "cpu" or "skipped" not in last), last.strip("= ")


def _quick():
    from voicesae_core.report import pipeline, study
    s = study.load(QUICK)
    pipeline.ensure_data(s, quiet=True)  # the quick default, generated when absent
    return s


def grid(device, out, args, state):
    import numpy as np

    from voicesae_core import TrainConfig, expand_grid, train_grid
    s = _quick()
    x = s.dataset("sae_train").embeddings
    epochs, batch = s.training.plan(len(x))
    configs = expand_grid(s.grid.latent_dims, s.grid.ks, [s.grid.activation], s.grid.seeds)
    t0 = time.perf_counter()
    cpu = train_grid(x, configs, TrainConfig(epochs=epochs, batch_size=batch, device="cpu"), quiet=True)
    t_cpu = time.perf_counter() - t0
    t0 = time.perf_counter()
    dev = train_grid(x, configs, TrainConfig(epochs=epochs, batch_size=batch, device=str(device)), quiet=True)
    t_dev = time.perf_counter() - t0
    np.save(out / "sae_train.npy", x)
    state.update(x=x, configs=configs, epochs=epochs, batch=batch, grid=dev)
    w = max(float((a.W_dec.detach().cpu() - b.W_dec.detach().cpu()).abs().max()) for a, b in zip(cpu.models, dev.models))
    fvu = max(abs(a["fvu"] - b["fvu"]) / a["fvu"] for a, b in zip(cpu.table, dev.table))
    same_verdicts = all(a["converged"] == b["converged"] for a, b in zip(cpu.table, dev.table))
    ok = fvu < 0.01 and same_verdicts and all(m.W_dec.device.type == device.type for m in dev.models)
    return ok, (f"{len(configs)} SAEs x {len(x):,} rows x {epochs} epochs: CPU {t_cpu:.1f} s, {device} {t_dev:.1f} s; "
                f"largest weight difference (W_dec) {w:.2e}, max relative FVU difference {fvu:.2e}, same convergence verdicts: {same_verdicts}")


KILLED = textwrap.dedent("""
    import json, sys, numpy as np
    from voicesae_core import SAEConfig, TrainConfig, train_grid
    x, configs = np.load(sys.argv[1]), [SAEConfig.from_dict(c) for c in json.loads(sys.argv[3])]
    train = TrainConfig(epochs=int(sys.argv[4]), batch_size=int(sys.argv[5]), device=sys.argv[6], checkpoint_every_steps=10)
    train_grid(x, configs, train, out_dir=sys.argv[2], quiet=True)
""")


def resume(device, out, args, state):
    import shutil

    import torch

    from voicesae_core import TrainConfig, train_grid
    from voicesae_core.sae.trainer import CHECKPOINT
    if "grid" not in state:
        return None, "needs the grid step (skipped or failed)"
    run = out / "resume"
    shutil.rmtree(run, ignore_errors=True)
    cmd = [sys.executable, "-c", KILLED, str(out / "sae_train.npy"), str(run),
           json.dumps([c.to_dict() for c in state["configs"]]), str(state["epochs"]), str(state["batch"]), str(device)]
    proc = subprocess.Popen(cmd)
    deadline = time.time() + 300
    while not (run / CHECKPOINT).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        return False, f"the run ended (status {proc.returncode}) before it could be killed"
    from safetensors import safe_open
    if not (run / CHECKPOINT).exists() or (run / "results.csv").exists():
        return False, "the kill did not land between a checkpoint and the end"
    with safe_open(str(run / CHECKPOINT), "pt") as f:
        if json.loads(f.metadata()["state"])["done"]:
            return False, "the kill landed after the last checkpoint: nothing left to resume"
    train = TrainConfig(epochs=state["epochs"], batch_size=state["batch"], device=str(device), checkpoint_every_steps=10)
    resumed = train_grid(state["x"], state["configs"], train, out_dir=run, quiet=True)
    same = all(torch.equal(getattr(a, p).detach().cpu(), getattr(b, p).detach().cpu())
               for a, b in zip(resumed.models, state["grid"].models) for p in ("W_enc", "b_lat", "W_dec", "b_pre"))
    return same, f"killed after a checkpoint, resumed: {'bitwise equal to' if same else 'DIFFERS from'} the uninterrupted run"


def extract(device, out, args, state):
    import shutil

    import numpy as np

    from voicesae_core.audio import demo_corpus, extract as ex, segments
    from voicesae_core.data import manifest
    corpus = out / "demo"
    recordings = corpus / "recordings.json"
    if not recordings.exists():
        demo_corpus.generate(corpus, "quick", seed=0, quiet=True)
    seg = segments.segment(recordings, corpus / "segments.json", quiet=True).manifest
    runs = {}
    for where in ("cpu", str(device)):
        folder = out / f"embeddings-{where.replace(':', '-')}"
        shutil.rmtree(folder, ignore_errors=True)
        r = ex.extract(seg, folder, "random:titanet-small", device=where, quiet=True)
        runs[where] = (manifest.load(r.manifest).embeddings, r.clips_per_s)
    (a, rate_a), (b, rate_b) = runs["cpu"], runs[str(device)]
    rel = float(np.abs(a - b).max() / np.abs(a).max())
    return rel < 1e-4, (f"{len(a)} segments: max relative difference {rel:.2e}; clips/s CPU {rate_a:.1f}, "
                        f"{device} {rate_b:.1f}")


def chapters(device, out, args, state):
    from voicesae_core.report import pipeline
    import shutil
    names = ["02_train_grid", "03_identification", "04_splitting", "05_steering", "06_audio"]
    shutil.rmtree(out / "book", ignore_errors=True)  # a grid or embeddings left by an earlier run would be reused
    times = []
    for name in names:
        t0 = time.perf_counter()
        pipeline.run(QUICK, out / "book", {"device": str(device)}, [name], quiet=True)
        times.append(f"{name[:2]} {time.perf_counter() - t0:.0f} s")
    return True, f"chapters 2-6 ran with device {device}: {', '.join(times)}"


def epoch(device, out, args, state):
    import torch

    sys.path.insert(0, str(REPO / "bench"))
    from train_grid import BATCH, KS, LATENTS, synthetic

    from voicesae_core import TrainConfig, expand_grid, train_grid
    x = synthetic(args.rows)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    res = train_grid(x, expand_grid(LATENTS, KS), TrainConfig(epochs=1, batch_size=BATCH, device=str(device)), quiet=True)
    seconds = time.perf_counter() - t0
    peak = f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if device.type == "cuda" else ""
    fvu = sorted(r["fvu"] for r in res.table)
    return True, (f"{len(res.models)} SAEs, one epoch of {args.rows:,} rows at batch {BATCH}, with evaluation: "
                  f"{seconds:.1f} s ({args.rows / seconds:,.0f} rows/s){peak}; FVU {fvu[0]:.3f}..{fvu[-1]:.3f}")


STEPS = {"tests": tests, "grid": grid, "resume": resume, "extract": extract, "chapters": chapters, "epoch": epoch}

if __name__ == "__main__":
    sys.exit(main())
