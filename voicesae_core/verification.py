"""Speaker verification: does an embedding (raw, reconstructed or steered) still say who is speaking?

A *trial* is a pair of segments; it is a *target* trial when both are the same speaker. Here the
trial list is every pair of rows of one split whose ``speaker`` is set (music rows have none),
and a trial's score is the cosine similarity of the two embeddings, the usual back-end for
TitaNet. Two standard error measures (lower is better):

* EER, the equal error rate: where the miss rate (targets scored below the threshold) equals
  the false-alarm rate (non-targets at or above it), linearly interpolated between thresholds;
* minDCF, the normalised minimum detection cost (NIST SRE / VoxSRC):
  min over thresholds of (C_miss P_miss p + C_fa P_fa (1 - p)) / min(C_miss p, C_fa (1 - p)),
  with p = P_target = 0.05 and C_miss = C_fa = 1 by default (VoxSRC 2021-23);

and, because both are 0 once targets and non-targets no longer overlap (as on the synthetic
default), the separation d' = (mean target score - mean non-target score) / sqrt of the mean of
the two variances, which keeps measuring how far apart they are (higher is better).

``steering_cost`` applies this to a grid of SAEs: raw embeddings, SAE reconstructions, the
reconstructions steered on the language latent phi (Eqs. 1-2) and the raw embeddings moved by a
mean-difference steering vector (``steering.mean_difference``), each with how far the language
moved (the share of test rows that delta_s puts on the other class's side). ``tradeoff`` traces
both steerings over their strength.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from .errors import VoicesaeError
from .sae import SparseAutoencoder


class Trials(NamedTuple):
    a: np.ndarray
    """Row index of the first segment of each trial."""
    b: np.ndarray
    """Row index of the second."""
    target: np.ndarray
    """Bool per trial: same speaker."""


class Verification(NamedTuple):
    eer: float
    """Equal error rate (fraction)."""
    min_dcf: float
    """Normalised minimum detection cost."""
    dprime: float
    """Separation of target and non-target scores (see module doc)."""
    targets: int
    nontargets: int


def trials(speakers) -> Trials:
    """Every pair i < j of rows with a speaker (empty or missing speakers are left out)."""
    s = pd.Series(speakers).astype("string").fillna("").to_numpy(dtype=object)
    keep = np.flatnonzero(s != "")
    a, b = np.triu_indices(len(keep), k=1)
    a, b = keep[a], keep[b]
    target = s[a] == s[b]
    if not target.any() or target.all():
        raise VoicesaeError(f"trials: {len(keep)} rows with a speaker give {int(target.sum())} same-speaker and "
                            f"{int((~target).sum())} different-speaker pairs; verification needs both "
                            "(a speaker needs at least two segments)")
    return Trials(a, b, target)


def trial_scores(x: np.ndarray, t: Trials) -> np.ndarray:
    """The cosine similarity of each trial's two embeddings."""
    x = np.asarray(x, dtype=np.float64)
    u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.einsum("ij,ij->i", u[t.a], u[t.b])


def _rates(scores, target) -> tuple[np.ndarray, np.ndarray]:
    fpr, tpr, _ = roc_curve(np.asarray(target, bool), np.asarray(scores, float), drop_intermediate=False)
    return 1.0 - tpr, fpr  # P_miss, P_fa, from the strictest threshold to the loosest


def eer(scores, target) -> float:
    """The equal error rate (see module doc)."""
    p_miss, p_fa = _rates(scores, target)
    diff = p_miss - p_fa  # falls from >= 0 to <= 0 as the threshold loosens
    i = int(np.flatnonzero(diff <= 0)[0])
    if i == 0 or diff[i] == 0:
        return float((p_miss[i] + p_fa[i]) / 2)
    w = diff[i - 1] / (diff[i - 1] - diff[i])  # where the segment between points i-1 and i crosses
    return float(p_miss[i - 1] + w * (p_miss[i] - p_miss[i - 1]))


