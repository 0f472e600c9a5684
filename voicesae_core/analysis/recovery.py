"""Ground-truth recovery: how well an SAE's decoder directions match the planted feature directions.

On the synthetic benchmark the truth is known (``ground_truth``): every feature f has a unit
direction u_f. For an SAE with unit decoder rows d_l:

* ``max_cos`` of f = max_l cos(u_f, d_l): is *some* latent pointing along f?
* ``hungarian_cos`` of f: the cosine of the latent given to f by a one-to-one matching of
  features to latents that maximises the total cosine (``scipy.optimize.linear_sum_assignment``);
  a feature left without a latent (fewer latents than features) scores 0. This stops one latent
  being credited for several features.

Both are compared with a baseline: the same numbers for as many random unit directions (mean of
``draws`` draws), which is what an SAE that learnt nothing would score in this dimension.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ..data.ground_truth import GroundTruth
from ..device import to_numpy
from ..sae.model import SparseAutoencoder


def decoder_directions(sae: SparseAutoencoder) -> np.ndarray:
    """(latent_dim, d_in) unit decoder rows."""
    w = to_numpy(sae.W_dec.float())
    return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)


def match(learned: np.ndarray, planted: np.ndarray) -> pd.DataFrame:
    """Per planted feature: max_cos, its latent, and the one-to-one (Hungarian) latent and cosine.
    ``learned`` (n_latents, d_in), ``planted`` (n_features, d_in): unit rows; returns n_features rows."""
    cos = planted @ learned.T  # (features, latents)
    rows, cols = linear_sum_assignment(-cos)
    hungarian_latent = np.full(len(planted), -1)
    hungarian_latent[rows] = cols
    hungarian_cos = np.where(hungarian_latent >= 0, cos[np.arange(len(planted)), np.maximum(hungarian_latent, 0)], 0.0)
    return pd.DataFrame({"max_cos": cos.max(1), "latent": cos.argmax(1),
                         "hungarian_cos": hungarian_cos, "hungarian_latent": hungarian_latent})


def random_baseline(n_latents: int, planted: np.ndarray, draws: int = 5, seed: int = 0) -> tuple[float, float]:
    """Mean max_cos and mean hungarian_cos over the features for ``n_latents`` random unit directions.
    ``planted`` (n_features, d_in) unit rows."""
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(draws):
        r = rng.standard_normal((n_latents, planted.shape[1]))
        m = match(r / np.linalg.norm(r, axis=1, keepdims=True), planted)
        scores.append((m["max_cos"].mean(), m["hungarian_cos"].mean()))
    return tuple(float(v) for v in np.mean(scores, axis=0))


def recovery(sae: SparseAutoencoder, truth: GroundTruth) -> pd.DataFrame:
    """One row per planted feature (index: its name): max_cos, latent, hungarian_cos, hungarian_latent."""
    table = match(decoder_directions(sae), truth.directions)
    table.index = pd.Index(truth.names, name="feature")
    return table


def recovery_grid(models: list[SparseAutoencoder], truth: GroundTruth, named: list[str] | None = None,
                  draws: int = 5) -> pd.DataFrame:
    """One row per model: mean max_cos and hungarian_cos over all features, over ``named`` ones (e.g.
    the non-trait features), the random baseline for the same latent count, and per named feature."""
    named = named or []
    rows, baselines = [], {}
    for sae in models:
        r = recovery(sae, truth)
        n = sae.cfg.latent_dim
        if n not in baselines:
            baselines[n] = random_baseline(n, truth.directions, draws)
        row = {"model": sae.cfg.name, "latent_dim": n, "k": sae.cfg.k,
               "mean_max_cos": r["max_cos"].mean(), "mean_hungarian_cos": r["hungarian_cos"].mean(),
               "baseline_max_cos": baselines[n][0], "baseline_hungarian_cos": baselines[n][1]}
        if named:
            row["named_mean_hungarian_cos"] = r.loc[named, "hungarian_cos"].mean()
        row.update({f"{f}_max_cos": r.loc[f, "max_cos"] for f in named})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")
