# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 13. Dictionaries far wider than the embedding
#
# The paper's sixth property of SAE features, "a small embedding can represent thousands of latent
# space features", is the one it could not test: its largest reported SAE has 600 latents, about
# 3x its 192-d embedding ("we lack the data to train models of this magnitude"), where SAEs of
# language models are orders of magnitude wider than their input. Here the same SAEs are trained
# at 4, 8, 16 and 32 times the embedding's dimension (6,144 latents for 192-d) at the study's K
# values, beside the grid's sizes, with the same training budget (`chapters.wide.steps` changes
# it), and for each size we ask
# (`voicesae_core.analysis.dictionary_size`):
#
# * how well it reconstructs (FVU) and how much of the dictionary is dead;
# * what it costs: the wall time of each size's training pass on this machine (a size loaded from
#   chapter 2's grid, trained there with the other sizes in one pass, has no time of its own);
# * on the synthetic default, how many of the 243 planted features some latent recovers (decoder
#   cosine at least 0.9), and how many latents crowd around the Spanish and music directions;
# * where the Spanish latent goes as the dictionary grows (chapter 4's flows, beyond 600).

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: its data, grid and chapters.wide (see voicesae_core.report.study)
output_dir = "out/paper-full"  # the SAEs are trained into output_dir/wide (the grid's sizes reused from output_dir/grid)
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)
expansions = [4, 8, 16, 32]  # latent sizes as multiples of the embedding's dimension
ks = []  # their K values (empty: the grid's)
follow_k = 0  # the K at which the first feature's latents are followed across sizes (0: chapter 4's)
recovered_at = 0.9  # decoder cosine from which a planted feature counts as recovered
steps = 0  # optimizer steps of each SAE here (0: the study's training.steps)

# %%
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown

from voicesae_core import TrainConfig, expand_grid, train_grid
from voicesae_core.analysis import dictionary_size, splitting
from voicesae_core.device import describe, resolve
from voicesae_core.files import write_csv
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters, load as load_study
from voicesae_core.sae import convergence

check_parameters(globals(), "wide")  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
options = s.chapter("wide", expansions=expansions, ks=ks, follow_k=follow_k, recovered_at=recovered_at, steps=steps)
tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"
data = s.dataset("sae_train")
rows, d_in = data.embeddings.shape
wide = [e * d_in for e in options.expansions]
sizes = sorted(set(s.grid.latent_dims) | set(wide))
ks = options.ks or s.grid.ks
follow = options.follow_k or s.chapters.splitting.k
budget = dataclasses.replace(s.training, steps=options.steps) if options.steps else s.training
epochs, batch_size = budget.plan(rows)  # chapter 2's budget unless chapters.wide.steps says otherwise
print(f"latent sizes {sizes} (the grid's and {options.expansions} x {d_in}), K {ks}; {epochs} epoch(s) of "
      f"{rows:,} rows at batch {batch_size}, on {describe(resolve(s.device))}")

# %% [markdown]
# ## Training
# Each latent size is one training pass over the data (all its Ks together); a size the grid of
# chapter 2 already has, trained the same way on the same data, is loaded from it.

# %%
models, seconds, t0 = [], {}, time.perf_counter()
for size in sizes:
    configs = expand_grid([size], [k for k in ks if k <= size], [s.grid.activation], [s.grid.seeds[0]])
    folder = Path(output_dir) / "wide" / f"L{size}"
    result = train_grid(data.embeddings, configs, TrainConfig(epochs=epochs, batch_size=batch_size, device=s.device),
                        out_dir=folder, quiet=False, replace_stale=True, reuse_from=[Path(output_dir) / "grid"])
    models += result.models
    seconds[size] = dictionary_size.pass_time(folder, result)  # NaN: loaded from chapter 2's grid
print(f"{len(models)} SAEs ready in {time.perf_counter() - t0:.0f} s (a rerun loads the finished models)")
if s.models:  # the grid was imported: these are ours
    display(Markdown("This study's grid was imported (its `models`), so every SAE here is trained by voicesae on the "
                     "study's data with its `training` budget; none is an imported model."))
display(Markdown(convergence.warning(models)))
if not all(m.info.get("convergence", {}).get("converged", True) for m in models):
    display(Markdown(f"Here every SAE had {epochs} epoch(s) at batch {batch_size} (at least {budget.steps:,} optimizer "
                     "steps); `chapters.wide.steps` trains this chapter's SAEs longer without retraining chapter 2's grid."))

# %%
truth = data.ground_truth() if "ground_truth" in data.manifest else None
named = [n for n in truth.names if not n.startswith("trait_")] if truth is not None else []
table = dictionary_size.size_table(models, truth, named, options.recovered_at)
write_csv(tables / "wide_sizes.csv", table)
seconds = pd.Series(seconds, name="train_seconds").rename_axis("latent_dim")
write_csv(tables / "wide_time.csv", seconds.to_frame())
show = ["latent_dim", "expansion", "k", "fvu", "dead_pct", "converged"]
if truth is not None:
    show += ["recovered", "mean_max_cos", "recovered_named"]
    show += [c for f in ("spanish", "music") if f in named for c in (f"{f}_max_cos", f"near_{f}")]
display(table[show].round(3))
timed = seconds.dropna()
if len(timed):
    display(Markdown("Training time of each size trained here (one pass over its Ks): "
                     + ", ".join(f"{n:,} latents {t:,.0f} s" for n, t in timed.items()) + "."))
