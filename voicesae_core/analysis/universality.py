"""Universality: do SAEs of two speaker models, trained on their embeddings of the same segments,
find the same features?

The language-model studies of universal features pair the latents of two SAEs by how their
activations co-vary over the same inputs. Here the inputs are segments, joined by ``id`` across the
two models' datasets (``join``). For latent i of SAE A and latent j of SAE B, ``correlations`` is the
Pearson correlation of their activations over the shared segments; i's *counterpart* is the j with
the largest correlation (``best_match``). A latent that never fires on those segments has no
correlation: it is left out and counted as dead there.

Chance is measured, not assumed: the same matching after B's segments are shuffled (the pairing of
segments broken, the activations' sparsity kept) gives what a share of "matched" latents looks like
when the two models share nothing (``shares``).

Decoder rows of two models live in different spaces (of different dimensions, in general), so they
are compared through the data: a least-squares linear map from A's embedding space to B's, fitted
on the shared segments (``linear_map``), carries A's decoder rows into B's space, where their cosine
to the counterpart's decoder row says whether the two latents are one direction up to that map
(``aligned_decoder_cosines``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..data.manifest import Dataset
from ..errors import VoicesaeError
from .probe import encode, identify, scores
from .recovery import decoder_directions
from ..sae.model import SparseAutoencoder


class Joined(NamedTuple):
    """Two models' datasets of the same segments, row i of each the same segment."""
    a: Dataset
    b: Dataset
    """B's embeddings, with A's metadata (the labels are the segments', not the model's)."""
    only_a: int
    """Segments of A with no row in B (left out)."""
    only_b: int
    """Segments of B with no row in A (left out)."""


def join(a: Dataset, b: Dataset) -> Joined:
    """The segments both datasets hold, by ``id``, in A's order. A duplicate id is an error naming
    the file and the row; fewer than 2 shared segments is an error."""
    for ds in (a, b):
        dup = ds.metadata["id"].duplicated()
        if dup.any():
            row = int(np.flatnonzero(dup.to_numpy())[0])
            raise VoicesaeError(f"{ds.path}: row {row}: id {ds.metadata['id'].iloc[row]!r} appears twice; "
                                "segments are joined across speaker models by id")
    ids_a, ids_b = a.metadata["id"].astype(str), b.metadata["id"].astype(str)
    where_b = pd.Series(np.arange(len(ids_b)), index=ids_b.to_numpy())
    keep = ids_a.isin(where_b.index).to_numpy()
    if keep.sum() < 2:
        raise VoicesaeError(f"{b.path}: shares {int(keep.sum())} segment id(s) with {a.path}; the two speaker models "
                            "must embed the same segments (the same ids)")
    rows_b = where_b.loc[ids_a[keep].to_numpy()].to_numpy()
    a_kept = a.subset(keep)
    b_kept = Dataset(b.embeddings[rows_b], a_kept.metadata, b.manifest, b.path)
    return Joined(a_kept, b_kept, int((~keep).sum()), int(len(ids_b) - keep.sum()))


