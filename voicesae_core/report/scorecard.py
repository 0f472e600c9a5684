"""The front page's scorecard: each claim of the paper, its number, ours, and a verdict computed at build time.

Read from the tables the chapters wrote (``<output_dir>/tables``), never typed in. One block of
rows per feature of the study (the paper's study: Spanish and hold music), each row linking to the
chapter that shows it; a feature with no counterpart in the paper gets ours alone. Verdicts:

* a single latent's precision and recall agree when the paper's value lies inside our 95 %
  bootstrap interval over the test rows (else: by how many points they differ);
* the grid (Figs. 2-3) agrees when the mean absolute difference over the cells both grids have is
  at most ``CLOSE`` points;
* steering agrees when it flips the sign of delta_s for both classes, as in the paper;
* the split and the error analysis are said in kind (found or not; the share of errors carrying
  the flag the paper names).

Below it, the beyond-the-paper findings in one line each.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ..data import paper_reference

CLOSE = 5.0
"""Percentage points within which a grid of ours is said to agree with the paper's on average."""
STEERING_TABLE = {"table3": "tableiii", "table4": "tableiv"}


class Row(NamedTuple):
    claim: str
    chapter: str
    """The chapter's page, e.g. ``notebooks/03_identification``."""
    paper: str
    ours: str
    verdict: str


def _read(path: Path, **kwargs) -> pd.DataFrame | None:
    return pd.read_csv(path, **kwargs) if path.is_file() else None


def _pct(v: float) -> str:
    return f"{v:.1f} %"


def _agrees(paper: float, ours: float, low: float, high: float, what: str) -> str:
    if low - 1e-9 <= paper <= high + 1e-9:
        return f"{what}: agrees (the paper's value is inside our interval)"
    return f"{what}: differs by {ours - paper:+.1f} points"


def single_latent(study, feature: str, tables: Path) -> Row | None:
    f, s1 = study.features[feature], study.single
    single = _read(tables / f"identification_single_L{s1.latent_dim}_k{s1.k}.csv", index_col=0)
    grid = _read(tables / f"identification_{feature}.csv")
    if single is None or grid is None:
        return None
    row = single.iloc[list(study.features).index(feature)]
    model = grid[(grid["latent_dim"] == s1.latent_dim) & (grid["k"] == s1.k)].iloc[0]
    ours = (f"phi {row['phi']}: precision {_pct(row['precision %'])} [{100 * model['precision_low']:.1f}, "
            f"{100 * model['precision_high']:.1f}], recall {_pct(row['recall %'])} [{100 * model['recall_low']:.1f}, "
            f"{100 * model['recall_high']:.1f}]")
    claim = f"One latent alone predicts {f.names[0]} (latent {s1.latent_dim}, K {s1.k})"
    if not f.paper.single_model:
        return Row(claim, "notebooks/03_identification", "-", ours, "not in the paper")
    paper = paper_reference.single_model().loc[f.paper.single_model]
    verdict = "; ".join([_agrees(paper["precision"], row["precision %"], 100 * model["precision_low"],
                                 100 * model["precision_high"], "precision"),
                         _agrees(paper["recall"], row["recall %"], 100 * model["recall_low"], 100 * model["recall_high"],
                                 "recall")])
    return Row(claim, "notebooks/03_identification",
               f"phi {int(paper['phi'])}: precision {_pct(paper['precision'])}, recall {_pct(paper['recall'])}", ours, verdict)


def grid(study, feature: str, tables: Path) -> list[Row]:
    f = study.features[feature]
    rows = []
    for letter, metric in (("a", "precision"), ("b", "recall")):
        ours = _read(tables / f"{f.paper.grid or 'grid'}{letter}_{feature}_{metric}.csv", index_col=0)
        if ours is None:
            continue
        claim = f"{f.names[0]}: {metric} of the single latent over the grid" + (
            f" (Fig. {f.paper.grid[3:]}{letter})" if f.paper.grid else "")
        mean = f"mean {ours.stack().mean():.1f} % over {ours.size} cells"
        if not f.paper.grid:
            rows.append(Row(claim, "notebooks/03_identification", "-", mean, "not in the paper"))
            continue
        paper = paper_reference.grid(f.paper.grid, metric)
        d = ours.sub(paper).stack().dropna()
        if d.empty:
            rows.append(Row(claim, "notebooks/03_identification", f"mean {paper.stack().mean():.1f} %", mean,
                            "no cell in common with the paper's grid"))
            continue
        worst = d.abs().idxmax()
        zeros = int((ours.stack() == 0).sum())  # a latent that never fired on the test split: hatched in ch. 3
        verdict = (f"{'agrees' if d.abs().mean() <= CLOSE else 'differs'}: mean absolute difference "
                   f"{d.abs().mean():.1f} points over {d.size} cells; largest {d[worst]:+.1f} at latent {worst[0]}, "
                   f"K {str(worst[1])[1:]}" + (f" ({zeros} cell(s) at 0: the chosen latent never fired there)"
                                               if zeros else ""))
        rows.append(Row(claim, "notebooks/03_identification", f"mean {paper.stack().mean():.1f} % over {paper.size} cells",
                        mean, verdict))
    return rows


