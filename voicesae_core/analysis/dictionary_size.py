"""Dictionary size: what an SAE shows as its dictionary grows far beyond the embedding's dimension.

The paper examined latent sizes up to 1,200 but reports up to 600 ("larger values are undertrained
and omitted"), about 3x its 192-d embedding, against the orders of magnitude of the language-model
work ("we lack the data to train models of this magnitude"). ``size_table`` puts one row per SAE of a range of sizes: reconstruction
(FVU), dead latents, the wall time of the pass that trained it and, on data with a planted ground
truth, how many planted features some latent recovers (decoder cosine at least ``recovered_at``)
and how many latents crowd around each named feature (cosine at least ``NEAR``): a feature split
into several latents, or absorbed into others, shows there.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.ground_truth import GroundTruth
from .recovery import decoder_directions
from ..sae.model import SparseAutoencoder

ROWS_PER_LATENT = 10
"""Training rows per latent below which a dictionary is flagged as underdetermined (and ``study init``
proposes none that wide)."""
NEAR = 0.5
"""Decoder cosine from which a latent counts as pointing near a planted feature (``near_<feature>``)."""


def size_table(models: list[SparseAutoencoder], truth: GroundTruth | None = None, named: list[str] = (),
               recovered_at: float = 0.9) -> pd.DataFrame:
    """One row per model (index: its name): latent_dim, expansion (latent_dim / d_in), k, fvu, dead
    latents (% of the dictionary never firing on the evaluation data), train_rows_per_latent,
    converged, train_seconds and trained_together (the pass that trained it: its wall time and how
    many SAEs shared it). With ``truth``: ``recovered`` (features of all with max cosine >=
    ``recovered_at``), ``mean_max_cos`` (their best cosine, averaged over all features),
    ``recovered_named`` (of ``named``), and per named feature its best cosine and
    the number of latents near it."""
    rows = []
    for m in models:
        info, metrics = m.info or {}, (m.info or {}).get("metrics", {})
        conv = info.get("convergence") or {}
        row = {"name": m.cfg.name, "latent_dim": m.cfg.latent_dim, "expansion": m.cfg.latent_dim / m.cfg.d_in,
               "k": m.cfg.k, "fvu": metrics.get("fvu", np.nan), "dead_pct": 100 * metrics.get("dead_frac", np.nan),
               "train_rows_per_latent": info.get("train_rows", np.nan) / m.cfg.latent_dim,
               "converged": conv.get("converged"), "train_seconds": info.get("train_seconds", np.nan),
               "trained_together": info.get("trained_together", np.nan)}
        if truth is not None:
            cos = truth.directions @ decoder_directions(m).T  # (features, latents)
            best = cos.max(1)
            row["recovered"] = int((best >= recovered_at).sum())
            row["mean_max_cos"] = float(best.mean())
            idx = [truth.names.index(f) for f in named]
            row["recovered_named"] = int((best[idx] >= recovered_at).sum())
            for f, i in zip(named, idx):
                row[f"{f}_max_cos"] = float(best[i])
                row[f"near_{f}"] = int((cos[i] >= NEAR).sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("name")


def pass_seconds(table: pd.DataFrame) -> pd.Series:
    """The wall time of training each latent size (s): its models' passes, each counted once (models
    trained together share one pass and one time)."""
    passes = table.drop_duplicates(["latent_dim", "train_seconds", "trained_together"])
    return passes.groupby("latent_dim")["train_seconds"].sum()


def underdetermined(table: pd.DataFrame, rows_per_latent: float = ROWS_PER_LATENT) -> list[int]:
    """Latent sizes trained on fewer than ``rows_per_latent`` training rows per latent."""
    return sorted({int(r.latent_dim) for r in table.itertuples() if r.train_rows_per_latent < rows_per_latent})
