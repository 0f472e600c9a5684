"""Dictionary size: what an SAE shows as its dictionary grows far beyond the embedding's dimension.

The paper examined latent sizes up to 1,200 but reports up to 600 ("larger values are undertrained
and omitted"), about 3x its 192-d embedding, against the orders of magnitude of the language-model
work ("we lack the data to train models of this magnitude"). ``size_table`` puts one row per SAE
of a range of sizes: reconstruction (FVU), dead latents and, on data with a planted ground truth,
how many planted features some latent recovers (decoder cosine at least ``recovered_at``) and how
many latents crowd around each named feature (cosine at least ``NEAR``): a feature split into
several latents, or absorbed into others, shows there. ``pass_time`` keeps what each size's
training took.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.ground_truth import GroundTruth
from ..files import atomic_path
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
    latents (% of the dictionary never firing on the evaluation data), train_rows_per_latent and
    converged. With ``truth``: ``recovered`` (features of all with max cosine >=
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
               "converged": conv.get("converged")}
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


PASS_TIME = "pass_time.json"
"""The file, beside a size's SAEs, that keeps the wall time of the training pass that made them."""


def pass_time(folder: str | Path, result) -> float:
    """The wall time (s) of training the SAEs of one ``train_grid`` call into ``folder``: this call's
    when it trained them (then kept in ``folder/pass_time.json``: the model files carry no times, so
    that they are the same bytes on every run), else the time kept when they were trained; NaN when
    none was (they were all taken from another grid, trained there beside other sizes)."""
    path = Path(folder) / PASS_TIME
    if result.trained:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"train_seconds": result.train_seconds, "trained": result.trained}) + "\n")
        return float(result.train_seconds)
    if path.is_file():
        return float(json.loads(path.read_text())["train_seconds"])
    return float("nan")


def underdetermined(table: pd.DataFrame, rows_per_latent: float = ROWS_PER_LATENT) -> list[int]:
    """Latent sizes trained on fewer than ``rows_per_latent`` training rows per latent."""
    return sorted({int(r.latent_dim) for r in table.itertuples() if r.train_rows_per_latent < rows_per_latent})
