"""Feature identification (Section III-C, Figs. 2-3): find the latent that means a label.

As in the paper: encode the labelled training split with the SAE, fit a logistic regression on
the latents, and take the latent with the largest positive weight for the positive class
(``phi``; the full ranking is kept). That one latent is then a predictor on the test split:
a non-zero activation means positive. We report precision, recall, F1 and the confusion counts.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from .bootstrap import score_intervals
from ..errors import VoicesaeError
from ..device import to_model, to_numpy
from ..sae.model import SparseAutoencoder


class Scores(NamedTuple):
    """A binary predictor's test-set performance."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int


class ProbeResult(NamedTuple):
    """The identified latent of one SAE for one label."""

    phi: int
    """The latent with the largest positive logistic-regression weight."""
    ranking: np.ndarray
    """(latent_dim,) all latent indices, by decreasing weight."""
    weights: np.ndarray
    """(latent_dim,) the logistic regression's weight per latent."""
    scores: Scores
    """The single latent ``phi`` as a predictor on the test split (v_phi > 0 = positive)."""
    predicted: np.ndarray
    """(n_test,) bool: its test-split predictions (bool per test row)."""
    fires_in_train: int
    """On how many training rows ``phi`` fires (0: a latent that never fires was chosen)."""


@torch.no_grad()
def encode(sae: SparseAutoencoder, x, batch_size: int = 16384) -> np.ndarray:
    """The latents v of every row of ``x`` (n, d_in) as a float32 array (n, latent_dim)."""
    sae.eval()
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    return np.concatenate([to_numpy(sae.encode(to_model(x[s:s + batch_size], sae)))
                           for s in range(0, len(x), batch_size)]) if len(x) else np.zeros((0, sae.cfg.latent_dim), np.float32)


def scores(y_true, y_pred) -> Scores:
    """Precision, recall and F1 of the positive class, with the confusion counts (0 where undefined).
    ``y_true``, ``y_pred`` (n,) bool: the labels and the predictions of the same rows."""
    y_true, y_pred = np.asarray(y_true, bool), np.asarray(y_pred, bool)
    tp, fp = int((y_true & y_pred).sum()), int((~y_true & y_pred).sum())
    fn, tn = int((y_true & ~y_pred).sum()), int((~y_true & ~y_pred).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, tp, fp, fn, tn)


def _check_labels(y, split: str, what: str) -> np.ndarray:
    y = np.asarray(y, bool)
    if y.all() or not y.any():
        raise VoicesaeError(f"{what}: the {split} split has {'no negative' if y.all() else 'no positive'} samples "
                            f"({len(y)} rows); a probe needs both")
    return y