def split(study, feature: str, tables: Path) -> Row | None:
    options = study.chapters.splitting
    if study.feature_name(options.feature) != feature:
        return None
    splits = _read(tables / f"splitting_k{options.k}_splits.csv")
    if splits is None:
        return None
    name = study.features[feature].names[0]
    groups = splits.groupby(["latent_dim", "parent", "next_latent_dim"], sort=True)["child"].apply(list)
    first = [f"L{a} #{p} -> L{b} #{', #'.join(map(str, c))}" for (a, p, b), c in groups.items()][:2]
    ours = (f"{len(groups)} split(s) at K {options.k}, e.g. {'; '.join(first)}" if len(groups)
            else f"no split at K {options.k}")
    return Row(f"The {name} latent splits as the latent grows (Fig. 4)", "notebooks/04_splitting",
               "splits into Spanish-male and Spanish-female latents" if study.features[feature].paper.grid == "fig2"
               else "-", ours, "agrees in kind: splits found (the chapter shows how each divides the classes and "
               f"{options.group_column})" if len(splits) else "differs: no split found")


def steering(study, feature: str, tables: Path) -> Row | None:
    f = study.features[feature]
    name = STEERING_TABLE.get(f.paper.steering)
    if name:
        t = _read(tables / f"{name}_steering_{feature}.csv", header=[0, 1], index_col=0)
        if t is None:
            return None
        ours, paper = t["ours"], t["paper"]
    else:
        ours = _read(tables / f"steering_means_{feature}.csv", index_col=0)
        if ours is None:
            return None
        paper = None

    def text(m: pd.DataFrame) -> str:
        return "; ".join(f"{c} {m.loc[c, 'delta_s_before']:+.3f} -> {m.loc[c, 'delta_s_after']:+.3f}" for c in m.index)
    flips = [c for c in ours.index if ours.loc[c, "delta_s_before"] * ours.loc[c, "delta_s_after"] < 0]
    verdict = (("agrees: " if paper is not None else "") + "delta_s changes sign for both classes"
               if len(flips) == len(ours) else
               ("differs: " if paper is not None else "") + f"delta_s changes sign for {', '.join(flips) or 'neither class'} only")
    table = {"table3": "Table III", "table4": "Table IV"}.get(f.paper.steering)
    return Row(f"Switching the latent steers {' and '.join(f.names)} toward each other" + (f" ({table})" if table else ""),
               "notebooks/05_steering", text(paper) if paper is not None else "-", text(ours),
               verdict if paper is not None else verdict + " (not in the paper)")


def errors(study, feature: str, tables: Path) -> Row | None:
    f = study.features[feature]
    t = _read(tables / f"identification_error_summary_{feature}.csv", index_col=0)
    if t is None or not f.error_flags:
        return None
    flag = f"% {f.error_flags[0]}"
    fp = t.loc["false positive"] if "false positive" in t.index else None
    fn = t.loc["false negative"] if "false negative" in t.index else None
    def counted(r, what: str) -> str:
        if r is None or not r["rows"]:
            return f"0 {what}"
        shares = ", ".join(f"{c[2:]} {r[c]:.1f} %" for c in t.columns if c.startswith("% "))
        return f"{int(r['rows'])} {what}" + (f" ({shares})" if shares else "")
    ours = f"{counted(fp, 'false positives')}; {counted(fn, 'false negatives')}"
    paper = ("91.0 % of the false positives native Spanish speakers; code-mixing among the false negatives"
             if f.paper.single_model == "language" else "-")
    if fp is None or not fp["rows"] or flag not in t.columns:
        verdict = "no false positive to examine"
    else:
        verdict = f"{fp[flag]:.1f} % of ours carry {f.error_flags[0]} (paper: 91.0 %)"
    return Row(f"What the {f.names[0]} latent gets wrong (Section V-A)", "notebooks/03_identification", paper, ours, verdict)


