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
both steerings over their strength. ``unavailable``, ``trial_table``, ``trials_text``, ``baseline_text``
and ``summary_text`` turn these into the chapter's trial list and sentences.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from ..errors import VoicesaeError
from ..sae.model import SparseAutoencoder


class Trials(NamedTuple):
    a: np.ndarray
    """(n_trials,) row index of the first segment of each trial."""
    b: np.ndarray
    """(n_trials,) row index of the second."""
    target: np.ndarray
    """(n_trials,) bool per trial: same speaker."""


class Verification(NamedTuple):
    eer: float
    """Equal error rate (fraction)."""
    min_dcf: float
    """Normalised minimum detection cost."""
    dprime: float
    """Separation of target and non-target scores (see module doc)."""
    targets: int
    nontargets: int


def _speaker_values(speakers) -> np.ndarray:
    """Speakers as text, missing ones as '' (as ``trials`` reads them)."""
    return pd.Series(speakers).astype("string").fillna("").to_numpy(dtype=object)


def unavailable(meta: pd.DataFrame, speaker_column: str = "speaker", where: str = "") -> str:
    """Why verification cannot run on one split's rows, or '' when it can: it needs the speaker column,
    a speaker with two segments (a target trial) and two speakers (a non-target trial). ``meta``: the
    split's metadata; ``where``: what it was read from, named in the reason."""
    source = where or "the metadata"
    if speaker_column not in meta.columns:
        return (f"{source} has no speaker column {speaker_column!r} (columns: {', '.join(map(str, meta.columns))}); "
                "set chapters.verification.speaker_column to the column that names each row's speaker")
    s = pd.Series(_speaker_values(meta[speaker_column]))
    counts = s[s != ""].value_counts()
    if len(counts) < 2 or counts.max() < 2:
        return (f"{source}: the test rows' {speaker_column!r} has {len(counts)} speaker(s), {int((counts >= 2).sum())} "
                "with two or more segments; verification needs at least two speakers and one with two segments")
    return ""


def sample_speakers(speakers, max_rows: int, seed: int = 0) -> np.ndarray:
    """``speakers`` (n,) as text with all but a seeded sample of ``max_rows`` of the rows that have a
    speaker set to '' (left out of the trials, whose number grows as the square of the rows); all of
    them when there are at most ``max_rows``, or ``max_rows`` is 0."""
    s = _speaker_values(speakers).copy()
    named = np.flatnonzero(s != "")
    if max_rows and len(named) > max_rows:
        keep = np.random.default_rng(seed).choice(named, max_rows, replace=False)
        drop = np.setdiff1d(named, keep)
        s[drop] = ""
    return s


def trials(speakers) -> Trials:
    """Every pair i < j of rows with a speaker (empty or missing speakers are left out).
    ``speakers`` (n,): one per row; returns n_trials pairs."""
    s = _speaker_values(speakers)
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
    """The cosine similarity of each trial's two embeddings: ``x`` (n, d_in); returns (n_trials,)."""
    x = np.asarray(x, dtype=np.float64)
    u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.einsum("ij,ij->i", u[t.a], u[t.b])


def _rates(scores, target) -> tuple[np.ndarray, np.ndarray]:
    fpr, tpr, _ = roc_curve(np.asarray(target, bool), np.asarray(scores, float), drop_intermediate=False)
    return 1.0 - tpr, fpr  # P_miss, P_fa, from the strictest threshold to the loosest


def eer(scores, target) -> float:
    """The equal error rate (see module doc). ``scores`` (n_trials,), ``target`` (n_trials,) bool."""
    p_miss, p_fa = _rates(scores, target)
    diff = p_miss - p_fa  # falls from >= 0 to <= 0 as the threshold loosens
    i = int(np.flatnonzero(diff <= 0)[0])
    if i == 0 or diff[i] == 0:
        return float((p_miss[i] + p_fa[i]) / 2)
    w = diff[i - 1] / (diff[i - 1] - diff[i])  # where the segment between points i-1 and i crosses
    return float(p_miss[i - 1] + w * (p_miss[i] - p_miss[i - 1]))