def _logistic(v_train: np.ndarray, y_train, C: float = 1.0, seed: int = 0) -> LogisticRegression:
    model = LogisticRegression(C=C, max_iter=5000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(v_train, y_train)


def fit_probe(v_train: np.ndarray, y_train, C: float = 1.0, seed: int = 0) -> np.ndarray:
    """The logistic-regression weight of every latent for the positive class (L2, C=1, lbfgs).
    ``v_train`` (n_train, latent_dim) activations, ``y_train`` (n_train,) bool; returns (latent_dim,) weights."""
    return _logistic(v_train, y_train, C, seed).coef_[0]


def identify(sae: SparseAutoencoder, x_train, y_train, x_test, y_test, what: str = "label") -> ProbeResult:
    """Find the latent for a binary label and score it alone on the test split (see module doc).
    ``x_train`` (n_train, d_in), ``y_train`` (n_train,) bool, ``x_test`` (n_test, d_in), ``y_test`` (n_test,) bool."""
    y_train = _check_labels(y_train, "train", what)
    y_test = _check_labels(y_test, "test", what)
    v_train, v_test = encode(sae, x_train), encode(sae, x_test)
    weights = fit_probe(v_train, y_train)
    ranking = np.argsort(-weights, kind="stable")
    phi = int(ranking[0])
    predicted = v_test[:, phi] > 0
    return ProbeResult(phi, ranking, weights, scores(y_test, predicted), predicted, int((v_train[:, phi] > 0).sum()))


def dense_probe(x_train, y_train, x_test, y_test, what: str = "label") -> Scores:
    """A standardised logistic probe on every column of x: on the raw embeddings, is the label linearly
    there at all (the reference a single latent is compared with)? Also used on chosen latents or
    principal components (``sparse_probing``). ``x_train`` (n_train, n_cols), ``y_train`` (n_train,) bool,
    ``x_test`` (n_test, n_cols), ``y_test`` (n_test,) bool: n_cols is d_in for raw embeddings."""
    y_train = _check_labels(y_train, "train", what)
    y_test = _check_labels(y_test, "test", what)
    x_train, x_test = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
    mean, std = x_train.mean(0), x_train.std(0)  # standardised, so C=1 means the same for any scale
    std[std == 0] = 1.0  # a constant column (a latent that never fires in training) stays 0, not 0/0
    model = _logistic((x_train - mean) / std, y_train)
    return scores(y_test, model.predict((x_test - mean) / std))


def note(result: ProbeResult) -> str:
    """Why a probe result is degenerate ('' when it is not): phi never fires, or fires on every row."""
    s = result.scores
    if result.fires_in_train == 0:
        return "phi never fires on the training split"
    if s.tp + s.fp == 0:
        return "phi never fires on the test split (precision undefined, shown as 0)"
    if s.fn + s.tn == 0:
        return "phi fires on every test row"
    return ""


def identify_grid(models: list[SparseAutoencoder], x_train, y_train, x_test, y_test, what: str = "label",
                  n_boot: int = 0, level: float = 0.95) -> pd.DataFrame:
    """``identify`` for every model: one row per model with latent_dim, k, phi, the scores and a ``note``
    saying when the chosen latent is degenerate (see ``note``). With ``n_boot`` > 0, also bootstrap
    intervals over the test rows (``bootstrap.score_intervals``): precision_low/high, recall_low/high.
    ``x_train`` (n_train, d_in), ``y_train`` (n_train,) bool, ``x_test`` (n_test, d_in), ``y_test`` (n_test,) bool."""
    y_train = _check_labels(y_train, "train", what)
    y_test = _check_labels(y_test, "test", what)
    rows = []
    for m in tqdm(models, desc=f"probe {what}", unit="SAE", disable=len(models) < 8, leave=False):
        r = identify(m, x_train, y_train, x_test, y_test, what)
        row = {"name": m.cfg.name, "latent_dim": m.cfg.latent_dim, "k": m.cfg.k, "phi": r.phi,
               **r.scores._asdict(), "fires_in_train": r.fires_in_train, "note": note(r)}
        if n_boot:
            ci = score_intervals(y_test, r.predicted, n_boot, level)
            row.update(precision_low=ci.precision.low, precision_high=ci.precision.high,
                       recall_low=ci.recall.low, recall_high=ci.recall.high)
        rows.append(row)
    return pd.DataFrame(rows)


def error_table(result: ProbeResult, y_test, meta_test: pd.DataFrame) -> pd.DataFrame:
    """The test rows the single latent gets wrong, with their metadata: column ``error`` is
    'false positive' or 'false negative' (the paper's error analysis, Section V-A1).
    ``y_test`` (n_test,) bool; ``meta_test``: n_test rows, in the same order."""
    y = np.asarray(y_test, bool)
    if len(y) != len(meta_test) or len(y) != len(result.predicted):
        raise VoicesaeError(f"error_table: {len(y)} labels, {len(meta_test)} metadata rows and "
                            f"{len(result.predicted)} predictions must be the same test rows")
    kind = np.where(result.predicted & ~y, "false positive", np.where(~result.predicted & y, "false negative", ""))
    wrong = kind != ""
    return meta_test[wrong].assign(error=kind[wrong]).reset_index(drop=True)


def error_summary(errors: pd.DataFrame, flags: list[str]) -> pd.DataFrame:
    """Per error kind: how many rows, and the share (percent) with each 0/1 metadata flag set."""
    missing = [f for f in flags if f not in errors.columns]
    if missing:
        raise VoicesaeError(f"error_summary: the metadata has no column(s) {missing} (present: {list(errors.columns)})")
    rows = []
    for kind in ("false positive", "false negative"):
        part = errors[errors["error"] == kind]
        rows.append({"error": kind, "rows": len(part),
                     **{f"% {f}": (100.0 * part[f].astype(float).mean() if len(part) else float("nan")) for f in flags}})
    return pd.DataFrame(rows).set_index("error")


def as_grid(table: pd.DataFrame, value: str, percent: bool = True) -> pd.DataFrame:
    """A latent_dim x K grid of one column (like Figs. 2-3: rows latent_dim, columns k5, k10, ...)."""
    grid = table.pivot(index="latent_dim", columns="k", values=value) * (100 if percent else 1)
    grid.columns = [f"k{k}" for k in grid.columns]
    return grid