def rows(study, tables: Path) -> list[Row]:
    """Every row of the scorecard, feature by feature, in the study's order."""
    out = []
    for feature in study.features:
        out += [r for r in [single_latent(study, feature, tables), *grid(study, feature, tables),
                            split(study, feature, tables), steering(study, feature, tables),
                            errors(study, feature, tables)] if r is not None]
    return out


def beyond(study, tables: Path) -> list[tuple[str, str]]:
    """The beyond-the-paper findings, one line each: (chapter page, sentence)."""
    s1, out = study.single, []
    name = f"L{s1.latent_dim}_k{s1.k}_topk_s0"
    stab = _read(tables / "stability_summary.csv")
    feats = _read(tables / "stability_features.csv")
    if stab is not None and len(stab):
        r = stab.iloc[(stab["latent_dim"] - s1.latent_dim).abs().argsort().iloc[0]]
        text = (f"Seed stability: at latent {r['latent_dim']}, K {r['k']}, {r['shared_0.7_pct_mean']:.1f} % of latents "
                f"come back in another seed (decoder cosine >= 0.7; random directions: {r['random_shared_0.7_pct']:.1f} %)")
        if feats is not None and len(feats):  # the single model's configuration, over its seeds
            mine = feats[(feats["latent_dim"] == s1.latent_dim) & (feats["k"] == s1.k)]
            back = mine.groupby("feature", sort=False)["reappears"].agg(["sum", "size"])
            text += f"; at latent {s1.latent_dim}, K {s1.k} " + ", ".join(
                f"the {f} latent comes back in {int(b['sum'])} of {int(b['size'])} seeds" for f, b in back.iterrows())
        out.append(("notebooks/08_stability", text + "."))
    ver = _read(tables / "verification_grid.csv", index_col=0)
    if ver is not None and name in ver.index:
        v = ver.loc[name]
        out.append(("notebooks/09_verification",
                    f"Steering's cost to speaker verification ({name}): EER {100 * v['raw_eer']:.1f} % on raw embeddings, "
                    f"{100 * v['reconstructed_eer']:.1f} % on reconstructions, {100 * v['steered_eer']:.1f} % after steering "
                    f"(a mean-difference vector instead: {100 * v['mean_difference_eer']:.1f} %)."))
    probe = _read(tables / "sparse_probing_summary.csv")
    if probe is not None and len(probe):
        one = probe[probe["k"] == 1]
        model = [c for c in probe.columns if c.startswith("SAE ") and "grid" not in c]
        if len(one) and model:
            out.append(("notebooks/10_sparse_probing", "Sparse probing, F1 with one latent: " + "; ".join(
                f"{r['label']} {r[model[0]]:.1f} % (the raw embedding's probe: {r['raw embedding']:.1f} %)"
                for _, r in one.iterrows()) + "."))
    rec = _read(tables / "recovery_grid.csv", index_col=0)
    if rec is not None and name in rec.index:
        r = rec.loc[name]
        out.append(("notebooks/07_recovery",
                    f"Ground-truth recovery ({name}): decoder rows match the planted features with mean best cosine "
                    f"{r['mean_max_cos']:.2f} (random directions: {r['baseline_max_cos']:.2f})."))
    return out


def _span(values: pd.Series) -> str:
    """'1.0' or '1.0-4.5': the range of values, one number when they agree to the shown digit."""
    low, high = f"{values.min():.1f}", f"{values.max():.1f}"
    return low if low == high else f"{low}-{high}"


