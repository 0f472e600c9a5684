"""Did an SAE finish training? Its training curve, and a verdict a reader can trust.

The trainer records each model's *training curve*: the FVU of its reconstructions over windows of
optimizer steps (about ``CURVE_POINTS`` windows per run, so a curve means the same for 200 rows or
1.1 M), saved with the model (``cfg.json``, ``info.curve``). ``judge`` reads it:

* **too few steps**: fewer than ``MIN_STEPS`` optimizer steps in the whole run (a budget of 2 epochs
  at batch 4096 is 2 steps on 238 rows) -- nothing was learnt that one should report;
* **still falling**: the mean FVU of the last fifth of the curve is more than ``FALLING`` (5 %, relative)
  and more than ``FALLING_ABS`` (0.005) below the mean of the fifth before it -- more training would
  have changed the model (the absolute floor because near FVU 0, e.g. a latent size at or above the
  number of rows, a relative drop keeps going while the reconstruction no longer changes materially);
* **many dead latents**: more than ``DEAD`` of the latents fired on none of the samples of the last
  epoch (the trainer's ``dead_frac_epoch``; AuxK's shorter window, ``dead_frac_train``, is a tenth of
  an epoch, which on a small set is one batch and would count a rare latent as dead).

A model with any of these is *not converged*; every chapter that shows its numbers says so beside
them (``warning``), and ``train-grid`` prints it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

CURVE_POINTS = 50
"""About how many windows a training curve has (fewer when the run has fewer steps)."""
MIN_STEPS = 100
"""Fewer optimizer steps than this: not converged, whatever the curve says."""
FALLING = 0.05
"""Relative drop of the curve's last fifth below the fifth before it that counts as still falling ..."""
FALLING_ABS = 0.005
"""... when the FVU also dropped by more than this (a half per cent of the variance)."""
DEAD = 0.2
"""Share of dead latents above which a model is flagged."""


class Verdict(NamedTuple):
    converged: bool
    reasons: list[str]
    """Why not, one phrase each ('still falling: FVU 0.31 -> 0.27 over the last 40 % of steps')."""
    final_fvu: float
    """The mean FVU of the curve's last fifth (nan without a curve)."""
    last_drop: float
    """The relative drop of the last fifth below the one before (nan when the curve is too short)."""


def window(total_steps: int, points: int = CURVE_POINTS) -> int:
    """Steps per curve window for a run of ``total_steps``: about ``points`` windows."""
    return max(1, total_steps // points)


def judge(steps: list[int] | np.ndarray, fvu: list[float] | np.ndarray, total_steps: int,
          dead_frac: float) -> Verdict:
    """The verdict on one model from its curve (``steps`` (P,) at each window's end, ``fvu`` (P,)),
    its run's optimizer steps and its share of dead latents over the last epoch (see the module doc)."""
    fvu = np.asarray(fvu, dtype=float)
    reasons = []
    if total_steps < MIN_STEPS:
        reasons.append(f"too few steps: {total_steps} optimizer steps (fewer than {MIN_STEPS})")
    if len(fvu) and not np.isfinite(fvu).all():
        reasons.append("the training FVU is not finite")
    fifth = max(1, len(fvu) // 5)
    final = float(fvu[-fifth:].mean()) if len(fvu) else float("nan")
    drop = float("nan")
    if len(fvu) >= 2 * fifth and len(fvu) >= 2:
        before = float(fvu[-2 * fifth:-fifth].mean())
        drop = (before - final) / before if before > 0 else 0.0
        if drop > FALLING and before - final > FALLING_ABS:
            reasons.append(f"still falling: FVU {before:.3f} -> {final:.3f} from the fourth to the last fifth of training")
    elif total_steps >= MIN_STEPS:
        reasons.append("too short a training curve to judge")
    if dead_frac > DEAD:
        reasons.append(f"many dead latents: {100 * dead_frac:.1f} % fired on no sample of the last epoch "
                       f"(more than {100 * DEAD:.0f} %)")
    return Verdict(not reasons, reasons, final, drop)


def of_model(sae) -> Verdict | None:
    """The verdict recorded with a trained model (``sae.info['convergence']``), or None for a
    model saved before curves were recorded."""
    c = getattr(sae, "info", {}).get("convergence")
    return Verdict(c["converged"], list(c["reasons"]), c["final_fvu"], c["last_drop"]) if c else None


def warning(models) -> str:
    """A Markdown warning naming every model of ``models`` that did not converge, with why; '' when
    all did. A model without a recorded verdict is named as such, an imported one (``info.imported``,
    no curve) as imported and not judged."""
    lines, imported = [], []
    for m in models:
        v = of_model(m)
        if v is None and "imported" in m.info:
            imported.append(f"* `{m.cfg.name}`: from {m.info['imported'].get('format', '?')}")
        elif v is None:
            lines.append(f"* `{m.cfg.name}`: no training curve recorded (trained by an older version)")
        elif not v.converged:
            lines.append(f"* `{m.cfg.name}`: {'; '.join(v.reasons)}")
    out = []
    if lines:
        out.append(f"**Warning: {len(lines)} of {len(models)} SAEs used here did not converge**, so their numbers "
                   "below describe an unfinished model (chapter 2 shows the training curves; train longer: "
                   "raise the study's training.steps, or chapters.audio.steps for chapter 6's):\n\n" + "\n".join(lines))
    if imported:
        out.append(f"**{len(imported)} of {len(models)} SAEs used here were imported** (the study's `models`): "
                   "trained elsewhere, on data this book does not know, with no training curve, so whether "
                   "they finished training is not judged here:\n\n" + "\n".join(imported))
    return "\n\n".join(out)
