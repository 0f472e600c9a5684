"""The figures of the notebooks: grid heatmaps (Figs. 2-3), the splitting Sankey (Fig. 4), delta_s
histograms (Figs. 5-6) and the a_phi sweep. Plotting only: every number comes from the core.

No matplotlib backend is forced: in a notebook the inline backend gives each figure a PNG output
(which glue pastes into the book); elsewhere matplotlib falls back to Agg.
matplotlib/seaborn/plotly are imported here, not by the rest of voicesae_core, so the core runs
without them (they come with the ``book`` extra).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MPath

from ..errors import VoicesaeError
from ..files import atomic_path
from ..analysis.splitting import NONE, node_label

GROUP_COLORS = ["#d62728", "#ff9896", "#1f77b4", "#aec7e8", "#2ca02c", "#98df8a", "#9467bd", "#c5b0d5"]

STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
         "legend.fontsize": 9, "figure.titlesize": 12, "axes.spines.top": False, "axes.spines.right": False,
         "axes.prop_cycle": plt.cycler(color=sns.color_palette("colorblind")), "savefig.dpi": 150,
         "svg.fonttype": "none"}
"""The book's one figure style: one scale of type and one colour-blind-safe palette in every chapter
(heatmaps keep viridis, differences RdBu). Importing this module applies it."""
plt.rcParams.update(STYLE)


def save(fig, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``fig`` as ``name``.png and ``name``.svg (each atomically) into ``out_dir``."""
    paths = []
    for ext in ("png", "svg"):
        path = Path(out_dir) / f"{name}.{ext}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        paths.append(path)
    return paths


def publish(fig, out_dir: str | Path, name: str, glue_name: str | None = None) -> list[Path]:
    """In a notebook: ``save`` the figure, ``glue`` it for the book (also displaying it), close it."""
    from myst_nb import glue
    paths = save(fig, out_dir, name)
    glue(glue_name or name, fig)
    plt.close(fig)  # else the inline backend shows it a second time at the end of the cell
    return paths


def glue_absent(names, glued, why: str) -> None:
    """In a notebook: for every glue name of ``names`` that the chapter did not glue (``glued``), glue
    a one-cell table saying ``why``, so the book's figure directives (written for the paper's study)
    show the reason instead of breaking the build. (Returns nothing, so a cell ending with it
    prints nothing.)"""
    from myst_nb import glue
    for name in names:
        if name not in set(glued):
            glue(name, pd.DataFrame({"not in this study": [why]}), display=False)


def grid_heatmaps(ours: pd.DataFrame, paper: pd.DataFrame | None, title: str, degenerate: pd.DataFrame | None = None,
                  intervals: tuple[pd.DataFrame, pd.DataFrame] | None = None):
    """Ours | the paper's | ours - paper, as annotated heatmaps (rows latent_dim, columns K).

    ``degenerate``: a bool grid of cells whose latent never fires (hatched, so a 0 is not mistaken
    for a measured 0 %). ``intervals``: (low, high) grids, written under our values as [low, high]."""
    panels = [("ours", ours)]
    if paper is not None and not ours.sub(paper).stack().dropna().empty:  # the paper's panels: only shared cells
        panels += [("paper", paper), ("ours - paper", ours.sub(paper).reindex(index=ours.index, columns=ours.columns))]
    height = 5.4 if intervals is not None else 4.2
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels) + (1.5 if intervals is not None else 0), height),
                             squeeze=False)
    for ax, (name, grid) in zip(axes[0], panels):
        diff = name == "ours - paper"
        annot, fmt = True, ".1f"
        if intervals is not None and name == "ours":
            lo, hi = (g.reindex(index=grid.index, columns=grid.columns) for g in intervals)
            annot = np.vectorize(lambda v, a, b: f"{v:.1f}\n[{a:.0f}, {b:.0f}]")(grid.values, lo.values, hi.values)
            fmt = ""
        sns.heatmap(grid, ax=ax, annot=annot, fmt=fmt, annot_kws={"size": 6 if fmt == "" else 7}, cbar=True, square=False,
                    cmap="RdBu" if diff else "viridis", center=0 if diff else None,
                    vmin=None if diff else 0, vmax=None if diff else 100, linewidths=0.3, linecolor="white")
        ax.set_title(f"{title}: {name}", fontsize=10)
        ax.set_xlabel("K")
        ax.set_ylabel("latent dimension")
        if degenerate is not None and name != "paper":
            for r, idx in enumerate(grid.index):
                for c, col in enumerate(grid.columns):
                    if idx in degenerate.index and col in degenerate.columns and bool(degenerate.loc[idx, col]):
                        ax.add_patch(Rectangle((c, r), 1, 1, fill=False, hatch="xx", edgecolor="white", lw=0))
    fig.tight_layout()
    return fig


