"""Bootstrap confidence intervals for a binary predictor's precision, recall and F1.

The test rows are resampled with replacement ``n_boot`` times (the predictions stay paired with
their labels), each resample is scored, and the interval is the central ``level`` share of those
scores (percentile bootstrap). A resample in which a score is undefined (no predicted positive:
precision; no positive: recall) is left out of that score's interval rather than counted as 0.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import VoicesaeError


class Interval(NamedTuple):
    low: float
    high: float


class ScoreIntervals(NamedTuple):
    precision: Interval
    recall: Interval
    f1: Interval


def _percentiles(values: np.ndarray, level: float) -> Interval:
    values = values[np.isfinite(values)]
    if not len(values):
        return Interval(float("nan"), float("nan"))
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return Interval(float(lo), float(hi))


def score_intervals(y_true, y_pred, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> ScoreIntervals:
    """Percentile-bootstrap intervals of precision, recall and F1 (fractions, like ``probe.scores``).
    ``y_true``, ``y_pred`` (n,) bool: the label and the prediction of each test row."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or not len(y_true):
        raise VoicesaeError(f"score_intervals: {y_true.shape} labels and {y_pred.shape} predictions must be one "
                            "non-empty row each")
    if n_boot < 1 or not 0 < level < 1:
        raise VoicesaeError(f"score_intervals: need n_boot >= 1 and 0 < level < 1 (got {n_boot}, {level})")
    rows = np.random.default_rng(seed).integers(0, len(y_true), size=(n_boot, len(y_true)))
    t, p = y_true[rows], y_pred[rows]
    tp, fp, fn = (t & p).sum(1), (~t & p).sum(1), (t & ~p).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(tp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return ScoreIntervals(*(_percentiles(s, level) for s in (precision, recall, f1)))
