"""Seed stability: do SAEs trained from different random initialisations learn the same latents?

Two SAEs of one configuration (same latent_dim, K, data and batch order; only ``SAEConfig.seed``,
the initialisation, differs) are compared latent by latent: their unit decoder rows are matched
one-to-one by the Hungarian algorithm (maximising the total cosine), and a latent is *shared*
when its partner's cosine is at least a threshold. As a yardstick, the same matching of two sets
of random unit directions says what chance alone scores in this dimension.

For a labelled feature, the latent phi identified in each seed (``probe.identify``) is followed:
its cosine to the reference seed's phi, whether the matching pairs them, and its precision and
recall alone, with bootstrap intervals.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .bootstrap import score_intervals
from ..errors import VoicesaeError
from .probe import identify
from .recovery import decoder_directions, match
from ..sae.model import SparseAutoencoder


def seed_match(a: SparseAutoencoder, b: SparseAutoencoder) -> tuple[np.ndarray, np.ndarray]:
    """Per latent of ``a``: its Hungarian partner in ``b`` and their decoder cosine.
    Returns two (latent_dim,) arrays: partner indices (-1: none) and cosines."""
    return _match(decoder_directions(a), decoder_directions(b))


def _match(da: np.ndarray, db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # recovery.match's one-to-one matching, with a's rows in the place of the planted features
    m = match(db, da)
    return m["hungarian_latent"].to_numpy(), m["hungarian_cos"].to_numpy()


def random_pair(latent_dim: int, d: int, seed: int = 0) -> np.ndarray:
    """The matched cosines of two sets of ``latent_dim`` random unit directions in ``d`` dimensions.
    ``d``: the embedding dimension d_in; returns (latent_dim,) cosines."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((latent_dim, d)) for _ in range(2))
    return _match(a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True))[1]


def _by_config(models: list[SparseAutoencoder]) -> dict[tuple, list[SparseAutoencoder]]:
    groups: dict[tuple, list[SparseAutoencoder]] = {}
    for m in models:
        groups.setdefault((m.cfg.latent_dim, m.cfg.k, m.cfg.activation), []).append(m)
    return groups


def pair_table(models: list[SparseAutoencoder], thresholds=(0.7, 0.9)) -> pd.DataFrame:
    """One row per configuration and pair of seeds: the mean matched cosine and, per threshold, the
    share (%) of latents shared; beside them the same for random directions."""
    rows = []
    for (latent_dim, k, activation), group in _by_config(models).items():
        if len(group) < 2:
            raise VoicesaeError(f"pair_table: configuration L{latent_dim} K{k} {activation} has one seed; "
                                "stability needs at least two")
        chance = random_pair(latent_dim, group[0].cfg.d_in)
        for a, b in itertools.combinations(group, 2):
            cos = seed_match(a, b)[1]
            row = {"latent_dim": latent_dim, "k": k, "activation": activation, "seed_a": a.cfg.seed,
                   "seed_b": b.cfg.seed, "mean_cos": float(cos.mean()), "random_mean_cos": float(chance.mean())}
            for t in thresholds:
                row[f"shared_{t:g}_pct"] = 100.0 * float((cos >= t).mean())
                row[f"random_shared_{t:g}_pct"] = 100.0 * float((chance >= t).mean())
            rows.append(row)
    return pd.DataFrame(rows)


def summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: how many seed pairs, and the mean, min and max of every share column."""
    shares = [c for c in pairs.columns if c.startswith("shared_")]
    g = pairs.groupby(["latent_dim", "k", "activation"])
    out = g.size().rename("pairs").to_frame()
    out["mean_cos"] = g["mean_cos"].mean()
    for c in shares:
        out[f"{c}_mean"], out[f"{c}_min"], out[f"{c}_max"] = g[c].mean(), g[c].min(), g[c].max()
        out[f"random_{c}"] = g[f"random_{c}"].mean()
    return out.reset_index()


def follow_feature(models: list[SparseAutoencoder], x_train, y_train, x_test, y_test, what: str = "label",
                   threshold: float = 0.7, n_boot: int = 1000, level: float = 0.95) -> pd.DataFrame:
    """The label's latent phi in each seed of one configuration (``models[0]`` is the reference):
    phi, its decoder cosine to the reference phi, the reference phi's Hungarian partner in this
    seed, ``reappears`` (cosine >= threshold), and phi's precision and recall alone with intervals.
    ``x_train`` (n_train, d_in), ``y_train`` (n_train,) bool, ``x_test`` (n_test, d_in), ``y_test`` (n_test,) bool."""
    if len({(m.cfg.latent_dim, m.cfg.k, m.cfg.activation) for m in models}) != 1:
        raise VoicesaeError("follow_feature: give the seeds of one configuration (same latent_dim, K, activation)")
    ref = identify(models[0], x_train, y_train, x_test, y_test, what)
    ref_dir = decoder_directions(models[0])[ref.phi]
    rows = []
    for m in models:
        r = ref if m is models[0] else identify(m, x_train, y_train, x_test, y_test, what)
        cos = float(decoder_directions(m)[r.phi] @ ref_dir)
        partner = int(seed_match(models[0], m)[0][ref.phi])
        ci = score_intervals(y_test, r.predicted, n_boot, level)
        rows.append({"model": m.cfg.name, "seed": m.cfg.seed, "phi": r.phi, "cos_to_reference_phi": cos,
                     "partner_of_reference_phi": partner, "paired_by_matching": partner == r.phi,
                     "reappears": cos >= threshold,
                     "precision": r.scores.precision, "precision_low": ci.precision.low, "precision_high": ci.precision.high,
                     "recall": r.scores.recall, "recall_low": ci.recall.low, "recall_high": ci.recall.high})
    return pd.DataFrame(rows)


def follow_features(models: list[SparseAutoencoder], tasks: dict, configs: list[list[int]], threshold: float = 0.7,
                    n_boot: int = 1000) -> pd.DataFrame:
    """``follow_feature`` for every task ({name: labels.Task}) and every [latent_dim, K] of
    ``configs``, the seeds of each taken from ``models``; one table with columns feature (the
    task's name), latent_dim and k added."""
    out = []
    for task in tasks.values():
        for latent, k in configs:
            group = [m for m in models if (m.cfg.latent_dim, m.cfg.k) == (latent, k)]
            if len(group) < 2:
                raise VoicesaeError(f"follow_features: configuration L{latent} K{k} has {len(group)} trained seed(s); "
                                    "seed stability needs at least two")
            f = follow_feature(group, task.x_train, task.y_train, task.x_test, task.y_test, task.name, threshold, n_boot)
            out.append(f.assign(feature=task.name, latent_dim=latent, k=k))
    return pd.concat(out, ignore_index=True)


def summary_text(summary: pd.DataFrame, followed: pd.DataFrame, thresholds: list[float]) -> str:
    """The chapter's "Measured in this build" list (Markdown) from ``summary`` and ``follow_features``:
    computed, never written by hand."""
    lo, hi = min(thresholds), max(thresholds)
    lines = []
    for (latent, k), g in summary.groupby(["latent_dim", "k"]):
        r = g.iloc[0]
        lines.append(f"L{latent} K{k}: {r[f'shared_{lo:g}_pct_mean']:.0f} % of latents shared at cosine {lo:g} "
                     f"(seed pairs {r[f'shared_{lo:g}_pct_min']:.0f}-{r[f'shared_{lo:g}_pct_max']:.0f} %; random "
                     f"directions {r[f'random_shared_{lo:g}_pct']:.0f} %), {r[f'shared_{hi:g}_pct_mean']:.0f} % at {hi:g}")
    for (feature, latent, k), g in followed.groupby(["feature", "latent_dim", "k"], sort=False):
        back = int(g["reappears"].sum())
        lines.append(f"{feature}, L{latent} K{k}: phi is the same direction (cosine >= {lo:g}) in "
                     f"{back} of {len(g)} seeds; precision {100 * g.precision.min():.1f}-{100 * g.precision.max():.1f} %, "
                     f"recall {100 * g.recall.min():.1f}-{100 * g.recall.max():.1f} % over seeds")
    return "Measured in this build:\n\n" + "\n".join(f"* {line}" for line in lines)
