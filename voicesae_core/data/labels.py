"""A binary label task from a labelled dataset: "Spanish vs English", "music vs voice".

The analyses (probe, splitting, steering) need, for one manifest, the train and test
embeddings and a bool per row (positive class). ``task`` builds that from a metadata column,
the value that means positive and optionally the value(s) that mean negative (rows with any
other value are left out), and checks that both classes occur in both splits -- with an error
naming the metadata file and column when they do not.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import VoicesaeError
from .manifest import Dataset, require_columns


class Task(NamedTuple):
    name: str
    """What the label is, e.g. 'Spanish vs English'."""
    x_train: np.ndarray
    y_train: np.ndarray
    """Bool per training row: the positive class."""
    x_test: np.ndarray
    y_test: np.ndarray
    meta_train: pd.DataFrame
    meta_test: pd.DataFrame
    """The metadata of the rows kept, in the same order as x."""

    def counts(self) -> pd.DataFrame:
        """Rows per class and split (like Tables I-II)."""
        return pd.DataFrame({"train": [int(self.y_train.sum()), int((~self.y_train).sum())],
                             "test": [int(self.y_test.sum()), int((~self.y_test).sum())]},
                            index=pd.Index(["positive", "negative"], name="class"))


def _as_values(v) -> list[str]:
    return [str(x) for x in (v if isinstance(v, (list, tuple, set)) else [v])]


def task(ds: Dataset, column: str, positive, negative=None, name: str | None = None) -> Task:
    """The task "``column`` == ``positive``" vs "``column`` in ``negative``" (default: every other value).

    Values compare as text, so ``positive=1`` and ``positive="1"`` both match an is_music of 1.
    """
    require_columns(ds, [column, "split"])
    meta_file = ds.path.parent / ds.manifest["metadata"]["path"]
    values = ds.metadata[column].astype(str)
    pos_values = _as_values(positive)
    neg_values = _as_values(negative) if negative is not None else []
    present = sorted(values.unique())
    for v in pos_values + neg_values:
        if v not in present:
            raise VoicesaeError(f"{meta_file}: column '{column}' has no row with value {v!r} "
                                f"(values present: {present})")
    is_pos = values.isin(pos_values).to_numpy()
    keep = is_pos | (values.isin(neg_values).to_numpy() if negative is not None else ~is_pos)
    name = name or f"{column}={'/'.join(pos_values)} vs " + ("/".join(neg_values) if negative is not None else "rest")
    parts = {}
    for split in ("train", "test"):
        rows = keep & (ds.metadata["split"] == split).to_numpy()
        y = is_pos[rows]
        if y.all() or not y.any():
            lacking = "negative" if y.all() and len(y) else "positive"
            raise VoicesaeError(f"{meta_file}: {name}: the {split} split has no {lacking} rows "
                                f"({int(y.sum())} positive, {int((~y).sum())} negative); the analysis needs both")
        parts[split] = (ds.embeddings[rows], y, ds.metadata[rows].reset_index(drop=True))
    (xa, ya, ma), (xb, yb, mb) = parts["train"], parts["test"]
    return Task(name, xa, ya, xb, yb, ma, mb)


def group_counts(ds: Dataset, columns: list[str]) -> pd.DataFrame:
    """Rows per group (the values of ``columns``) and split, like Tables I-II: one row per group,
    columns train and test."""
    require_columns(ds, list(columns) + ["split"])
    table = ds.metadata.groupby(list(columns) + ["split"]).size().unstack("split", fill_value=0)
    return table.reindex(columns=[c for c in ("train", "test") if c in table.columns]).astype(int)

def feature_tasks(ds, features: dict) -> tuple[dict, dict[str, str]]:
    """The features (a study's registry: {name: an object with ``column``, ``positive``, ``negative``
    and ``label``}) that the dataset ``ds`` can give, as tasks on it (``task``). A feature it cannot
    give is skipped, with the reason (a column absent; a value absent or a split without both
    classes, naming the file and the column): returns ({name: Task}, {name: why it was skipped}).
    For a set other than the study's own (chapter 6's recordings), where a label may not survive
    segmentation in both splits."""
    tasks, skipped = {}, {}
    for name, f in features.items():
        if f.column not in ds.metadata.columns:
            skipped[name] = f"the metadata has no column {f.column!r}"
            continue
        try:
            tasks[name] = task(ds, f.column, f.positive, f.negative or None, name=f.label)
        except VoicesaeError as e:
            skipped[name] = str(e)
    return tasks, skipped