def correlations(va: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Pearson correlation of every latent of A with every latent of B over the same rows.
    ``va`` (n, La), ``vb`` (n, Lb) activations; returns (La, Lb), NaN in the row or column of a
    latent constant over the rows (one that never fires there)."""
    if len(va) != len(vb):
        raise VoicesaeError(f"correlations: {len(va)} rows of A but {len(vb)} of B")

    def standardised(v):
        v = np.asarray(v, np.float64)
        c = v - v.mean(0)
        norm = np.sqrt((c * c).sum(0))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(norm > 0, c / norm, np.nan)
    return standardised(va).T @ standardised(vb)


def best_match(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``corr`` (La, Lb): the column with the largest correlation and that correlation.
    Two (La,) arrays; -1 and NaN for a dead row (all NaN). Dead columns are never chosen."""
    c = np.where(np.isnan(corr), -np.inf, corr)
    partner = c.argmax(1) if c.shape[1] else np.zeros(len(c), int)
    best = c[np.arange(len(c)), partner] if c.shape[1] else np.full(len(c), -np.inf)
    dead = ~np.isfinite(best)
    return np.where(dead, -1, partner), np.where(dead, np.nan, best)


def shuffled(vb: np.ndarray, seed: int = 0) -> np.ndarray:
    """``vb`` with its rows (segments) permuted: the baseline in which A and B share nothing."""
    return vb[np.random.default_rng(seed).permutation(len(vb))]


def shares(best: np.ndarray, thresholds) -> dict[float, float]:
    """The share (%) of live latents (non-NaN ``best``) whose counterpart correlates at least t."""
    live = best[~np.isnan(best)]
    return {t: 100.0 * float((live >= t).mean()) if len(live) else float("nan") for t in thresholds}


def share_table(directions: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]], thresholds) -> pd.DataFrame:
    """One row per direction (from, to): live and dead latents, mean best correlation, and per
    threshold the share (%) of live latents with a counterpart at least that correlated, beside the
    same after shuffling the segments. ``directions``: {(from, to): (best, shuffled)}, each (L_from,)
    best correlations (``best_match``) over the shared segments and over shuffled ones."""
    rows = []
    for (src, dst), (best, base) in directions.items():
        row = {"from": src, "to": dst, "latents": len(best), "dead_here": int(np.isnan(best).sum()),
               "mean_best_corr": float(np.nanmean(best)) if (~np.isnan(best)).any() else float("nan"),
               "shuffled_mean_best_corr": float(np.nanmean(base)) if (~np.isnan(base)).any() else float("nan")}
        for t in thresholds:
            row[f"matched_{t:g}_pct"] = shares(best, [t])[t]
            row[f"shuffled_{t:g}_pct"] = shares(base, [t])[t]
        rows.append(row)
    return pd.DataFrame(rows)


