"""The synthetic benchmark's planted truth: feature directions and each row's true activations."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file

from ..errors import VoicesaeError


@dataclass
class GroundTruth:
    directions: np.ndarray
    """(n_features, dim) unit vectors, one per planted feature."""
    names: list[str]
    """Feature names, e.g. 'spanish', 'spanish_female', 'music', 'trait_17'."""
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    """Row i's active features are indices[indptr[i]:indptr[i+1]] with those values (CSR)."""

    def activations(self, features: list[str] | None = None) -> np.ndarray:
        """Dense (rows, len(features)) true activations (all features when None)."""
        names = features or self.names
        col = {n: i for i, n in enumerate(names)}
        want = np.array([col.get(n, -1) for n in self.names])
        rows = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        out = np.zeros((len(self.indptr) - 1, len(names)), np.float32)
        keep = want[self.indices] >= 0
        out[rows[keep], want[self.indices[keep]]] = self.values[keep]
        return out

    def direction(self, name: str) -> np.ndarray:
        return self.directions[self.names.index(name)]


def load_ground_truth(path: str | Path) -> GroundTruth:
    path = Path(path)
    try:
        t = load_file(str(path))
        with safe_open(str(path), "np") as f:
            names = json.loads((f.metadata() or {})["feature_names"])
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise VoicesaeError(f"{path}: not a ground-truth file ({e})") from None
    return GroundTruth(t["directions"], names, t["indptr"], t["indices"], t["values"])
