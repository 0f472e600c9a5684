"""The paper's published numbers (``paper_reference/`` beside this file, package data), to show beside ours."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import VoicesaeError

FOLDER = Path(__file__).with_name("paper_reference")  # package data: ships in the wheel
GRIDS = {("fig2", "precision"): "fig2_language_precision.csv", ("fig2", "recall"): "fig2_language_recall.csv",
         ("fig3", "precision"): "fig3_music_precision.csv", ("fig3", "recall"): "fig3_music_recall.csv"}
"""The published grids by (figure, metric); a study's feature names its figure (``paper.grid``)."""


def _table(name: str, folder, index: str) -> pd.DataFrame:
    path = Path(folder) / name
    if not path.is_file():
        raise VoicesaeError(f"{path}: missing (the paper's numbers ship in voicesae_core/data/paper_reference/)")
    return pd.read_csv(path, index_col=index)


def grid(figure: str, metric: str, folder: str | Path = FOLDER) -> pd.DataFrame:
    """Fig. 2 (figure='fig2', the Spanish latent) or Fig. 3 ('fig3', the music latent), metric
    'precision' or 'recall', in percent: rows latent_dim, columns k5..k35."""
    if (figure, metric) not in GRIDS:
        raise VoicesaeError(f"paper_reference.grid: no published grid {figure!r} / {metric!r} (have {sorted(GRIDS)})")
    return _table(GRIDS[(figure, metric)], folder, "latent_dim")


def difference(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """ours - paper on the cells both have (NaN elsewhere)."""
    return ours.sub(paper).reindex(index=paper.index.union(ours.index), columns=paper.columns)


STEERING = {"table3": "table3_language_steering.csv", "table4": "table4_music_steering.csv"}
DATASETS = {"table1": "table1_language_dataset.csv", "table2": "table2_music_dataset.csv"}


def steering(table: str, folder: str | Path = FOLDER) -> pd.DataFrame:
    """Table III (table='table3', Spanish) or IV ('table4', music): mean delta_s per class before/after steering."""
    if table not in STEERING:
        raise VoicesaeError(f"paper_reference.steering: no published table {table!r} (have {sorted(STEERING)})")
    return _table(STEERING[table], folder, "samples")


def dataset(table: str, folder: str | Path = FOLDER) -> pd.DataFrame:
    """Table I (table='table1', the Language Feature set) or II ('table2', the Music Feature set): sizes."""
    if table not in DATASETS:
        raise VoicesaeError(f"paper_reference.dataset: no published table {table!r} (have {sorted(DATASETS)})")
    return _table(DATASETS[table], folder, "group" if table == "table1" else "class")


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
    """One sentence (Markdown) from ``compare``: computed, never written by hand. When the two grids
    share no cell (a study with other latent sizes or Ks), the sentence says so instead."""
    if ours.sub(paper).stack().dropna().empty:
        return (f"**{what}**: this study's grid (latent {', '.join(map(str, ours.index))}; K "
                f"{', '.join(str(c)[1:] for c in ours.columns)}) shares no cell with the paper's (latent "
                f"{', '.join(map(str, paper.index))}; K {', '.join(str(c)[1:] for c in paper.columns)}): "
                "nothing to compare.")
    c = compare(ours, paper)
    dim, k, diff = c["largest"]
    return (f"**{what}, ours vs the paper** over the {c['cells']} cells both grids have: ours are on average "
            f"{abs(c['mean_difference']):.1f} points {'above' if c['mean_difference'] >= 0 else 'below'} the paper's "
            f"(mean absolute difference {c['mean_abs_difference']:.1f}); {c['within']} of {c['cells']} cells are "
            f"within {c['close']:g} points; the largest difference is {diff:+.1f} at latent {dim}, K {k[1:]}.")