def linear_map(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """The least-squares linear map M (d_a, d_b) with xb ~ xa M + c over the same rows (centred, so
    the offset c is not part of M). ``xa`` (n, d_a), ``xb`` (n, d_b)."""
    xa, xb = np.asarray(xa, np.float64), np.asarray(xb, np.float64)
    return np.linalg.lstsq(xa - xa.mean(0), xb - xb.mean(0), rcond=None)[0]


def aligned_decoder_cosines(a: SparseAutoencoder, b: SparseAutoencoder, partner: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per latent of A: the cosine between its decoder row carried into B's space by ``m`` (d_a, d_b)
    and the decoder row of its counterpart ``partner`` (La,) in B; NaN where it has none (-1)."""
    da = decoder_directions(a) @ m
    da /= np.maximum(np.linalg.norm(da, axis=1, keepdims=True), 1e-12)
    db = decoder_directions(b)
    out = np.full(len(da), np.nan)
    has = partner >= 0
    out[has] = (da[has] * db[partner[has]]).sum(1)
    return out


def raw_decoder_cosines(a: SparseAutoencoder, b: SparseAutoencoder, partner: np.ndarray) -> np.ndarray:
    """Per latent of A: the plain cosine of its decoder row with its counterpart's (same d_in only)."""
    da, db = decoder_directions(a), decoder_directions(b)
    if da.shape[1] != db.shape[1]:
        raise VoicesaeError(f"raw_decoder_cosines: dimensions differ ({da.shape[1]} and {db.shape[1]})")
    out = np.full(len(da), np.nan)
    has = partner >= 0
    out[has] = (da[has] * db[partner[has]]).sum(1)
    return out


def feature_counterparts(sae_a: SparseAutoencoder, sae_b: SparseAutoencoder, corr: np.ndarray, task_a, task_b,
                         feature: str) -> dict:
    """For one label: A's latent phi (``probe.identify``), its counterpart in B (by ``corr`` (La, Lb),
    the correlations over the shared segments), that counterpart alone as a predictor of the label on
    B's test split (fires = positive), and B's own phi for comparison. ``task_a``, ``task_b``: the
    label's task on A's and on B's embeddings of the same rows (``labels.task``)."""
    ra = identify(sae_a, task_a.x_train, task_a.y_train, task_a.x_test, task_a.y_test, feature)
    rb = identify(sae_b, task_b.x_train, task_b.y_train, task_b.x_test, task_b.y_test, feature)
    partner, best = best_match(corr)
    j = int(partner[ra.phi])
    row = {"feature": feature, "phi_a": ra.phi, "precision_a": ra.scores.precision, "recall_a": ra.scores.recall,
           "f1_a": ra.scores.f1, "counterpart_b": j, "corr": float(best[ra.phi]), "phi_b": rb.phi,
           "counterpart_is_phi_b": j == rb.phi, "precision_b_phi": rb.scores.precision, "recall_b_phi": rb.scores.recall,
           "f1_b_phi": rb.scores.f1}
    if j >= 0:
        s = scores(task_b.y_test, encode(sae_b, task_b.x_test)[:, j] > 0)
        row.update(precision_counterpart=s.precision, recall_counterpart=s.recall, f1_counterpart=s.f1)
    else:  # phi never fired on the shared segments: no correlation, no counterpart
        row.update(precision_counterpart=np.nan, recall_counterpart=np.nan, f1_counterpart=np.nan)
    return row


def planted_pairs(sae_a: SparseAutoencoder, sae_b: SparseAutoencoder, truth_a, truth_b, corr: np.ndarray,
                  features: list[str]) -> pd.DataFrame:
    """The ground truth's check (synthetic data, where both models' planted directions are known):
    per planted feature, the latent of A closest to its direction in A (decoder cosine) and the latent
    of B closest to its direction in B, and whether the correlation matching pairs those two.
    ``corr`` (La, Lb): the correlations over the shared segments."""
    da, db = decoder_directions(sae_a), decoder_directions(sae_b)
    partner, best = best_match(corr)
    rows = []
    for f in features:
        ca, cb = da @ truth_a.direction(f), db @ truth_b.direction(f)
        la, lb = int(ca.argmax()), int(cb.argmax())
        rows.append({"feature": f, "latent_a": la, "cos_a": float(ca[la]), "latent_b": lb, "cos_b": float(cb[lb]),
                     "counterpart_of_latent_a": int(partner[la]), "corr": float(best[la]),
                     "corr_with_latent_b": float(corr[la, lb]), "paired": bool(partner[la] == lb)})
    return pd.DataFrame(rows).set_index("feature")


class Comparison(NamedTuple):
    """Two SAEs compared over the shared segments (``compare``)."""
    shares: pd.DataFrame
    """``share_table``: per direction, the share of latents with a counterpart, beside shuffled segments."""
    directions: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    """{(from, to): (best, shuffled)}: each latent's best correlation over the shared segments and
    over shuffled ones, in both directions (what ``shares`` counts, for plotting)."""
    corr: np.ndarray
    """(La, Lb) activation correlations."""
    partner: np.ndarray
    """(La,) each latent of A's counterpart in B (-1: dead on these segments)."""
    best: np.ndarray
    """(La,) its correlation (NaN: dead)."""
    aligned_cos: np.ndarray
    """(La,) decoder cosine to the counterpart after the linear map between the two spaces."""
    raw_cos: np.ndarray | None
    """(La,) plain decoder cosine to the counterpart, where both models have the same dimension."""
    rows: int
    """Segments the correlations were computed over."""


def compare(sae_a: SparseAutoencoder, sae_b: SparseAutoencoder, joined: Joined, names: tuple[str, str],
            thresholds, rows: int = 20000, seed: int = 0) -> Comparison:
    """Everything the chapter reports of one pair of SAEs: their activations over a seeded sample of
    ``rows`` shared segments (0: all) of ``joined``, matched by correlation in both directions and
    against shuffled segments, and A's decoder rows compared with their counterparts'."""
    n = len(joined.a.embeddings)
    take = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False)) if 0 < rows < n else np.arange(n)
    xa, xb = joined.a.embeddings[take], joined.b.embeddings[take]
    va, vb = encode(sae_a, xa), encode(sae_b, xb)
    corr = correlations(va, vb)
    partner, best = best_match(corr)
    directions = {(names[0], names[1]): (best, best_match(correlations(va, shuffled(vb, seed)))[1]),
                  (names[1], names[0]): (best_match(corr.T)[1], best_match(correlations(vb, shuffled(va, seed)))[1])}
    aligned = aligned_decoder_cosines(sae_a, sae_b, partner, linear_map(xa, xb))
    raw = raw_decoder_cosines(sae_a, sae_b, partner) if xa.shape[1] == xb.shape[1] else None
    return Comparison(share_table(directions, thresholds), directions, corr, partner, best, aligned, raw, len(take))