def min_dcf(scores, target, p_target: float = 0.05, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """The normalised minimum detection cost (see module doc)."""
    p_miss, p_fa = _rates(scores, target)
    cost = c_miss * p_miss * p_target + c_fa * p_fa * (1 - p_target)
    return float(cost.min() / min(c_miss * p_target, c_fa * (1 - p_target)))


def dprime(scores, target) -> float:
    """d' of target vs non-target scores (see module doc)."""
    scores, target = np.asarray(scores, float), np.asarray(target, bool)
    a, b = scores[target], scores[~target]
    return float((a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2))


def verify(x: np.ndarray, t: Trials, p_target: float = 0.05) -> Verification:
    """EER and minDCF of embeddings ``x`` (one row per segment) on the trial list ``t``."""
    s = trial_scores(x, t)
    return Verification(eer(s, t.target), min_dcf(s, t.target, p_target), dprime(s, t.target),
                        int(t.target.sum()), int((~t.target).sum()))


class _Setting(NamedTuple):
    t: Trials
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    c_pos: np.ndarray
    c_neg: np.ndarray
    """Raw training centroids of each class (the mean-difference vector and its delta_s)."""


def _setting(x_train, y_train, x_test, y_test, speakers_test) -> _Setting:
    x_train, x_test = np.asarray(x_train, np.float32), np.asarray(x_test, np.float32)
    y_train, y_test = np.asarray(y_train, bool), np.asarray(y_test, bool)
    if len(speakers_test) != len(x_test) or len(y_test) != len(x_test):
        raise VoicesaeError(f"steering_cost: {len(x_test)} test rows, {len(y_test)} labels and {len(speakers_test)} "
                            "speakers must be the same rows")
    return _Setting(trials(speakers_test), x_train, y_train, x_test, y_test,
                    x_train[y_train].mean(0), x_train[~y_train].mean(0))


def _moved(after: np.ndarray, positive: np.ndarray) -> float:
    """The share (%) of rows that steering put on the other class's side: delta_s < 0 for positive
    rows, > 0 for negative ones."""
    return 100.0 * float(np.where(positive, after < 0, after > 0).mean())


def _mean_difference_row(s: _Setting, alpha: float, p_target: float) -> dict:
    from .steering import delta_s, mean_difference
    moved = mean_difference(s.x_test, s.y_test, s.c_pos, s.c_neg, alpha)
    v = verify(moved, s.t, p_target)
    return {**_figures(v), "moved_pct": _moved(delta_s(moved, s.c_pos, s.c_neg), s.y_test), "shift": _shift(s.x_test, moved)}


def _shift(before: np.ndarray, after: np.ndarray) -> float:
    """How far steering pushed the rows: mean ||after - before|| / mean ||before||."""
    return float(np.linalg.norm(after - before, axis=1).mean() / np.linalg.norm(before, axis=1).mean())


def _figures(v: Verification) -> dict:
    return {"eer": 100 * v.eer, "min_dcf": v.min_dcf, "dprime": v.dprime}


def _sae_rows(s: _Setting, sae: SparseAutoencoder, phi: int, a_phis, p_target: float) -> tuple[dict, list[dict]]:
    """The reconstruction's verification, and per a_phi the steered reconstruction's."""
    from .steering import delta_s, reconstruct, steer
    eps_train = reconstruct(sae, s.x_train)
    r_pos, r_neg = eps_train[s.y_train].mean(0), eps_train[~s.y_train].mean(0)  # the paper's centroids
    eps = reconstruct(sae, s.x_test)
    rec = verify(eps, s.t, p_target)
    steered = []
    for a in a_phis:
        x = steer(sae, s.x_test, phi, s.y_test, float(a))
        v = verify(x, s.t, p_target)
        steered.append({**_figures(v), "moved_pct": _moved(delta_s(x, r_pos, r_neg), s.y_test), "shift": _shift(eps, x)})
    return {**_figures(rec), "moved_pct": _moved(delta_s(eps, r_pos, r_neg), s.y_test)}, steered


def steering_cost(models: list[SparseAutoencoder], x_train, y_train, x_test, y_test, speakers_test,
                  a_phi: float = 1.0, alpha: float = 1.0, p_target: float = 0.05) -> pd.DataFrame:
    """Per SAE: EER (%), minDCF and d' of the raw test embeddings, of the SAE's reconstructions, of its
    reconstructions steered on phi (Eqs. 1-2, ``a_phi``) and of the raw embeddings moved by the
    mean-difference vector (``alpha``); and for each, ``moved_pct``: the share of test rows on the
    other class's side of delta_s (for the reconstruction, before any steering: its error rate), and
    ``shift``, the mean distance steering moved a row relative to the rows' mean norm.

    ``y_*``: bool per row, the positive class (e.g. Spanish); phi is identified per SAE as in chapter 3.
    """
    from .probe import identify
    s = _setting(x_train, y_train, x_test, y_test, speakers_test)
    raw = verify(s.x_test, s.t, p_target)
    md = _mean_difference_row(s, alpha, p_target)
    rows = []
    for sae in models:
        phi = identify(sae, s.x_train, s.y_train, s.x_test, s.y_test).phi
        rec, (st,) = _sae_rows(s, sae, phi, [a_phi], p_target)
        rows.append({"model": sae.cfg.name, "latent_dim": sae.cfg.latent_dim, "k": sae.cfg.k, "phi": phi,
                     **{f"raw_{k}": v for k, v in _figures(raw).items()},
                     **{f"reconstructed_{k}": v for k, v in rec.items()},
                     **{f"steered_{k}": v for k, v in st.items()},
                     **{f"mean_difference_{k}": v for k, v in md.items()},
                     "targets": raw.targets, "nontargets": raw.nontargets})
    return pd.DataFrame(rows).set_index("model")


def tradeoff(sae: SparseAutoencoder, phi: int, x_train, y_train, x_test, y_test, speakers_test, strengths,
             p_target: float = 0.05) -> pd.DataFrame:
    """How much speaker identity each steering costs for how much language it moves: per strength
    (a_phi for the single latent, alpha for the mean-difference vector), EER (%), minDCF, d',
    ``moved_pct`` and ``shift`` (mean distance moved relative to the mean norm of the rows steered). One row per method and strength."""
    s = _setting(x_train, y_train, x_test, y_test, speakers_test)
    _, steered = _sae_rows(s, sae, phi, strengths, p_target)
    rows = [{"method": f"latent {phi} (a_phi)", "strength": float(a), **r} for a, r in zip(strengths, steered)]
    rows += [{"method": "mean difference (alpha)", "strength": float(a), **_mean_difference_row(s, float(a), p_target)}
             for a in strengths]
    return pd.DataFrame(rows)