def min_dcf(scores, target, p_target: float = 0.05, c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """The normalised minimum detection cost (see module doc). ``scores`` (n_trials,), ``target`` (n_trials,) bool."""
    p_miss, p_fa = _rates(scores, target)
    cost = c_miss * p_miss * p_target + c_fa * p_fa * (1 - p_target)
    return float(cost.min() / min(c_miss * p_target, c_fa * (1 - p_target)))


def dprime(scores, target) -> float:
    """d' of target vs non-target scores (see module doc). ``scores`` (n_trials,), ``target`` (n_trials,) bool."""
    scores, target = np.asarray(scores, float), np.asarray(target, bool)
    a, b = scores[target], scores[~target]
    return float((a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2))


def verify(x: np.ndarray, t: Trials, p_target: float = 0.05) -> Verification:
    """EER and minDCF of embeddings ``x`` (n, d_in) (one row per segment) on the trial list ``t``."""
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
    ``x_train`` (n_train, d_in), ``y_train`` (n_train,), ``x_test`` (n_test, d_in), ``y_test`` (n_test,),
    ``speakers_test`` (n_test,).
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
    ``moved_pct`` and ``shift`` (mean distance moved relative to the mean norm of the rows steered). One row per method and strength.
    ``x_train`` (n_train, d_in), ``y_train`` (n_train,) bool, ``x_test`` (n_test, d_in), ``y_test`` (n_test,) bool,
    ``speakers_test`` (n_test,)."""
    s = _setting(x_train, y_train, x_test, y_test, speakers_test)
    _, steered = _sae_rows(s, sae, phi, strengths, p_target)
    rows = [{"method": f"latent {phi} (a_phi)", "strength": float(a), **r} for a, r in zip(strengths, steered)]
    rows += [{"method": "mean difference (alpha)", "strength": float(a), **_mean_difference_row(s, float(a), p_target)}
             for a in strengths]
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------- the chapter's tables and text

class TrialList(NamedTuple):
    trials: Trials
    """The trials (pairs of row positions in the split)."""
    table: pd.DataFrame
    """One row per trial: ``id_a``, ``id_b`` (the rows' ``id``, or their position when there is no id
    column) and ``target`` (1: same speaker, 0: not)."""
    speakers: np.ndarray
    """(n,) the speaker of each row of the split as used: '' for rows left out (none, or not sampled)."""
    named: int
    """Rows of the split with a speaker, before sampling."""


def trial_table(meta: pd.DataFrame, speaker_column: str = "speaker", where: str = "",
                max_rows: int = 0, seed: int = 0) -> TrialList:
    """The trial list of one split's rows: every pair of the rows with a speaker, or of a seeded sample
    of ``max_rows`` of them when there are more (0: all; the trials grow as the square of the rows).

    ``meta``: the split's metadata, one row per embedding (e.g. ``Task.meta_test``); ``where``: what
    it was read from (a manifest or metadata file), named in the error when verification cannot run
    (see ``unavailable``).
    """
    reason = unavailable(meta, speaker_column, where)
    if reason:
        raise VoicesaeError(reason)
    values = _speaker_values(meta[speaker_column])
    speakers = sample_speakers(values, max_rows, seed)
    t = trials(speakers)
    ids = meta["id"].to_numpy() if "id" in meta.columns else np.arange(len(meta))
    table = pd.DataFrame({"id_a": ids[t.a], "id_b": ids[t.b], "target": t.target.astype(int)})
    return TrialList(t, table, speakers, int((values != "").sum()))


def trials_text(t: Trials, speakers, split: str = "test", of: int = 0) -> str:
    """'1,225 trials from 50 test segments of 10 speakers: 225 target, 1,000 non-target'. ``speakers`` (n,):
    one per row of the split (``t`` is ``trials(speakers)``; rows without a speaker are not counted);
    ``of``: the rows with a speaker before ``sample_speakers`` (said when more than were used)."""
    s = _speaker_values(speakers)
    named = s[s != ""]
    sampled = f" (a seeded sample of the {of:,} with a speaker)" if of > len(named) else ""
    return (f"{len(t.target):,} trials from {len(named):,} {split} segments{sampled} of {len(set(named)):,} speakers: "
            f"{int(t.target.sum()):,} target, {int((~t.target).sum()):,} non-target")


def baseline_text(cost: pd.DataFrame, alpha: float) -> str:
    """The raw embeddings' and the mean-difference steering's verification (the same in every row of
    ``cost``, a ``steering_cost`` table), in one sentence."""
    raw = cost.iloc[0]
    return (f"raw embeddings: EER {raw.raw_eer:.2f} %, minDCF {raw.raw_min_dcf:.3f}, d' {raw.raw_dprime:.2f}; "
            f"mean-difference steering (alpha {alpha:g}): EER {raw.mean_difference_eer:.2f} %, minDCF "
            f"{raw.mean_difference_min_dcf:.3f}, d' {raw.mean_difference_dprime:.2f}, moves "
            f"{raw.mean_difference_moved_pct:.1f} % of rows")


def _span(values, unit: str = "%") -> str:
    """'40-95 %', or '95 %' when the rounded ends agree."""
    lo, hi = f"{values.min():.0f}", f"{values.max():.0f}"
    return f"{lo} {unit}" if lo == hi else f"{lo}-{hi} {unit}"


def _first_full(part: pd.DataFrame, moved_pct: float) -> str:
    """From which strength a method (its ``tradeoff`` rows) moves ``moved_pct`` % or more of the rows."""
    full = part[part.moved_pct >= moved_pct].sort_values("strength", kind="stable")
    if full.empty:
        return "never"
    r = full.iloc[0]
    return f"from strength {r.strength:g} (d' {r.dprime:.2f}, EER {r.eer:.2f} %)"


def _at(part: pd.DataFrame, strength: float) -> pd.Series:
    """A method's ``tradeoff`` row at the strength nearest ``strength``."""
    return part.iloc[int((part.strength - strength).abs().argmin())]


def _methods(curve: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A ``tradeoff`` table's rows of the latent and of the mean-difference vector."""
    latent, md = curve[curve.method.str.startswith("latent")], curve[curve.method.str.startswith("mean")]
    if latent.empty or md.empty:
        raise VoicesaeError(f"summary_text: the trade-off table needs rows of both methods, latent and mean difference "
                            f"(methods present: {sorted(curve.method.unique())})")
    return latent, md


def summary_text(cost: pd.DataFrame, curve: pd.DataFrame, a_phi: float, name: str, moved_pct: float = 95.0,
                 feature: str = "language") -> str:
    """The chapter's findings in two paragraphs of text, every number read from the tables:
    ``cost`` (``steering_cost`` over the grid, steered with ``a_phi``) and ``curve`` (``tradeoff``
    of the single model ``name``), for the steered ``feature`` (its label). From which strength each
    method moves ``moved_pct`` % of the rows, what each push costs at strength 1 (the nearest strength
    of the curve) and at the largest. The verbs (lose, keep, gain) follow the numbers."""
    if cost.empty:
        raise VoicesaeError("summary_text: the steering_cost table has no models")
    raw = cost.iloc[0]
    latent, md = _methods(curve)
    best, worst = cost["steered_dprime"].idxmax(), cost["steered_dprime"].idxmin()
    lo, hi = cost.reconstructed_dprime.min(), cost.reconstructed_dprime.max()
    effect = ("lose some separation" if hi < raw.raw_dprime else "separate speakers at least as well"
              if lo >= raw.raw_dprime else "lose or gain separation, by model")
    grid = (
        f"Raw test embeddings: EER {raw.raw_eer:.2f} %, d' {raw.raw_dprime:.2f} on {int(raw.targets):,} target and "
        f"{int(raw.nontargets):,} non-target trials. Reconstructions {effect} (d' {lo:.2f}-{hi:.2f} over the grid, "
        f"EER up to {cost.reconstructed_eer.max():.2f} %). Steering the {feature} latent with a_phi {a_phi:g} moves "
        f"{_span(cost.steered_moved_pct)} of test rows to the other class and "
        f"leaves d' {cost.steered_dprime.min():.2f} ({worst}) to {cost.steered_dprime.max():.2f} ({best}), EER up to "
        f"{cost.steered_eer.max():.2f} %. In the single model ({name}), {moved_pct:g} % or more of the rows are moved "
        f"by the latent {_first_full(latent, moved_pct)} and by the mean-difference vector {_first_full(md, moved_pct)}.")
    s1, m1 = _at(latent, 1.0), _at(md, 1.0)
    top = float(curve.strength.max())
    s_top, m_top = _at(latent, top), _at(md, top)
    costs = s_top.dprime < s1.dprime and m_top.dprime < m1.dprime
    push = (
        f"How far each pushes: at strength {s1.strength:g} the latent moves a reconstruction by {s1['shift']:.2f} of its "
        f"mean norm (d' {s1.dprime:.2f}), the mean-difference vector a raw embedding by {m1['shift']:.2f} "
        f"(d' {m1.dprime:.2f}). " + ("Larger pushes of either cost more separation: " if costs else "Larger pushes: ")
        + f"d' at the largest strength ({top:g}): latent {s_top.dprime:.2f}, mean difference {m_top.dprime:.2f}.")
    return grid + "\n\n" + push