def delta_s_histograms(result, positive: str, negative: str, bins: int = 40):
    """Figs. 5-6: delta_s before and after steering, one panel per class."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    allv = np.concatenate([result.delta_before, result.delta_after])
    edges = np.linspace(allv.min(), allv.max(), bins + 1)
    for ax, (name, mask) in zip(axes, [(positive, result.positive), (negative, ~result.positive)]):
        ax.hist(result.delta_before[mask], bins=edges, alpha=0.6, label="before steering", color="#1f77b4")
        ax.hist(result.delta_after[mask], bins=edges, alpha=0.6, label="after steering", color="#d62728")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(f"{name} samples (n={int(mask.sum())})", fontsize=10)
        ax.set_xlabel(r"$\delta_s$")
    axes[0].set_ylabel("samples")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def sweep_plot(table: pd.DataFrame, positive: str, negative: str):
    """Mean delta_s of each class after steering, against a_phi (the dose-response)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(table["a_phi"], table["positive_mean_after"], "o-", color="#d62728", label=f"{positive} (switched off)")
    ax.plot(table["a_phi"], table["negative_mean_after"], "o-", color="#1f77b4", label=f"{negative} (switched on)")
    ax.axhline(table["positive_mean_before"].iloc[0], color="#d62728", ls=":", lw=1, label=f"{positive} before")
    ax.axhline(table["negative_mean_before"].iloc[0], color="#1f77b4", ls=":", lw=1, label=f"{negative} before")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel(r"$a_\phi$")
    ax.set_ylabel(r"mean $\delta_s$ after steering")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _node_counts(links: pd.DataFrame, dims: list[int]) -> dict[int, pd.Series]:
    """Per size, the samples in each of its nodes: what leaves it (or, at the last size, what enters)."""
    last = len(dims) - 1
    return {dim: links[links.step == min(i, last - 1)].groupby("source" if i < last else "target")["count"].sum()
            for i, dim in enumerate(dims)}


def _node_order(counts: dict[int, pd.Series], dims: list[int], label_latents: list[list[int]]) -> dict[int, list[int]]:
    """Per size: its label latents (strongest first), then 'none' at the bottom; only nodes with samples."""
    order = {}
    for i, dim in enumerate(dims):
        present = set(counts[dim].index)
        order[dim] = [n for n in label_latents[i] if n in present] + [n for n in sorted(present - set(label_latents[i]))
                                                                     if n != NONE] + ([NONE] if NONE in present else [])
    return order