few = dictionary_size.underdetermined(table)
if few:
    display(Markdown(f"**Underdetermined:** the latent sizes {few} have fewer than {dictionary_size.ROWS_PER_LATENT} "
                     "training rows per latent "
                     f"({rows:,} rows): such a dictionary can memorise rows instead of finding features, and many of "
                     "its latents stay dead. Read their rows below as what this much data supports, not as what a "
                     "wide dictionary finds."))

# %% tags=["remove-output"]
panels = {"fraction of variance unexplained": "fvu", "dead latents (%)": "dead_pct"}
if truth is not None:
    panels = {f"planted features recovered (of {len(truth.names)})": "recovered",
              "mean best cosine to a planted feature": "mean_max_cos", **panels}
paper_max = [600] if max(sizes) > 600 else []
plots.publish(plots.size_curves(table, panels, paper_max), figures, "wide_curves", "wide_curves")

# %% [markdown]
# ```{glue:figure} wide_curves
# :name: fig-wide-curves
#
# Against the number of latents (log scale), one line per K: planted features recovered at decoder
# cosine 0.9 and the best cosine to each planted feature, averaged (synthetic data only), the
# fraction of variance unexplained, and the share of dead latents. Dotted: 600 latents, the largest SAE the paper reports.
# ```

# %% [markdown]
# ## The Spanish latent beyond 600

# %%
f = s.feature(s.chapters.splitting.feature)
options_split = s.chapters.splitting
at_k = sorted([m for m in models if m.cfg.k == follow], key=lambda m: m.cfg.latent_dim)
t = s.task(s.chapters.splitting.feature)
if len(at_k) >= 2:
    analysis = splitting.follow(at_k, t.x_train, t.y_train, t.x_test, options_split.min_precision,
                                options_split.min_share, options_split.min_child_share, options_split.rule)
    groups = np.where(t.y_test, f.names[0], f.names[1]).astype(object)
    if options_split.group_column in t.meta_test.columns:
        groups = groups + " " + t.meta_test[options_split.group_column].astype(str).to_numpy()
    links = splitting.sankey_links(analysis, groups)
    write_csv(tables / f"wide_splitting_k{follow}_links.csv", links, index=False)
    write_csv(tables / f"wide_splitting_k{follow}_splits.csv", splitting.split_table(analysis), index=False)
    for dim, found in zip(analysis.latent_dims, analysis.label_latents):
        print(f"latent {dim}: {len(found)} {f.names[0]} latent(s) {found if len(found) <= 12 else found[:12] + ['...']}")
    display(Markdown(splitting.split_text(analysis, f.names[0])))
else:
    display(Markdown(f"K {follow} is trained at fewer than two latent sizes here (`chapters.wide.follow_k`): "
                     "nothing to follow."))

# %% tags=["remove-output"]
if len(at_k) >= 2:
    plots.publish(plots.alluvial(links, analysis.latent_dims, analysis.label_latents,
                                 f"TopK={follow}: the {f.names[0]} latent(s) from {sizes[0]} to {sizes[-1]} latents"),
                  figures, f"wide_splitting_k{follow}", "wide_splitting")
else:
    plots.glue_absent(["wide_splitting"], [], f"K {follow} is trained at fewer than two latent sizes")

# %% [markdown]
# ```{glue:figure} wide_splitting
# :name: fig-wide-splitting
#
# Chapter 4's flows continued to the widest dictionary: the test samples of each class x group
# following the label's latent(s) as the number of latents grows.
# ```

# %%
lines = []
if wide:
    widest = max(wide)
    at_widest = table[table["latent_dim"] == widest]
    dead = sorted({f"{v:.1f}" for v in at_widest["dead_pct"]}, key=float)
    lines.append(f"The widest dictionaries ({widest:,} latents, {widest // d_in} x the embedding; K "
                 f"{', '.join(map(str, at_widest['k']))}) took {seconds.loc[widest]:,.0f} s to train in one pass "
                 f"({len(at_widest)} SAEs, {epochs} epoch(s) of {rows:,} rows) on {describe(resolve(s.device))}; all "
                 f"{len(wide)} wide sizes together {seconds.loc[wide].sum():,.0f} s. They leave "
                 f"{dead[0] if len(dead) == 1 else dead[0] + '-' + dead[-1]} % of their latents dead on the evaluation data.")
else:
    lines.append("The study trains no dictionary wider than its grid (`chapters.wide.expansions` is empty).")
best = table.loc[table["fvu"].idxmin()]
lines.append(f"The lowest FVU is {best['fvu']:.4f} at {int(best['latent_dim']):,} latents, K {int(best['k'])}.")
if truth is not None:
    grow = table.groupby("latent_dim")["recovered"].max()
    lines.append("Planted features recovered (best K per size): " + ", ".join(f"{n:,}: {v}" for n, v in grow.items())
                 + f" of {len(truth.names)}.")
display(Markdown(" ".join(lines)))

# %% [markdown]
# How to read it. On the synthetic default the truth is 243 planted features in 192 dimensions,
# most of them speaker traits a segment carries six of: a dictionary needs at least as many latents
# as features to hold them one to one, and beyond that more latents can only split features (a
# latent per speaker group, per codec and tune, ...) or die. So the recovery curve should rise and
# then flatten, and the dead share grow with width, more so at large K, where fewer latents are
# needed per row. On real embeddings the number of features is unknown; a dictionary wider than the
# data can support (fewer than about ten training rows per latent) is flagged above. The times are
# this build's, on its machine; `bench/` measures the trainer against its peers.
