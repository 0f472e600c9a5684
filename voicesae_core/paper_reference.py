"""The paper's published numbers (data_manifests/paper_reference/), to show beside ours."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import VoicesaeError

FOLDER = Path(__file__).resolve().parents[1] / "data_manifests" / "paper_reference"
GRIDS = {("language", "precision"): "fig2_language_precision.csv", ("language", "recall"): "fig2_language_recall.csv",
         ("music", "precision"): "fig3_music_precision.csv", ("music", "recall"): "fig3_music_recall.csv"}


def _table(name: str, folder, index: str) -> pd.DataFrame:
    path = Path(folder) / name
    if not path.is_file():
        raise VoicesaeError(f"{path}: missing (the paper's numbers are copied into data_manifests/paper_reference/)")
    return pd.read_csv(path, index_col=index)


def grid(feature: str, metric: str, folder: str | Path = FOLDER) -> pd.DataFrame:
    """Fig. 2 (feature='language') or Fig. 3 ('music'), metric 'precision' or 'recall', in percent:
    rows latent_dim, columns k5..k35."""
    if (feature, metric) not in GRIDS:
        raise VoicesaeError(f"paper_reference.grid: no published grid for {feature!r} / {metric!r}")
    return _table(GRIDS[(feature, metric)], folder, "latent_dim")


def difference(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """ours - paper on the cells both have (NaN elsewhere)."""
    return ours.sub(paper).reindex(index=paper.index.union(ours.index), columns=paper.columns)


STEERING = {"language": "table3_language_steering.csv", "music": "table4_music_steering.csv"}
DATASETS = {"language": "table1_language_dataset.csv", "music": "table2_music_dataset.csv"}


def steering(feature: str, folder: str | Path = FOLDER) -> pd.DataFrame:
    """Table III (feature='language') or IV ('music'): mean delta_s per class before/after steering."""
    if feature not in STEERING:
        raise VoicesaeError(f"paper_reference.steering: no published table for {feature!r}")
    return _table(STEERING[feature], folder, "samples")


def dataset(feature: str, folder: str | Path = FOLDER) -> pd.DataFrame:
    """Table I (feature='language') or II ('music'): the labelled feature set's sizes."""
    if feature not in DATASETS:
        raise VoicesaeError(f"paper_reference.dataset: no published table for {feature!r}")
    return _table(DATASETS[feature], folder, "group" if feature == "language" else "class")


def single_model(folder: str | Path = FOLDER) -> pd.DataFrame:
    """Section V-A's text on the latent 200, K 20 model: per feature, phi, precision and recall (%)."""
    return _table("text_single_model.csv", folder, "feature")


def compare(ours: pd.DataFrame, paper: pd.DataFrame, close: float = 5.0) -> dict:
    """How a grid of ours relates to the paper's on the cells both have (percentage points)."""
    d = ours.sub(paper).stack().dropna()
    if d.empty:
        raise VoicesaeError("paper_reference.compare: no cell in common (different latent_dims or Ks)")
    worst = d.abs().idxmax()
    return {"cells": int(d.size), "mean_difference": float(d.mean()), "mean_abs_difference": float(d.abs().mean()),
            "within": int((d.abs() <= close).sum()), "close": close,
            "largest": (int(worst[0]), str(worst[1]), float(d[worst]))}


def compare_text(ours: pd.DataFrame, paper: pd.DataFrame, what: str) -> str:
    """One sentence (Markdown) from ``compare``: computed, never written by hand."""
    c = compare(ours, paper)
    dim, k, diff = c["largest"]
    return (f"**{what}, ours vs the paper** over the {c['cells']} cells both grids have: ours are on average "
            f"{abs(c['mean_difference']):.1f} points {'above' if c['mean_difference'] >= 0 else 'below'} the paper's "
            f"(mean absolute difference {c['mean_abs_difference']:.1f}); {c['within']} of {c['cells']} cells are "
            f"within {c['close']:g} points; the largest difference is {diff:+.1f} at latent {dim}, K {k[1:]}.")
