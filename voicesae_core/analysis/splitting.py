"""Feature splitting (Section V-B, Fig. 4): follow a label's latent(s) as the latent size grows.

For SAEs of one K and growing latent_dim, each model's *label latents* are the probe's latent
phi (the one the paper follows: "the predominant Spanish index"), whatever its precision, and
the other latents that carry the label: positive logistic-regression weight, firing mostly on
positive training samples (precision >= ``min_precision``) and on at least ``min_share`` of them.

Every test sample is then assigned, at each size, to one label latent that fires on it, or to
"none" when none fires. Which one, when several fire: by default (``rule="specific"``) the most
specific, i.e. the one that fires on the fewest training samples. Features can form a hierarchy
(a Spanish latent that keeps firing beside new Spanish-male and Spanish-female latents); the
narrow child then says more about the sample, and the parent keeps the samples no child claims.
``rule="activation"`` takes the largest activation instead. ``fires`` records every label latent
that fires, for the co-firing table. Following the samples from one size to the next gives
flows (a Sankey diagram), which conserve counts by construction: each sample is in exactly one
node per size.

A *split*: a latent at one size whose samples divide between two or more label latents at the
next size, each child taking at least ``min_child_share`` of them. Parents and children are also
linked by the cosine of their decoder directions.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import VoicesaeError
from .probe import encode, fit_probe
from ..device import to_numpy
from ..sae.model import SparseAutoencoder

NONE = -1  # the "no label latent fires" node


class Split(NamedTuple):
    latent_dim: int
    parent: int
    next_latent_dim: int
    children: tuple[int, ...]
    shares: tuple[float, ...]
    """Fraction of the parent's samples each child receives."""
    decoder_cosines: tuple[float, ...]
    """cos(W_dec[parent], W_dec[child]) for each child."""


class SplitAnalysis(NamedTuple):
    latent_dims: list[int]
    label_latents: list[list[int]]
    """Per size, the label latents (see module doc), strongest weight first."""
    assignment: np.ndarray
    """(n_test, n_sizes): each test sample's label latent per size, or NONE."""
    flows: list[dict]
    """Per consecutive pair of sizes, {(from_latent, to_latent): count} over all test samples."""
    splits: list[Split]
    fires: list[np.ndarray] | None = None
    """Per size, (n_test, len(label_latents)) bool: which label latents fire on each test sample."""


def label_latents(v_train: np.ndarray, y_train, min_precision: float = 0.9, min_share: float = 0.05,
                  max_latents: int = 8) -> list[int]:
    """phi and the other latents that carry a label (see module doc), strongest probe weight first.
    ``v_train`` (n_train, latent_dim) activations, ``y_train`` (n_train,) bool."""
    y = np.asarray(y_train, bool)
    weights = fit_probe(v_train, y)
    fires = v_train > 0
    out = []
    for rank, latent in enumerate(np.argsort(-weights, kind="stable")):
        if weights[latent] <= 0 or len(out) == max_latents:
            break
        n_fire = fires[:, latent].sum()
        if rank == 0 and n_fire:  # phi, the probe's latent: the label's latent by definition (Fig. 4)
            out.append(int(latent))
        elif n_fire and (fires[y, latent].sum() / n_fire) >= min_precision and fires[y, latent].mean() >= min_share:
            out.append(int(latent))
    return out


def assign(v: np.ndarray, latents: list[int], breadth=None) -> np.ndarray:
    """Each row's label latent, or NONE when none fires: among those firing, the one with the
    smallest ``breadth`` (e.g. training firing counts; ties: the earlier in ``latents``), or with
    the largest activation when ``breadth`` is None. ``v`` (n, latent_dim) activations, ``latents``: latent
    indices, ``breadth`` (len(latents),); returns (n,) latent indices (or NONE)."""
    if not latents:
        return np.full(len(v), NONE)
    acts = v[:, latents]
    if breadth is None:
        best = np.argmax(acts, axis=1)
    else:
        key = np.where(acts > 0, np.asarray(breadth, float)[None, :], np.inf)
        best = np.argmin(key, axis=1)
    return np.where(acts.max(1) > 0, np.asarray(latents)[best], NONE)


def flows(a: np.ndarray, b: np.ndarray) -> dict[tuple[int, int], int]:
    """{(node at one size, node at the next): number of samples}. ``a``, ``b`` (n,): each sample's node."""
    pairs, counts = np.unique(np.stack([a, b], 1), axis=0, return_counts=True)
    return {(int(p), int(q)): int(c) for (p, q), c in zip(pairs, counts)}


def follow(models: list[SparseAutoencoder], x_train, y_train, x_test, min_precision: float = 0.9,
           min_share: float = 0.05, min_child_share: float = 0.2, rule: str = "specific") -> SplitAnalysis:
    """Follow the label latent(s) across ``models`` (one K, any order of latent_dim); see the module doc.
    ``x_train`` (n_train, d_in), ``y_train`` (n_train,) bool, ``x_test`` (n_test, d_in)."""
    if rule not in ("specific", "activation"):
        raise VoicesaeError(f"follow: rule must be 'specific' or 'activation', not {rule!r}")
    models = sorted(models, key=lambda m: m.cfg.latent_dim)
    dims = [m.cfg.latent_dim for m in models]
    chosen, columns, fires = [], [], []
    for m in models:
        v_train, v_test = encode(m, x_train), encode(m, x_test)
        latents = label_latents(v_train, y_train, min_precision, min_share)
        chosen.append(latents)
        breadth = (v_train[:, latents] > 0).sum(0) if rule == "specific" else None
        columns.append(assign(v_test, latents, breadth))
        fires.append(v_test[:, latents] > 0)
    assignment = np.stack(columns, 1) if columns else np.zeros((len(x_test), 0), int)
    all_flows, splits = [], []
    for i in range(len(models) - 1):
        f = flows(assignment[:, i], assignment[:, i + 1])
        all_flows.append(f)
        for parent in chosen[i]:
            total = sum(c for (p, _), c in f.items() if p == parent)
            kids = sorted(((q, c / total) for (p, q), c in f.items() if p == parent and q != NONE and total),
                          key=lambda kc: -kc[1])
            kids = [(q, share) for q, share in kids if share >= min_child_share]
            if len(kids) >= 2:
                cos = tuple(decoder_cosine(models[i], parent, models[i + 1], q) for q, _ in kids)
                splits.append(Split(dims[i], parent, dims[i + 1], tuple(q for q, _ in kids),
                                    tuple(s for _, s in kids), cos))
    return SplitAnalysis(dims, chosen, assignment, all_flows, splits, fires)


def decoder_cosine(a: SparseAutoencoder, i: int, b: SparseAutoencoder, j: int) -> float:
    """cos(latent i's decoder row in ``a``, latent j's in ``b``): rows have unit norm, so their dot
    product (computed on the host, whichever device the models are on)."""
    return float(to_numpy(a.W_dec[i]) @ to_numpy(b.W_dec[j]))


def node_label(latent_dim: int, latent: int) -> str:
    """How a Sankey node is named: 'L300 #60', or 'L300 none' for the no-label-latent node."""
    return f"L{latent_dim} none" if latent == NONE else f"L{latent_dim} #{latent}"


def sankey_links(analysis: SplitAnalysis, groups) -> pd.DataFrame:
    """The Sankey diagram's links, one row per (step, source, target, group) with its sample count.

    ``groups`` (n_test,): a label per test sample (e.g. 'Spanish female'), so each flow is drawn per group.
    Counts are taken from ``analysis.assignment``, so at every step they sum to the number of test
    samples and each node's inflow equals its outflow.
    """
    groups = np.asarray(groups).astype(str)
    a = analysis.assignment
    if len(groups) != len(a):
        raise VoicesaeError(f"sankey_links: {len(groups)} group labels for {len(a)} test samples")
    rows = []
    for i in range(a.shape[1] - 1):
        keys, counts = np.unique(np.stack([a[:, i].astype(str), a[:, i + 1].astype(str), groups], 1), axis=0,
                                 return_counts=True)
        for (p, q, g), c in zip(keys, counts):
            rows.append({"step": i, "source_dim": analysis.latent_dims[i], "source": int(p),
                         "target_dim": analysis.latent_dims[i + 1], "target": int(q), "group": g, "count": int(c)})
    return pd.DataFrame(rows, columns=["step", "source_dim", "source", "target_dim", "target", "group", "count"])


def node_table(analysis: SplitAnalysis, groups) -> pd.DataFrame:
    """Samples per node (size x latent) and group: who fires on each label latent at each size.
    ``groups`` (n_test,): a label per test sample."""
    groups = np.asarray(groups).astype(str)
    rows = []
    for i, dim in enumerate(analysis.latent_dims):
        keys, counts = np.unique(np.stack([analysis.assignment[:, i].astype(str), groups], 1), axis=0, return_counts=True)
        rows += [{"latent_dim": dim, "latent": int(n), "group": g, "count": int(c)} for (n, g), c in zip(keys, counts)]
    return (pd.DataFrame(rows).pivot_table(index=["latent_dim", "latent"], columns="group", values="count", fill_value=0)
            .astype(int))


def firing_table(analysis: SplitAnalysis, groups) -> pd.DataFrame:
    """Per size and label latent, on how many test samples of each group it fires (not exclusive:
    a sample counts for every label latent that fires on it). ``groups`` (n_test,): a label per test sample."""
    groups = np.asarray(groups).astype(str)
    names = sorted(set(groups))
    rows = []
    for dim, latents, fires in zip(analysis.latent_dims, analysis.label_latents, analysis.fires):
        for j, latent in enumerate(latents):
            rows.append({"latent_dim": dim, "latent": latent, **{g: int(fires[groups == g, j].sum()) for g in names}})
    return pd.DataFrame(rows, columns=["latent_dim", "latent", *names]).set_index(["latent_dim", "latent"])


def split_table(analysis: SplitAnalysis) -> pd.DataFrame:
    """The detected splits, one row per (parent, child)."""
    rows = [{"latent_dim": s.latent_dim, "parent": s.parent, "next_latent_dim": s.next_latent_dim, "child": c,
             "share_of_parent": round(share, 4), "decoder_cosine": round(cos, 4)}
            for s in analysis.splits for c, share, cos in zip(s.children, s.shares, s.decoder_cosines)]
    return pd.DataFrame(rows, columns=["latent_dim", "parent", "next_latent_dim", "child", "share_of_parent",
                                       "decoder_cosine"])


def split_text(analysis: SplitAnalysis, label: str = "label") -> str:
    """The detected splits in one sentence each (Markdown): computed, never written by hand."""
    if not analysis.splits:
        return (f"No split of a {label} latent was detected over latent sizes "
                f"{', '.join(map(str, analysis.latent_dims))}.")
    out = []
    for s in analysis.splits:
        kids = ", ".join(f"#{c} (share {share:.2f}, decoder cosine {cos:.2f})"
                         for c, share, cos in zip(s.children, s.shares, s.decoder_cosines))
        out.append(f"{label} latent #{s.parent} at latent size {s.latent_dim} splits at {s.next_latent_dim} into {kids}.")
    return " ".join(out)
