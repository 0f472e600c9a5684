"""Feature steering (Section III-D, Eqs. 1-3, Figs. 5-6, Tables III-IV).

For the latent ``phi`` identified for a label, switch it off for positive samples and on for
negative ones, then compare reconstructions before and after by their relative similarity to
the two class centroids::

    v~_l = v_l for l != phi;   v~_phi = -a_phi (positive samples, Eq. 1) or +a_phi (negative, Eq. 2)
    eps~ = W_dec v~ + b_pre
    delta_s(x) = s(x, c_pos) - s(x, c_neg),   x in {eps, eps~}                              (Eq. 3)

with s the cosine similarity and c_pos, c_neg the centroids of the SAE-reconstructed TRAINING
embeddings of each class. The paper uses a_phi = 1. Note Eq. 1 sets the latent to -a_phi (not
to 0): "deactivating" writes a negative multiple of the feature's decoder direction.

``identify_and_steer`` puts one label's whole check in one row -- phi identified and scored alone,
a dense probe beside it, delta_s before and after steering -- for one SAE (chapter 6 makes one
per speaker model and feature, the features taken from a study by ``labels.feature_tasks``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from ..device import to_model, to_numpy
from ..sae.model import SparseAutoencoder


class SteeringResult(NamedTuple):
    delta_before: np.ndarray
    """(n_test,) delta_s of each test reconstruction eps."""
    delta_after: np.ndarray
    """(n_test,) delta_s of each steered reconstruction eps~."""
    positive: np.ndarray
    """(n_test,) bool per test row: the positive class (steered with -a_phi)."""
    c_pos: np.ndarray
    c_neg: np.ndarray
    """``c_pos``, ``c_neg`` (d_in,): the class centroids of SAE-reconstructed training embeddings."""

    def means(self) -> dict:
        """Tables III/IV: the mean delta_s per class before and after steering."""
        p = self.positive
        return {"positive": (float(self.delta_before[p].mean()), float(self.delta_after[p].mean())),
                "negative": (float(self.delta_before[~p].mean()), float(self.delta_after[~p].mean()))}


def cosine(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """s(x, c) for every row of x: ``x`` (n, d_in), ``c`` (d_in,); returns (n,)."""
    return (x @ c) / (np.linalg.norm(x, axis=1) * np.linalg.norm(c))


def delta_s(x: np.ndarray, c_pos: np.ndarray, c_neg: np.ndarray) -> np.ndarray:
    """Eq. 3: how much closer each row of x is to c_pos than to c_neg (cosine similarity).
    ``x`` (n, d_in), ``c_pos``, ``c_neg`` (d_in,); returns (n,)."""
    return cosine(x, c_pos) - cosine(x, c_neg)


@torch.no_grad()
def reconstruct(sae: SparseAutoencoder, x) -> np.ndarray:
    """eps = W_dec v + b_pre for each row of x: ``x`` (n, d_in); returns (n, d_in) (on the host,
    whichever device the model is on)."""
    sae.eval()
    return to_numpy(sae(to_model(x, sae)).x_hat)


@torch.no_grad()
def steer(sae: SparseAutoencoder, x, phi: int, positive, a_phi: float = 1.0) -> np.ndarray:
    """Eqs. 1-2: eps~ for each row of x, latent phi set to -a_phi where ``positive`` else +a_phi.
    ``x`` (n, d_in), ``positive`` (n,) bool; returns (n, d_in)."""
    sae.eval()
    v = sae.encode(to_model(x, sae)).clone()
    positive = torch.as_tensor(np.array(positive, dtype=bool), device=v.device)
    v[:, phi] = torch.where(positive, -a_phi, a_phi)
    return to_numpy(sae.decode(v))


def mean_difference(x, positive, c_pos: np.ndarray, c_neg: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """The baseline without an SAE: move each row by ``alpha`` times the difference of the class means,
    towards the other class (x + alpha (c_neg - c_pos) for positive rows, the opposite for negative).
    ``x`` (n, d_in), ``positive`` (n,) bool, ``c_pos``, ``c_neg`` (d_in,); returns (n, d_in)."""
    x = np.asarray(x, dtype=np.float32)
    shift = (np.asarray(c_neg) - np.asarray(c_pos)).astype(np.float32)
    return x + alpha * np.where(np.asarray(positive, bool)[:, None], shift, -shift)


def steering_experiment(sae: SparseAutoencoder, x_train, y_train, x_test, y_test, phi: int,
                        a_phi: float = 1.0) -> SteeringResult:
    """delta_s before and after steering latent ``phi`` for every test row (see module doc).
    ``x_train`` (n_train, d_in), ``y_train`` (n_train,) bool, ``x_test`` (n_test, d_in), ``y_test`` (n_test,) bool."""
    unsteered = _unsteered(sae, x_train, y_train, x_test, y_test)
    return _steered(unsteered, sae, x_test, phi, a_phi)


def _unsteered(sae: SparseAutoencoder, x_train, y_train, x_test, y_test) -> SteeringResult:
    """The part of the experiment that does not depend on phi or a_phi: centroids and delta_s before
    (``delta_after`` holds delta_s before too, until ``_steered`` replaces it)."""
    y_train, y_test = np.asarray(y_train, bool), np.asarray(y_test, bool)
    eps_train = reconstruct(sae, x_train)
    c_pos, c_neg = eps_train[y_train].mean(0), eps_train[~y_train].mean(0)
    before = delta_s(reconstruct(sae, x_test), c_pos, c_neg)
    return SteeringResult(before, before, y_test, c_pos, c_neg)


def _steered(unsteered: SteeringResult, sae: SparseAutoencoder, x_test, phi: int, a_phi: float) -> SteeringResult:
    after = delta_s(steer(sae, x_test, phi, unsteered.positive, a_phi), unsteered.c_pos, unsteered.c_neg)
    return unsteered._replace(delta_after=after)


def means_table(result: SteeringResult, positive: str, negative: str) -> pd.DataFrame:
    """Tables III/IV: mean delta_s per class (rows named ``positive``/``negative``), before and after."""
    m = result.means()
    return pd.DataFrame({"delta_s_before": [m["positive"][0], m["negative"][0]],
                         "delta_s_after": [m["positive"][1], m["negative"][1]]},
                        index=pd.Index([positive, negative], name="samples"))


def sweep(sae: SparseAutoencoder, x_train, y_train, x_test, y_test, phi: int, a_phis) -> pd.DataFrame:
    """The dose-response of steering: per a_phi, the mean delta_s of each class after steering and the
    share of samples whose delta_s changed sign (positive samples now closer to c_neg, and vice versa).
    a_phi = 0 only zeroes the latent. ``x_train`` (n_train, d_in), ``y_train`` (n_train,) bool,
    ``x_test`` (n_test, d_in), ``y_test`` (n_test,) bool; ``a_phis``: the strengths, one row each."""
    unsteered = _unsteered(sae, x_train, y_train, x_test, y_test)  # once, not per a_phi
    rows = []
    for a in a_phis:
        r = _steered(unsteered, sae, x_test, phi, float(a))
        p = r.positive
        rows.append({"a_phi": float(a), "positive_mean_before": float(r.delta_before[p].mean()),
                     "positive_mean_after": float(r.delta_after[p].mean()),
                     "negative_mean_before": float(r.delta_before[~p].mean()),
                     "negative_mean_after": float(r.delta_after[~p].mean()),
                     "positive_now_negative_pct": 100.0 * float((r.delta_after[p] < 0).mean()),
                     "negative_now_positive_pct": 100.0 * float((r.delta_after[~p] > 0).mean())})
    return pd.DataFrame(rows)


def compare_text(table: pd.DataFrame, what: str) -> str:
    """One sentence (Markdown) on a Tables III/IV comparison (columns ours/paper x before/after):
    whether each class's mean delta_s changed sign as in the paper. Computed, never hand-written."""
    parts = []
    for cls in table.index:
        ob, oa = table.loc[cls, ("ours", "delta_s_before")], table.loc[cls, ("ours", "delta_s_after")]
        pb, pa = table.loc[cls, ("paper", "delta_s_before")], table.loc[cls, ("paper", "delta_s_after")]
        same = np.sign(ob) == np.sign(pb) and np.sign(oa) == np.sign(pa)
        parts.append(f"{cls}: ours {ob:+.3f} → {oa:+.3f}, paper {pb:+.3f} → {pa:+.3f} "
                     f"({'same signs as the paper' if same else 'signs differ from the paper'})")
    return f"**{what}**: " + "; ".join(parts) + "."


# ------------------------------------------------------------------------------- one SAE, several labels

IDENTIFY_STEER_COLUMNS = ["label", "test rows", "phi", "phi precision %", "phi recall %", "dense probe F1 %", "note",
                          "delta_s before (+)", "delta_s after (+)", "delta_s before (-)", "delta_s after (-)"]
"""The columns of ``identify_and_steer``'s row, in order."""



def identify_and_steer(sae: SparseAutoencoder, task, a_phi: float = 1.0) -> dict:
    """One row (columns ``IDENTIFY_STEER_COLUMNS``) for one SAE and one ``labels.Task``: the latent phi
    that the logistic probe ranks first for the positive class, scored alone on the test split
    (precision, recall %); a dense probe on the raw embeddings (F1 %: is the label linearly there at
    all?); the mean delta_s of the positive (+) and negative (-) test rows before and after steering
    phi with ``a_phi`` (Eqs. 1-3). Percentages to 0.1, delta_s to 0.001."""
    from .probe import dense_probe, identify, note
    found = identify(sae, task.x_train, task.y_train, task.x_test, task.y_test, task.name)
    dense = dense_probe(task.x_train, task.y_train, task.x_test, task.y_test, task.name)
    m = steering_experiment(sae, task.x_train, task.y_train, task.x_test, task.y_test, found.phi, a_phi).means()
    return {"label": task.name, "test rows": len(task.y_test), "phi": int(found.phi),
            "phi precision %": round(100 * found.scores.precision, 1),
            "phi recall %": round(100 * found.scores.recall, 1),
            "dense probe F1 %": round(100 * dense.f1, 1), "note": note(found),
            "delta_s before (+)": round(m["positive"][0], 3), "delta_s after (+)": round(m["positive"][1], 3),
            "delta_s before (-)": round(m["negative"][0], 3), "delta_s after (-)": round(m["negative"][1], 3)}


def identify_and_steer_text(table: pd.DataFrame) -> str:
    """One sentence per row of a table of ``identify_and_steer`` rows with a ``model`` (the speaker
    model; a column or an index level): what phi alone gives, against the dense probe, and whether
    steering flips the sign of the positives' mean delta_s. Computed, never hand-written."""
    sentences = []
    for r in table.reset_index().to_dict("records"):
        flips = np.sign(r["delta_s before (+)"]) != np.sign(r["delta_s after (+)"])
        sentences.append(
            f"With {r['model']}, {r['label']}: phi = {r['phi']} alone gives precision {r['phi precision %']} % and "
            f"recall {r['phi recall %']} % on {r['test rows']} test segments (dense probe F1 {r['dense probe F1 %']} %); "
            f"steering it {'flips' if flips else 'does not flip'} the sign of the positives' mean delta_s "
            f"({r['delta_s before (+)']} -> {r['delta_s after (+)']}).")
    return " ".join(sentences)