def alluvial(links: pd.DataFrame, dims: list[int], label_latents: list[list[int]], title: str = "",
             gap: float = 0.02):
    """Fig. 4 as a static alluvial diagram: a column of nodes per latent size, bands per group.

    Node heights are sample counts, so what enters a node leaves it (see ``splitting.sankey_links``)."""
    if len(dims) < 2 or links.empty:
        raise VoicesaeError("alluvial: need links between at least two latent sizes")
    groups = sorted(links["group"].unique())
    color = {g: GROUP_COLORS[i % len(GROUP_COLORS)] for i, g in enumerate(groups)}
    counts = _node_counts(links, dims)
    order = _node_order(counts, dims, label_latents)
    total = links[links.step == 0]["count"].sum()
    n_max = max(len(v) for v in order.values())
    unit = (1.0 - gap * (n_max - 1)) / total
    # Node extents per size: top y and size (in sample counts).
    size = {dim: {n: int(counts[dim][n]) for n in order[dim]} for dim in dims}
    top = {}
    for dim in dims:
        y = 1.0
        top[dim] = {}
        for n in order[dim]:
            top[dim][n] = y
            y -= size[dim][n] * unit + gap
    fig, ax = plt.subplots(figsize=(2.2 * len(dims) + 1, 5.5))
    width = 0.12
    for i in range(len(dims) - 1):
        a, b = dims[i], dims[i + 1]
        out_off = {n: 0.0 for n in order[a]}
        in_off = {n: 0.0 for n in order[b]}
        step = links[links.step == i].copy()
        step["s_rank"] = step["source"].map({n: r for r, n in enumerate(order[a])})
        step["t_rank"] = step["target"].map({n: r for r, n in enumerate(order[b])})
        step["g_rank"] = step["group"].map({g: r for r, g in enumerate(groups)})
        # Outgoing bands stacked by target then group; incoming by source then group: no crossings inside a node.
        out_y, in_y = {}, {}
        for row in step.sort_values(["s_rank", "t_rank", "g_rank"]).itertuples():
            h = row.count * unit
            out_y[row.Index] = top[a][row.source] - out_off[row.source]
            out_off[row.source] += h
        for row in step.sort_values(["t_rank", "s_rank", "g_rank"]).itertuples():
            h = row.count * unit
            in_y[row.Index] = top[b][row.target] - in_off[row.target]
            in_off[row.target] += h
        x0, x1 = i + width / 2, i + 1 - width / 2
        t = np.linspace(0, 1, 30)
        s = 3 * t ** 2 - 2 * t ** 3  # smooth step
        for row in step.itertuples():
            h = row.count * unit
            y_top = out_y[row.Index] + (in_y[row.Index] - out_y[row.Index]) * s
            xs = x0 + (x1 - x0) * t
            verts = np.concatenate([np.stack([xs, y_top], 1), np.stack([xs[::-1], (y_top - h)[::-1]], 1)])
            ax.add_patch(PathPatch(MPath(verts, closed=False), facecolor=color[row.group], alpha=0.55, lw=0))
    for i, dim in enumerate(dims):
        for n in order[dim]:
            h = size[dim][n] * unit
            ax.add_patch(Rectangle((i - width / 2, top[dim][n] - h), width, h, color="#444444" if n != NONE else "#bbbbbb"))
            if h > 0.012:
                ax.text(i, top[dim][n] - h / 2, f"{'none' if n == NONE else '#' + str(n)}\n{size[dim][n]}",
                        ha="center", va="center", fontsize=6.5, color="white" if n != NONE else "black")
    ax.set_xticks(range(len(dims)), [f"latent {d}" for d in dims])
    ax.set_yticks([])
    ax.set_xlim(-0.4, len(dims) - 0.6)
    ax.set_ylim(min(top[d][order[d][-1]] - size[d][order[d][-1]] * unit for d in dims) - 0.02, 1.02)
    for spine in ax.spines.values():
        spine.set_visible(False)
    handles = [Rectangle((0, 0), 1, 1, color=color[g], alpha=0.7) for g in groups]
    ax.legend(handles, groups, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=len(groups), fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def sankey(links: pd.DataFrame, title: str = ""):
    """Fig. 4 as an interactive plotly Sankey (hover shows counts)."""
    import plotly.graph_objects as go
    nodes = sorted({(r.source_dim, r.source) for r in links.itertuples()} | {(r.target_dim, r.target) for r in links.itertuples()})
    index = {n: i for i, n in enumerate(nodes)}
    groups = sorted(links["group"].unique())
    color = {g: GROUP_COLORS[i % len(GROUP_COLORS)] for i, g in enumerate(groups)}
    dims = sorted({d for d, _ in nodes})
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=[node_label(d, n) for d, n in nodes], pad=12, thickness=14,
                  x=[0.01 + 0.98 * dims.index(d) / max(1, len(dims) - 1) for d, _ in nodes],
                  color=["#bbbbbb" if n == NONE else "#444444" for _, n in nodes]),
        link=dict(source=[index[(r.source_dim, r.source)] for r in links.itertuples()],
                  target=[index[(r.target_dim, r.target)] for r in links.itertuples()],
                  value=links["count"].tolist(), label=links["group"].tolist(),
                  color=[color[g] for g in links["group"]])))
    fig.update_layout(title_text=title, font_size=10, height=520)
    return fig