def summary_text(c: Comparison, names: tuple[str, str], thresholds) -> str:
    """The comparison in two sentences, from its numbers."""
    t = sorted(thresholds)[len(thresholds) // 2]
    ab, ba = c.shares.iloc[0], c.shares.iloc[1]
    matched = c.best >= t
    cos = c.aligned_cos[matched]
    text = (f"Over {c.rows:,} shared segments, {ab[f'matched_{t:g}_pct']:.1f} % of the live latents of {names[0]}'s "
            f"SAE have a counterpart in {names[1]}'s with activation correlation at least {t:g} "
            f"(shuffled segments: {ab[f'shuffled_{t:g}_pct']:.1f} %), and {ba[f'matched_{t:g}_pct']:.1f} % the other "
            f"way (shuffled: {ba[f'shuffled_{t:g}_pct']:.1f} %).")
    if len(cos):
        text += (f" Carried into {names[1]}'s space by the least-squares map between the two embeddings, the decoder "
                 f"rows of those {int(matched.sum())} matched latents have a median cosine of {np.median(cos):.2f} to "
                 f"their counterparts' (all latents: {np.nanmedian(c.aligned_cos):.2f}).")
        if c.raw_cos is not None:  # same dimension: the plain cosine too (meaningful only in a shared basis)
            text += (f" Both embeddings have the same dimension: the plain decoder "
                     f"cosine of those pairs, without the map, has median {np.median(c.raw_cos[matched]):.2f}.")
    return text


def folder_name(model: str) -> str:
    """A speaker model's display name as a folder name: 'synthetic model B' -> 'synthetic-model-B'."""
    import re
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-") or "model"


FOUND_AT = 0.5
"""Decoder cosine to a planted direction from which an SAE counts as having a latent for that feature
(``planted_text``): well above what random directions reach in 192-256 dimensions (about 0.25)."""


def planted_text(p: pd.DataFrame, names: tuple[str, str], found_at: float = FOUND_AT) -> str:
    """``planted_pairs``' table in two sentences: of the features both SAEs have a latent for, how many
    the correlation matching pairs; of those only the first SAE has, how well they correlate at best."""
    both = p[(p["cos_a"] >= found_at) & (p["cos_b"] >= found_at)]
    only_a = p[(p["cos_a"] >= found_at) & (p["cos_b"] < found_at)]
    def have(n):
        return f"{n} {'has' if n == 1 else 'have'}"
    text = (f"Of the {len(p)} named planted features, {have(len(both))} a latent within decoder cosine {found_at:g} of "
            f"their direction in both SAEs ({', '.join(both.index) or 'none'})")
    if len(both):
        text += (f"; the correlation matching pairs exactly those two latents for {int(both['paired'].sum())} of them "
                 f"(median correlation of the two {both['corr_with_latent_b'].median():.2f})")
    text += f". {have(len(only_a))} one in {names[0]}'s SAE only"
    if len(only_a):  # each with its latent's best correlation in the other SAE: low where B lacks the feature
        text += (f"; their latents' best correlation with any latent of {names[1]}'s SAE: "
                 + ", ".join(f"{f} {r['corr']:.2f}" for f, r in only_a.iterrows()))
    return text + "."
