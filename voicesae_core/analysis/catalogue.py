"""A latent catalogue: one row per latent of an SAE, saying what it fires on and where it points.

Per latent l, on a sample of embeddings x with metadata:

* ``firing_pct``: the share of rows where v_l > 0; ``mean_activation``: the mean of v_l where it fires;
* ``best_label``, ``best_auc``: of every value of every label column (``label_columns``: columns
  with 2-20 distinct values, e.g. language=es, gender=female, codec=2), the one that v_l ranks
  best against the rest, by ROC AUC (0.5: no better than chance; 1: every row with the value
  above every row without it);
* ``nearest_feature``, ``nearest_cos``: with planted ground truth, the feature whose direction
  is closest to l's decoder row;
* ``cos <column>=<value>``: the cosine of l's decoder row with that class's centroid offset
  (class mean minus overall mean of x): does writing l push towards that class?
* ``parent`` (and its cosine) in a smaller SAE of the same K, and ``children`` in a larger one:
  the latent with the closest decoder row one size down, and the latents one size up whose
  closest row here is l (how latents split as the dictionary grows, as in chapter 4).
"""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..errors import VoicesaeError
from ..data.ground_truth import GroundTruth
from .probe import encode
from .recovery import decoder_directions
from ..sae.model import SparseAutoencoder

NOT_LABELS = {"id", "split", "speaker", "audio_filepath", "offset", "duration", "text", "manifest_row", "audio_notes"}


def label_columns(meta: pd.DataFrame, max_values: int = 20) -> list[str]:
    """Metadata columns that look like labels: 2 to ``max_values`` distinct values, not an id or a path."""
    return [c for c in meta.columns if c not in NOT_LABELS and 2 <= meta[c].nunique() <= max_values]