def pca_scatter(x: np.ndarray, groups, title: str = ""):
    """Rows of ``x`` on their first two principal components, coloured by group."""
    xc = x - x.mean(0)
    vt = np.linalg.svd(xc, full_matrices=False)[2][:2]
    pcs, var = xc @ vt.T, (xc @ vt.T).var(0) / xc.var(0).sum()
    groups = np.asarray(groups).astype(str)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for i, g in enumerate(sorted(set(groups))):
        m = groups == g
        ax.scatter(pcs[m, 0], pcs[m, 1], s=6, alpha=0.6, color=GROUP_COLORS[i % len(GROUP_COLORS)], label=f"{g} ({m.sum()})")
    ax.set_xlabel(f"PC1 ({100 * var[0]:.1f} % of variance)")
    ax.set_ylabel(f"PC2 ({100 * var[1]:.1f} % of variance)")
    ax.legend(fontsize=7, markerscale=2)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def value_heatmaps(grids: dict[str, pd.DataFrame], fmts: list[str] | None = None):
    """Side-by-side annotated heatmaps of latent_dim x K grids (e.g. FVU, dead latents)."""
    fig, axes = plt.subplots(1, len(grids), figsize=(5.2 * len(grids), 4.2), squeeze=False)
    for i, (ax, (title, grid)) in enumerate(zip(axes[0], grids.items())):
        sns.heatmap(grid, ax=ax, annot=True, fmt=(fmts or [".2f"] * len(grids))[i], annot_kws={"size": 7},
                    cmap="viridis", linewidths=0.3, linecolor="white")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("K")
        ax.set_ylabel("latent dimension")
    fig.tight_layout()
    return fig