def future(study, tables: Path) -> list[Row]:
    """The paper's future work (Section V-C, points 5 and 6), as this build answers it on the study's
    data: universality across speaker models (chapter 12) and dictionaries far wider than the
    embedding (chapter 13). The paper has no number for either: it names them as untested."""
    out = []
    shares = _read(tables / "universality_shares.csv")
    if shares is not None and len(shares):
        t = sorted(study.chapters.universality.thresholds)[len(study.chapters.universality.thresholds) // 2]
        parts, above = [], []
        for _, r in shares.iterrows():
            parts.append(f"{r['from']} -> {r['to']}: {r[f'matched_{t:g}_pct']:.1f} % (shuffled segments: "
                         f"{r[f'shuffled_{t:g}_pct']:.1f} %)")
            above.append(r[f"matched_{t:g}_pct"] > 2 * r[f"shuffled_{t:g}_pct"] and r[f"matched_{t:g}_pct"] > 0)
        feats = _read(tables / "universality_features.csv")
        if feats is not None and "f1_counterpart" in feats:
            parts += [f"the {r['feature']} latent's counterpart alone: F1 {100 * r['f1_counterpart']:.1f} %"
                      for _, r in feats.dropna(subset=["f1_counterpart"]).iterrows()]
        least = min(r[f"matched_{t:g}_pct"] for _, r in shares.iterrows())
        verdict = ((f"above chance in every direction; {'most' if least >= 50 else 'a minority of'} latents matched")
                   if all(above) else "not above chance in every direction")
        out.append(Row(f"Features are relatively universal across speaker models (point 5): latents with a "
                       f"counterpart at activation correlation >= {t:g}", "notebooks/12_universality",
                       "future work (untested)", "; ".join(parts), verdict))
    sizes = _read(tables / "wide_sizes.csv")
    if sizes is not None and len(sizes):
        widest = int(sizes["latent_dim"].max())
        w = sizes[sizes["latent_dim"] == widest]
        seconds = _read(tables / "wide_time.csv", index_col=0)
        cost = (f"; trained in {seconds.loc[widest, 'train_seconds']:,.0f} s" if seconds is not None
                and widest in seconds.index else "")
        ours = (f"{widest:,} latents ({w['expansion'].iloc[0]:.0f} x the embedding): FVU {w['fvu'].min():.3f} at best, "
                f"dead {_span(w['dead_pct'])} %{cost}")
        verdict = "trained and measured (no paper number to compare)"
        if "recovered" in sizes:
            best = sizes.groupby("latent_dim")["recovered"].max()
            peak = int(best.idxmax())
            ours += "; planted features recovered (best K): " + ", ".join(f"{int(n):,}: {v}" for n, v in best.items())
            verdict = ("recovery still rising at the widest dictionary" if peak == widest and best.iloc[-1] > best.iloc[0]
                       else f"recovery peaks at {peak:,} latents" if best.max() > 0 else "no planted feature recovered "
                       "at any size")
        out.append(Row("A small embedding can represent thousands of features (point 6)", "notebooks/13_wide",
                       "future work (largest reported: 600 latents, about 3 x)", ours, verdict))
    return out


def _link(page: str) -> str:
    """A short link to a chapter: ``{doc}`ch. 3 <notebooks/03_identification>```."""
    return f"{{doc}}`ch. {int(page.split('/')[-1][:2])} <{page}>`"


def markdown(study, tables: Path) -> str:
    """The scorecard as MyST Markdown (the front page includes it)."""
    found = rows(study, tables)
    lines = ["## Scorecard: the paper's claims, checked by this build", "",
             "Each row: a claim of the paper, its number, ours (with our 95 % bootstrap interval over the test rows in "
             "brackets where we have one) and a verdict computed from the chapters' tables when the book was built. "
             "Ours come from the study's data, not the paper's; the chapters say why they differ."
             + (f" The grid's {len(study.models)} SAEs were not trained by this build: they were imported from the "
                "study's `models` (trained elsewhere; chapter 2 lists them and evaluates them on the study's data)."
                if study.models else ""), "",
             "| claim | paper | ours | verdict | chapter |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.claim} | {r.paper} | {r.ours} | {r.verdict} | {_link(r.chapter)} |" for r in found]
    if not found:
        lines.append("| (no chapter table found: run the chapters first) | - | - | - | - |")
    ahead = future(study, tables)
    if ahead:
        lines += ["", "**The paper's future work**, answered on this study's data (the paper has no number for these):", "",
                  "| claim | paper | ours | verdict | chapter |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r.claim} | {r.paper} | {r.ours} | {r.verdict} | {_link(r.chapter)} |" for r in ahead]
    extra = beyond(study, tables)
    if extra:
        lines += ["", "**Beyond the paper**, one line each:", ""]
        lines += [f"- {text} ({_link(page)})" for page, text in extra]
    return "\n".join(lines) + "\n"
