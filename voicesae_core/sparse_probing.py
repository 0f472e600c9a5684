"""Sparse probing: how few latents does a label need?

For k = 1, 2, 4, 8, 16: rank the latents on the training split by how much their mean activation
differs between the classes (|mean over positives - mean over negatives|), keep the top k, fit
chapter 3's logistic probe on just those (standardised, C = 1) and score F1 on the test split.
Beside it, the same probe on the first k principal components of the raw embedding (PCA fit on
the training split: the best k-dimensional linear summary that knows nothing of the label) and
on the whole raw embedding (the dense reference). Where the SAE curve reaches the dense F1 at
small k, the label lives in a few latents; where PCA does as well, it was no SAE discovery.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from .probe import _check_labels, dense_probe, encode
from .sae import SparseAutoencoder

KS = (1, 2, 4, 8, 16)


def rank_latents(v_train: np.ndarray, y_train) -> np.ndarray:
    """Latents by decreasing |mean activation on positives - on negatives| (ties: lower index first)."""
    y = np.asarray(y_train, bool)
    gap = np.abs(v_train[y].mean(0) - v_train[~y].mean(0))
    return np.argsort(-gap, kind="stable")


def baselines(x_train, y_train, x_test, y_test, ks=KS, what: str = "label") -> pd.DataFrame:
    """F1 of the probe on the first k PCA components, per k, and on the whole raw embedding (k = d)."""
    y_train, y_test = _check_labels(y_train, "train", what), _check_labels(y_test, "test", what)
    x_train, x_test = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
    pca = PCA(n_components=min(max(ks), *x_train.shape), random_state=0).fit(x_train)
    p_train, p_test = pca.transform(x_train), pca.transform(x_test)
    rows = [{"method": "PCA", "k": k, "f1": dense_probe(p_train[:, :k], y_train, p_test[:, :k], y_test, what).f1}
            for k in ks if k <= p_train.shape[1]]
    rows.append({"method": "raw embedding", "k": x_train.shape[1],
                 "f1": dense_probe(x_train, y_train, x_test, y_test, what).f1})
    return pd.DataFrame(rows)


def curve(sae: SparseAutoencoder, x_train, y_train, x_test, y_test, ks=KS, what: str = "label") -> pd.DataFrame:
    """F1 of the probe on the SAE's top-k latents (see module doc), one row per k, with the latents used."""
    y_train, y_test = _check_labels(y_train, "train", what), _check_labels(y_test, "test", what)
    v_train, v_test = encode(sae, x_train), encode(sae, x_test)
    order = rank_latents(v_train, y_train)
    rows = []
    for k in ks:
        top = order[:k]
        rows.append({"model": sae.cfg.name, "latent_dim": sae.cfg.latent_dim, "sae_k": sae.cfg.k, "k": k,
                     "f1": dense_probe(v_train[:, top], y_train, v_test[:, top], y_test, what).f1,
                     "latents": " ".join(map(str, top))})
    return pd.DataFrame(rows)


def curves(models: list[SparseAutoencoder], x_train, y_train, x_test, y_test, ks=KS, what: str = "label") -> pd.DataFrame:
    """``curve`` for every model, one table."""
    return pd.concat([curve(m, x_train, y_train, x_test, y_test, ks, what) for m in models], ignore_index=True)
