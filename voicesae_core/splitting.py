"""Feature splitting (Section V-B, Fig. 4): follow a label's latent(s) as the latent size grows.

For SAEs of one K and growing latent_dim, each model's *label latents* are the latents that
carry the label: positive logistic-regression weight, firing mostly on positive training
samples (precision >= ``min_precision``) and on at least ``min_share`` of them. Every test
sample is then assigned, at each size, to the label latent with the largest activation on it,
or to "none" when no label latent fires. Following the samples from one size to the next gives
flows (a Sankey diagram), which conserve counts by construction: each sample is in exactly one
node per size.

A *split*: a latent at one size whose samples divide between two or more label latents at the
next size, each child taking at least ``min_child_share`` of them. Parents and children are also
linked by the cosine of their decoder directions.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .probe import encode, fit_probe
from .sae import SparseAutoencoder

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


def label_latents(v_train: np.ndarray, y_train, min_precision: float = 0.9, min_share: float = 0.05,
                  max_latents: int = 8) -> list[int]:
    """The latents that carry a label (see module doc), strongest probe weight first."""
    y = np.asarray(y_train, bool)
    weights = fit_probe(v_train, y)
    fires = v_train > 0
    out = []
    for latent in np.argsort(-weights, kind="stable"):
        if weights[latent] <= 0 or len(out) == max_latents:
            break
        n_fire = fires[:, latent].sum()
        if n_fire and (fires[y, latent].sum() / n_fire) >= min_precision and fires[y, latent].mean() >= min_share:
            out.append(int(latent))
    return out


def assign(v: np.ndarray, latents: list[int]) -> np.ndarray:
    """Each row's label latent with the largest activation, or NONE when none fires."""
    if not latents:
        return np.full(len(v), NONE)
    acts = v[:, latents]
    best = np.argmax(acts, axis=1)
    return np.where(acts.max(1) > 0, np.asarray(latents)[best], NONE)


def flows(a: np.ndarray, b: np.ndarray) -> dict[tuple[int, int], int]:
    """{(node at one size, node at the next): number of samples}."""
    pairs, counts = np.unique(np.stack([a, b], 1), axis=0, return_counts=True)
    return {(int(p), int(q)): int(c) for (p, q), c in zip(pairs, counts)}


def follow(models: list[SparseAutoencoder], x_train, y_train, x_test, min_precision: float = 0.9,
           min_share: float = 0.05, min_child_share: float = 0.2) -> SplitAnalysis:
    """Follow the label latent(s) across ``models`` (one K, any order of latent_dim)."""
    models = sorted(models, key=lambda m: m.cfg.latent_dim)
    dims = [m.cfg.latent_dim for m in models]
    chosen, columns = [], []
    for m in models:
        latents = label_latents(encode(m, x_train), y_train, min_precision, min_share)
        chosen.append(latents)
        columns.append(assign(encode(m, x_test), latents))
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
                w_parent = models[i].W_dec[parent].detach().numpy()
                cos = tuple(float(w_parent @ models[i + 1].W_dec[q].detach().numpy()) for q, _ in kids)
                splits.append(Split(dims[i], parent, dims[i + 1], tuple(q for q, _ in kids),
                                    tuple(s for _, s in kids), cos))
    return SplitAnalysis(dims, chosen, assignment, all_flows, splits)