def label_aucs(v: np.ndarray, meta: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """ROC AUC of every latent (rows) for every ``column=value`` (columns) against the rest, from ranks
    (ties share their rank, so a latent that is 0 on most rows is scored fairly). ``v`` (n, latent_dim)
    activations, ``meta``: n rows; returns latent_dim rows."""
    if len(v) != len(meta):
        raise VoicesaeError(f"label_aucs: {len(v)} latent rows but {len(meta)} metadata rows")
    ranks = rankdata(v, axis=0)
    out = {}
    for c in columns:
        values = meta[c].astype(str).to_numpy()
        for value in sorted(set(values)):
            pos = values == value
            n_pos, n_neg = int(pos.sum()), int((~pos).sum())
            if n_pos and n_neg:
                out[f"{c}={value}"] = (ranks[pos].sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return pd.DataFrame(out, index=pd.RangeIndex(v.shape[1], name="latent"))


def centroid_cosines(sae: SparseAutoencoder, x: np.ndarray, meta: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The cosine of every latent's decoder row (rows) with each ``column=value`` centroid offset (columns).
    ``x`` (n, d_in), ``meta``: n rows; returns latent_dim rows."""
    d = decoder_directions(sae)
    x = np.asarray(x, np.float64)
    mean = x.mean(0)
    out = {}
    for c in columns:
        values = meta[c].astype(str).to_numpy()
        for value in sorted(set(values)):
            offset = x[values == value].mean(0) - mean
            out[f"cos {c}={value}"] = d @ (offset / max(np.linalg.norm(offset), 1e-12))
    return pd.DataFrame(out, index=pd.RangeIndex(len(d), name="latent"))


def lineage(sae: SparseAutoencoder, smaller: SparseAutoencoder | None = None,
            larger: SparseAutoencoder | None = None) -> pd.DataFrame:
    """Per latent: its parent in ``smaller`` (closest decoder row) with the cosine, and its children in
    ``larger`` (the latents there whose closest row in ``sae`` is this one), as text."""
    d = decoder_directions(sae)
    out = pd.DataFrame(index=pd.RangeIndex(len(d), name="latent"))
    if smaller is not None:
        cos = d @ decoder_directions(smaller).T
        out["parent"] = [f"L{smaller.cfg.latent_dim}:{j}" for j in cos.argmax(1)]
        out["parent_cos"] = cos.max(1)
    if larger is not None:
        up = decoder_directions(larger) @ d.T  # (larger latents, latents here)
        best = up.argmax(1)
        out["children"] = [" ".join(f"L{larger.cfg.latent_dim}:{j}" for j in np.flatnonzero(best == i)) for i in range(len(d))]
    return out


def catalogue(sae: SparseAutoencoder, x, meta: pd.DataFrame, columns: list[str] | None = None,
              truth: GroundTruth | None = None, smaller: SparseAutoencoder | None = None,
              larger: SparseAutoencoder | None = None, centroid_columns: list[str] | None = None) -> pd.DataFrame:
    """The catalogue (see module doc): one row per latent, index ``latent``.
    ``x`` (n, d_in) embeddings, ``meta``: n rows in the same order; returns latent_dim rows."""
    x = np.asarray(x, np.float32)
    if len(x) != len(meta):
        raise VoicesaeError(f"catalogue: {len(x)} embeddings but {len(meta)} metadata rows")
    columns = label_columns(meta) if columns is None else list(columns)
    missing = [c for c in columns + list(centroid_columns or []) if c not in meta.columns]
    if missing:
        raise VoicesaeError(f"catalogue: the metadata has no column(s) {missing} (present: {list(meta.columns)})")
    v = encode(sae, x)
    fires = v > 0
    table = pd.DataFrame({"firing_pct": 100.0 * fires.mean(0),
                          "mean_activation": np.where(fires.any(0), v.sum(0) / np.maximum(fires.sum(0), 1), 0.0)},
                         index=pd.RangeIndex(v.shape[1], name="latent"))
    if columns:
        aucs = label_aucs(v, meta, columns)
        table["best_label"] = aucs.idxmax(axis=1)
        table["best_auc"] = aucs.max(axis=1)
    if truth is not None:
        cos = decoder_directions(sae) @ truth.directions.T
        table["nearest_feature"] = np.asarray(truth.names)[cos.argmax(1)]
        table["nearest_cos"] = cos.max(1)
    if centroid_columns:
        table = table.join(centroid_cosines(sae, x, meta, centroid_columns))
    return table.join(lineage(sae, smaller, larger))


def neighbour_sizes(latent_dims, latent_dim: int) -> tuple[int | None, int | None]:
    """The latent sizes one step below and above ``latent_dim`` among ``latent_dims`` (None at either
    end): where a latent's parent and children are looked for."""
    sizes = sorted(set(int(d) for d in latent_dims))
    if latent_dim not in sizes:
        raise VoicesaeError(f"latent_dim {latent_dim} is not among the grid's latent sizes {sizes}")
    at = sizes.index(latent_dim)
    return (sizes[at - 1] if at else None), (sizes[at + 1] if at + 1 < len(sizes) else None)


def top_latents(table: pd.DataFrame, n: int) -> list[int]:
    """The ``n`` latents of a catalogue with the best ``best_auc`` (the first ``n`` without labels)."""
    chosen = table["best_auc"].nlargest(n).index if "best_auc" in table else table.index[:n]
    return [int(i) for i in chosen]


def findings(table: pd.DataFrame, strong_auc: float = 0.9, planted: str = "spanish", close_cos: float = 0.7,
             shown: int = 8) -> list[str]:
    """Sentences (Markdown) on what a catalogue measured: how many latents rank a label value with
    AUC >= ``strong_auc``, how many never fire, the median firing rate; those strong latents per
    label; and, with planted features (a ``nearest_feature`` column), the latent closest to the
    ``planted`` feature and how many latents have a planted feature at cosine >= ``close_cos``.
    Empty without labels (no ``best_auc`` column)."""
    if "best_auc" not in table:
        return []
    strong = table[table.best_auc >= strong_auc]
    lines = [f"{len(strong)} of {len(table)} latents rank some label value with AUC >= {strong_auc}; "
             f"{int((table.firing_pct == 0).sum())} never fire on the sample; the median latent fires on "
             f"{table.firing_pct.median():.1f} % of rows."]
    for label, g in strong.groupby("best_label"):
        lines.append(f"`{label}`: latent(s) {', '.join(map(str, g.index[:shown]))}{' ...' if len(g) > shown else ''} "
                     f"(best AUC {g.best_auc.max():.3f})")
    if "nearest_feature" in table:
        is_planted = table.nearest_feature == planted
        closest = int(table.nearest_cos.where(is_planted).idxmax()) if is_planted.any() else "none"
        lines.append(f"Closest to the planted `{planted}` direction: latent {closest}; "
                     f"{int((table.nearest_cos >= close_cos).sum())} latents have a planted feature at cosine >= {close_cos}.")
    return lines


def sample_rows(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """A seeded sample of ``n`` row indices out of ``n_total``, in order; all rows when ``n`` is 0 or
    at least ``n_total``. Returns (n,) sorted indices, or (n_total,) when all rows are kept."""
    if n <= 0 or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def activations(sae: SparseAutoencoder, x, latent: int) -> np.ndarray:
    """v_latent for every row of x: ``x`` (n, d_in); returns (n,) activations."""
    return encode(sae, x)[:, latent]


def nearest_features(sae: SparseAutoencoder, truth: GroundTruth, latent: int, n: int = 5) -> pd.DataFrame:
    """The ``n`` planted features closest to the latent's decoder row, with their cosines."""
    cos = truth.directions @ decoder_directions(sae)[latent]
    order = np.argsort(-cos)[:n]
    return pd.DataFrame({"feature": np.asarray(truth.names)[order], "cosine": cos[order]})



def top_rows(sae: SparseAutoencoder, x, latent: int, n: int = 10) -> np.ndarray:
    """The indices of the ``n`` rows of x on which ``latent`` is largest (only rows where it fires).
    ``x`` (n_rows, d_in); returns up to (n,) row indices."""
    a = encode(sae, x)[:, latent]
    order = np.argsort(-a, kind="stable")[:n]
    return order[a[order] > 0]


def sortable_html(table: pd.DataFrame, links: dict[int, str] | None = None, digits: int = 3,
                  table_id: str = "catalogue") -> str:
    """The table as HTML that sorts by a column when its header is clicked (numbers as numbers; a
    second click reverses), with no library and nothing fetched. ``links``: latent -> href."""
    links = links or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [table.index.name or ""] + list(table.columns))
    rows = []
    for idx, r in table.iterrows():
        label = html.escape(str(idx))
        first = f'<a href="{html.escape(links[idx])}">{label}</a>' if idx in links else label
        cells = [f'<td data-v="{idx}">{first}</td>']
        for val in r:
            if isinstance(val, (float, np.floating)):
                cells.append(f'<td data-v="{float(val)!r}">{val:.{digits}f}</td>')
            else:
                cells.append(f"<td>{html.escape(str(val))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    script = """<script>
(function () {
  var t = document.getElementById('%s');
  t.querySelectorAll('th').forEach(function (th, col) {
    th.style.cursor = 'pointer';
    th.title = 'sort by this column';
    th.addEventListener('click', function () {
      var body = t.tBodies[0], rows = Array.from(body.rows);
      var asc = th.getAttribute('data-sort') !== 'asc';
      t.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-sort'); });
      th.setAttribute('data-sort', asc ? 'asc' : 'desc');
      function key(r) { var c = r.cells[col], v = c.getAttribute('data-v');
        return v === null ? c.textContent : parseFloat(v); }
      rows.sort(function (a, b) { var x = key(a), y = key(b);
        var d = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return asc ? d : -d; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
</script>""" % table_id
    return (f'<div style="max-height:32em;overflow:auto"><table id="{table_id}" class="voicesae-sortable">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{script}")