def training_curves(models, title: str = ""):
    """Each model's training curve (FVU over windows of optimizer steps, ``sae.info['curve']``), one
    panel per K with a line per latent size; a model that did not converge is drawn dashed."""
    from ..sae import convergence
    ks = sorted({m.cfg.k for m in models})
    cols = min(len(ks), 4)
    rows = -(-len(ks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False, sharey=True)
    dims = sorted({m.cfg.latent_dim for m in models})
    colours = dict(zip(dims, sns.color_palette("viridis", len(dims))))
    for ax, k in zip(axes.flat, ks):
        for m in sorted((m for m in models if m.cfg.k == k), key=lambda m: m.cfg.latent_dim):
            curve = m.info.get("curve") or {"step": [], "fvu": []}
            v = convergence.of_model(m)
            ax.plot(curve["step"], curve["fvu"], color=colours[m.cfg.latent_dim], lw=1.2,
                    ls="-" if v is None or v.converged else "--", label=f"L{m.cfg.latent_dim}")
        ax.set_title(f"K {k}", fontsize=9)
        ax.set_xlabel("optimizer steps")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("training FVU")
    for ax in list(axes.flat)[len(ks):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, ncol=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plotly_html(fig):
    """A plotly figure as self-contained HTML for a notebook or the book: plotly.js inline, no
    MathJax or anything else from a CDN (plotly's own notebook renderer links MathJax's CDN, and
    its default mimetype output is dropped by Jupyter Book 1)."""
    from IPython.display import HTML
    return HTML(fig.to_html(full_html=False, include_plotlyjs=True, include_mathjax=False,
                            config={"displaylogo": False, "responsive": True}))


def segmentation(signal: np.ndarray, sample_rate: int, regions, pieces, title: str = ""):
    """A recording's waveform with its non-silent stretches (shaded) and 4-8 s segments (brackets)."""
    fig, ax = plt.subplots(figsize=(9, 2.4))
    t = np.arange(len(signal)) / sample_rate
    ax.plot(t, signal, lw=0.3, color="0.3")
    for a, b in regions:
        ax.axvspan(a, b, color="tab:blue", alpha=0.15, lw=0)
    top = 1.05 * float(np.abs(signal).max())
    for i, (a, b) in enumerate(pieces):
        ax.plot([a, a, b, b], [top * 0.92, top, top, top * 0.92], color="tab:orange", lw=1.2)
        ax.text((a + b) / 2, top * 1.02, f"{b - a:.1f} s", ha="center", va="bottom", fontsize=7)
    ax.set(xlabel="seconds", yticks=[], xlim=(0, t[-1] if len(t) else 1), ylim=(-top, top * 1.2), title=title)
    sns.despine(ax=ax, left=True)
    return fig


def matched_cosines(curves: dict[str, np.ndarray], thresholds=(0.7, 0.9),
                    xlabel: str = "decoder cosine to the matched latent of the other seed",
                    ylabel: str = "latents with at least this cosine (%)"):
    """Survival curves of matched decoder cosines: per curve, the share of latents whose partner's
    cosine is at least x (e.g. seed pairs of several configurations, and random directions; a curve
    named 'random ...' or 'shuffled ...' is dashed). NaN values (no partner) are left out."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, cos in curves.items():
        xs = np.sort(np.asarray(cos, float)[~np.isnan(np.asarray(cos, float))])
        ax.step(xs, 100.0 * (1 - np.arange(len(xs)) / max(len(xs), 1)), where="post", label=name,
                ls="--" if name.startswith(("random", "shuffled")) else "-")
    for t in thresholds:
        ax.axvline(t, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.1, 1.0)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def intervals_by_seed(tables: dict[str, pd.DataFrame]):
    """Per label: each seed's precision and recall of its phi alone, with bootstrap intervals
    (a table per label from ``stability.follow_feature``)."""
    fig, axes = plt.subplots(1, len(tables), figsize=(5.2 * len(tables), 3.4), squeeze=False)
    for ax, (label, t) in zip(axes[0], tables.items()):
        for j, (metric, marker) in enumerate((("precision", "o"), ("recall", "s"))):
            x = np.arange(len(t)) + (j - 0.5) * 0.2
            v = 100 * t[metric].to_numpy()
            err = [v - 100 * t[f"{metric}_low"].to_numpy(), 100 * t[f"{metric}_high"].to_numpy() - v]
            ax.errorbar(x, v, yerr=err, fmt=marker, capsize=3, label=metric)
        ax.set_xticks(np.arange(len(t)), [f"seed {s}\nphi {p}" for s, p in zip(t["seed"], t["phi"])], fontsize=7)
        ax.set_ylim(-2, 102)
        ax.set_ylabel("%")
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def tradeoff(table: pd.DataFrame, raw: dict):
    """Steering's trade-off (``verification.tradeoff``): per method, how much language moved (x)
    against the speaker-verification separation d' and the EER (y), one point per strength;
    dotted lines: the raw embeddings' values (``raw``: its dprime and eer)."""
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 3.8))
    for ax, (col, label) in zip(axes, (("dprime", "d' of target vs non-target trials (higher: identity kept)"),
                                       ("eer", "EER (%)"))):
        for method, g in table.groupby("method", sort=False):
            ax.plot(g["moved_pct"], g[col], marker="o", label=method)
            for _, r in g.iterrows():
                ax.annotate(f"{r['strength']:g}", (r["moved_pct"], r[col]), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
        ax.axhline(raw[col], color="grey", ls=":", lw=1, label="raw embeddings")
        ax.set_xlabel("test rows moved to the other class by delta_s (%)")
        ax.set_ylabel(label, fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def sparse_probing(curves: dict[str, pd.DataFrame], baselines: dict[str, pd.DataFrame], single: str):
    """Per label: F1 against k for the top-k latents of the ``single`` model (line), the range over
    all models of the grid (band), the first k PCA components (dashed) and the whole raw embedding
    (dotted line). ``curves``/``baselines``: per label, ``sparse_probing.curves``/``baselines`` tables."""
    fig, axes = plt.subplots(1, len(curves), figsize=(5.2 * len(curves), 3.6), squeeze=False)
    for ax, (label, c) in zip(axes[0], curves.items()):
        band = c.groupby("k")["f1"].agg(["min", "max"]) * 100
        ax.fill_between(band.index, band["min"], band["max"], alpha=0.2, label="SAE top-k, range over the grid")
        one = c[c["model"] == single]
        ax.plot(one["k"], 100 * one["f1"], marker="o", label=f"SAE top-k, {single}")
        b = baselines[label]
        pca = b[b["method"] == "PCA"]
        ax.plot(pca["k"], 100 * pca["f1"], marker="s", ls="--", label="first k PCA components")
        raw = b[b["method"] == "raw embedding"].iloc[0]
        ax.axhline(100 * raw["f1"], color="grey", ls=":", label=f"raw embedding (all {int(raw['k'])})")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(c["k"].unique()), [str(k) for k in sorted(c["k"].unique())])
        ax.set_xlabel("k (features given to the probe)")
        ax.set_ylabel("test F1 (%)")
        ax.set_ylim(-2, 102)
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def activation_histogram(v: np.ndarray, meta: pd.DataFrame, label: str = "", title: str = ""):
    """A latent's activations where it fires, split by one ``column=value`` label (e.g. its best one
    in the catalogue) against the rest; the share of rows where it is 0 is in the legend."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    groups = {"all rows": np.ones(len(v), bool)}
    if label and "=" in label and label.split("=", 1)[0] in meta.columns:
        column, value = label.split("=", 1)
        pos = meta[column].astype(str).to_numpy() == value
        groups = {label: pos, "the rest": ~pos}
    fired = v[v > 0]
    bins = np.linspace(0, fired.max() if len(fired) else 1.0, 40)
    for name, mask in groups.items():
        part = v[mask]
        ax.hist(part[part > 0], bins=bins, alpha=0.6,
                label=f"{name} ({mask.sum():,} rows, {100 * (part == 0).mean():.0f} % at 0)")
    ax.set_xlabel("activation where it fires")
    ax.set_ylabel("rows")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def matched_pairs(panels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, str], tuple[str, str]]]):
    """One panel per matched pair of latents: each segment's activation of the latent in model A (x)
    against its counterpart in model B (y), coloured by its class. A panel: (v_a (n,), v_b (n,),
    y (n,) bool, (class names positive, negative), (axis labels a, b))."""
    n = max(len(panels), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8), squeeze=False)
    for ax, (title, (va, vb, y, names, labels)) in zip(axes[0], panels.items()):
        y = np.asarray(y, bool)
        for mask, name, colour in ((~y, names[1], "tab:grey"), (y, names[0], "tab:red")):
            ax.scatter(np.asarray(va)[mask], np.asarray(vb)[mask], s=6, alpha=0.5, color=colour, label=name)
        ax.set_xlabel(labels[0], fontsize=8)
        ax.set_ylabel(labels[1], fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def size_curves(table: pd.DataFrame, panels: dict[str, str], marks: list[int] = ()):
    """One panel per column of ``table`` (one row per SAE, with latent_dim and k): the value against
    the latent size (log scale), one line per K. ``panels``: {panel title: column}; ``marks``: latent
    sizes marked by a dotted line (e.g. the largest the paper reports)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (title, column) in zip(axes[0], panels.items()):
        for k, g in table.sort_values("latent_dim").groupby("k"):
            ax.plot(g["latent_dim"], g[column], marker="o", ms=3, label=f"K {k}")
        for m in marks:
            ax.axvline(m, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("latents", fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig
