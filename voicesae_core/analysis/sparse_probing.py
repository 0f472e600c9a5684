"""Sparse probing: how few latents does a label need?

For k = 1, 2, 4, 8, 16: rank the latents on the training split by how much their mean activation
differs between the classes (|mean over positives - mean over negatives|), keep the top k, fit
chapter 3's logistic probe on just those (standardised, C = 1) and score F1 on the test split.
Beside it, the same probe on the first k principal components of the raw embedding (PCA fit on
the training split: the best k-dimensional linear summary that knows nothing of the label) and
on the whole raw embedding (the dense reference). Where the SAE curve reaches the dense F1 at
small k, the label lives in a few latents; where PCA does as well, it was no SAE discovery.

``summary`` gathers the curves of several labels into one table (the single model, the grid's
range, PCA and the raw embedding per k) and ``summary_text`` says what it measured.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from ..errors import VoicesaeError
from .probe import _check_labels, dense_probe, encode
from ..sae.model import SparseAutoencoder

KS = (1, 2, 4, 8, 16)


def rank_latents(v_train: np.ndarray, y_train) -> np.ndarray:
    """Latents by decreasing |mean activation on positives - on negatives| (ties: lower index first).
    ``v_train`` (n_train, latent_dim) activations, ``y_train`` (n_train,) bool; returns (latent_dim,) indices."""
    y = np.asarray(y_train, bool)
    gap = np.abs(v_train[y].mean(0) - v_train[~y].mean(0))
    return np.argsort(-gap, kind="stable")


def baselines(x_train, y_train, x_test, y_test, ks=KS, what: str = "label") -> pd.DataFrame:
    """F1 of the probe on the first k PCA components, per k, and on the whole raw embedding (k = d).
    ``x_train`` (n_train, d_in), ``y_train`` (n_train,) bool, ``x_test`` (n_test, d_in), ``y_test`` (n_test,) bool."""
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
    """F1 of the probe on the SAE's top-k latents (see module doc), one row per k, with the latents used.
    ``x_train`` (n_train, d_in), ``y_train`` (n_train,) bool, ``x_test`` (n_test, d_in), ``y_test`` (n_test,) bool;
    ``ks``: the probe sizes (column ``k``; the SAE's own TopK K is ``sae_k``)."""
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
    """``curve`` for every model, one table (same ``x_*`` (n_*, d_in) and ``y_*`` (n_*,) bool arguments)."""
    return pd.concat([curve(m, x_train, y_train, x_test, y_test, ks, what) for m in models], ignore_index=True)


# ------------------------------------------------------------------------------- the chapter's summary

def summary(curves: dict[str, pd.DataFrame], baselines: dict[str, pd.DataFrame], single_name: str,
            ks=KS) -> pd.DataFrame:
    """Test F1 (%) per label and k, one row each: the ``single_name`` model's top-k probe
    (column ``SAE <single_name>``; NaN when the model is not among the curves), its min and max
    over every model of the grid, the first k PCA components (NaN where PCA has fewer) and the
    whole raw embedding (the same in every row of a label).

    ``curves`` / ``baselines``: per label (e.g. 'Spanish vs English'), the ``curves`` and
    ``baselines`` tables; ``ks``: the k values, each of which ``curves`` must hold.
    """
    rows = []
    for label, c in curves.items():
        if label not in baselines:
            raise VoicesaeError(f"sparse_probing.summary: no baselines for {label!r} (have {sorted(baselines)})")
        b = baselines[label]
        missing = [k for k in ks if k not in set(c["k"])]
        if missing:
            raise VoicesaeError(f"sparse_probing.summary: {label}: the curves have no k {missing} "
                                f"(k present: {sorted(set(c['k']))})")
        raw = b[b.method == "raw embedding"]["f1"]
        if raw.empty:
            raise VoicesaeError(f"sparse_probing.summary: {label}: the baselines have no 'raw embedding' row")
        f1 = c.pivot(index="model", columns="k", values="f1")
        pca = b[b.method == "PCA"].set_index("k")["f1"]
        for k in ks:
            rows.append({"label": label, "k": k,
                         f"SAE {single_name}": 100 * f1.loc[single_name, k] if single_name in f1.index else np.nan,
                         "SAE grid min": 100 * f1[k].min(), "SAE grid max": 100 * f1[k].max(),
                         "PCA": 100 * pca.get(k, np.nan), "raw embedding": 100 * raw.iloc[0]})
    return pd.DataFrame(rows)


def summary_text(table: pd.DataFrame, single_name: str, within: float = 1.0) -> str:
    """'Measured in this build:' and one bullet per label of a ``summary`` table: the raw probe's
    F1, the single model's and PCA's at the smallest k (with the grid's range), and the smallest k
    from which each comes within ``within`` points of the raw probe."""
    col = f"SAE {single_name}"
    if col not in table.columns:
        raise VoicesaeError(f"sparse_probing.summary_text: the summary has no column {col!r} "
                            f"(columns: {list(table.columns)})")
    largest = table["k"].max()

    def first(part, what):
        return f"from k = {part.k.min()} {what}" if len(part) else f"with no k up to {largest} {what}"

    lines = []
    for label, part in table.groupby("label", sort=False):
        part = part.sort_values("k", kind="stable")
        raw, top = part["raw embedding"].iloc[0], part.iloc[0]
        alone = "top latent alone" if top.k == 1 else f"top {top.k} latents"
        pcs = "first principal component" if top.k == 1 else f"first {top.k} principal components"
        lines.append(f"{label}: the raw embedding's probe scores F1 {raw:.1f} %; the single model's {alone} "
                     f"{top[col]:.1f} % (grid {top['SAE grid min']:.1f}-{top['SAE grid max']:.1f} %), "
                     f"the {pcs} {top['PCA']:.1f} %. Within {within:g} point{'s' if within != 1 else ''} of the raw "
                     f"probe: {first(part[part[col] >= raw - within], 'latents')} of the single model, "
                     f"{first(part[part['PCA'] >= raw - within], 'components')}")
    return "Measured in this build:\n\n" + "\n".join(f"* {s}" for s in lines)
