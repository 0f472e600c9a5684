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
# # 9. Steering's cost to speaker identity
#
# Chapter 5 shows that switching the Spanish latent off moves a reconstruction towards English.
# A speaker-recognition researcher's next question: does it keep *who* is speaking? We answer it
# with a speaker-verification test on the Language Feature set's test split: every pair of
# segments is a trial, a *target* trial when both are the same speaker, scored by cosine
# similarity. For every SAE of the grid we compare the raw embeddings, the SAE reconstructions
# and the reconstructions steered on the language latent $\phi$ (Eqs. 1-2, $a_\phi$), and beside
# them a baseline without an SAE: the raw embeddings moved by the difference of the class means
# (a mean-difference steering vector, strength $\alpha$; 1 moves a row by the whole difference).
#
# Measures: the equal error rate (EER), the normalised minimum detection cost (minDCF,
# $P_\text{target} = 0.05$ as in VoxSRC), and $d'$, the separation of target and non-target scores
# in pooled standard deviations, which keeps measuring when the EER is 0. How far the language
# moved: the share of test rows that $\delta_s$ (Eq. 3) puts on the other class's side.

# %% tags=["parameters"]
profile = "full"
output_dir = "out/full"  # reads the grid trained by 02_train_grid from output_dir/grid
language_manifest = ""  # empty: the embedded default for profile
latent_dims = [100, 200, 300, 400, 500, 600]
ks = [5, 10, 15, 20, 25, 30, 35]
seed = 0
activation = "topk"
latent_dim = 200  # the single model for the trade-off curve
k = 20
language_column = "language"
language_positive = "es"
language_negative = "en"
language_names = ["Spanish", "English"]
speaker_column = "speaker"  # rows with the same value are one speaker; empty: no speaker (left out)
a_phi = 1.0  # the paper's steering strength
alpha = 1.0  # the mean-difference vector's strength
strengths = [0, 0.25, 0.5, 1, 2, 4, 8]  # a_phi and alpha values of the trade-off curve
p_target = 0.05

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from voicesae_core import VoicesaeError, expand_grid, labels, manifest, pipeline, plots, probe, verification
from voicesae_core.files import write_csv
from voicesae_core.trainer import load_grid

tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"
models = load_grid(Path(output_dir) / "grid", expand_grid(latent_dims, ks, [activation], [seed]))
ds = manifest.load(pipeline.manifest_path("language", profile, language_manifest))
manifest.require_columns(ds, [speaker_column])
t = labels.task(ds, language_column, language_positive, language_negative,
                name=f"{language_names[0]} vs {language_names[1]}")
speakers = t.meta_test[speaker_column]
trials = verification.trials(speakers)
ids = t.meta_test["id"].to_numpy() if "id" in t.meta_test else t.meta_test.index.to_numpy()
write_csv(tables / "verification_trials.csv",
          pd.DataFrame({"id_a": ids[trials.a], "id_b": ids[trials.b], "target": trials.target.astype(int)}), index=False)
print(f"{len(trials.target):,} trials from {speakers.astype(str).ne('').sum()} test segments of "
      f"{speakers[speakers.astype(str) != ''].nunique()} speakers: {int(trials.target.sum()):,} target, "
      f"{int((~trials.target).sum()):,} non-target (tables/verification_trials.csv)")

# %% [markdown]
# ## Over the grid

# %%
cost = verification.steering_cost(models, t.x_train, t.y_train, t.x_test, t.y_test, speakers, a_phi, alpha, p_target)
write_csv(tables / "verification_grid.csv", cost)
raw = cost.iloc[0]
print(f"raw embeddings: EER {raw.raw_eer:.2f} %, minDCF {raw.raw_min_dcf:.3f}, d' {raw.raw_dprime:.2f}; "
      f"mean-difference steering (alpha {alpha:g}): EER {raw.mean_difference_eer:.2f} %, minDCF "
      f"{raw.mean_difference_min_dcf:.3f}, d' {raw.mean_difference_dprime:.2f}, moves {raw.mean_difference_moved_pct:.1f} % of rows")
cost[["phi", "reconstructed_eer", "reconstructed_dprime", "steered_eer", "steered_min_dcf", "steered_dprime",
      "steered_moved_pct"]].round(3)

# %% tags=["remove-output"]
grids = {"d' of reconstructions": probe.as_grid(cost, "reconstructed_dprime", percent=False),
         f"d' after steering phi (a_phi {a_phi:g})": probe.as_grid(cost, "steered_dprime", percent=False),
         "EER after steering (%)": probe.as_grid(cost, "steered_eer", percent=False),
         "rows moved by steering (%)": probe.as_grid(cost, "steered_moved_pct", percent=False)}
plots.publish(plots.value_heatmaps(grids, fmts=[".2f", ".2f", ".2f", ".0f"]), figures, "verification_grid",
              "verification_grid")

# %% [markdown]
# ```{glue:figure} verification_grid
# :name: fig-verification-grid
#
# Over the latent_dim x K grid: the verification separation $d'$ of the SAE reconstructions and of
# the reconstructions steered on the language latent, the EER after steering, and the share of
# test rows steering moved to the other language.
# ```

# %% [markdown]
# ## The trade-off: language moved against identity kept

# %%
name = expand_grid([latent_dim], [k], [activation], [seed])[0].name
if name not in cost.index:
    raise VoicesaeError(f"latent_dim={latent_dim}, k={k} is not in the grid (latent_dims={latent_dims}, ks={ks})")
single = next(m for m in models if m.cfg.name == name)
curve = verification.tradeoff(single, int(cost.loc[name, "phi"]), t.x_train, t.y_train, t.x_test, t.y_test,
                              speakers, strengths, p_target)
write_csv(tables / "verification_tradeoff.csv", curve, index=False)
curve.round(3)

# %% tags=["remove-output"]
plots.publish(plots.tradeoff(curve, {"dprime": raw.raw_dprime, "eer": raw.raw_eer}), figures,
              "verification_tradeoff", "verification_tradeoff")

# %% [markdown]
# ```{glue:figure} verification_tradeoff
# :name: fig-verification-tradeoff
#
# The single model: as the steering strength grows (numbers at the points), how many test rows
# move to the other language (x) and what is left of speaker verification (y), for the single
# latent and for the mean-difference vector.
# ```

# %%
best_d = cost["steered_dprime"].idxmax()
worst_d = cost["steered_dprime"].idxmin()
sl, md = (curve[curve.method.str.startswith("latent")], curve[curve.method.str.startswith("mean")])
full_sl, full_md = sl[sl.moved_pct >= 95], md[md.moved_pct >= 95]
def span(values, unit="%"):
    lo, hi = f"{values.min():.0f}", f"{values.max():.0f}"
    return f"{lo} {unit}" if lo == hi else f"{lo}-{hi} {unit}"


def first_full(part):
    return "never" if part.empty else f"from strength {part.strength.iloc[0]:g} (d' {part.dprime.iloc[0]:.2f}, EER {part.eer.iloc[0]:.2f} %)"
display(Markdown(
    f"Raw test embeddings: EER {raw.raw_eer:.2f} %, d' {raw.raw_dprime:.2f} on {int(raw.targets):,} target and "
    f"{int(raw.nontargets):,} non-target trials. Reconstructions lose some separation (d' "
    f"{cost.reconstructed_dprime.min():.2f}-{cost.reconstructed_dprime.max():.2f} over the grid, EER up to "
    f"{cost.reconstructed_eer.max():.2f} %). Steering the language latent with a_phi {a_phi:g} moves "
    f"{span(cost.steered_moved_pct)} of test rows to the other language and "
    f"leaves d' {cost.steered_dprime.min():.2f} ({worst_d}) to {cost.steered_dprime.max():.2f} ({best_d}), EER up to "
    f"{cost.steered_eer.max():.2f} %. In the single model ({name}), 95 % or more of the rows are moved by the latent "
    f"{first_full(full_sl)} and by the mean-difference vector {first_full(full_md)}."))

# %%
def at(part, strength):
    return part.iloc[int((part.strength - strength).abs().argmin())]


s1, m1 = at(sl, 1.0), at(md, 1.0)
display(Markdown(
    f"How far each pushes: at strength 1 the latent moves a reconstruction by {s1['shift']:.2f} of its mean norm "
    f"(d' {s1.dprime:.2f}), the mean-difference vector a raw embedding by {m1['shift']:.2f} (d' {m1.dprime:.2f}). "
    f"Larger pushes of either cost more separation: d' at the largest strength ({max(strengths):g}): latent "
    f"{sl.dprime.iloc[-1]:.2f}, mean difference {md.dprime.iloc[-1]:.2f}."))

# %% [markdown]
# How to read it. On the synthetic default every speaker carries strong planted traits, so the
# raw embeddings separate speakers perfectly (EER 0) and the EER stays at or near 0 under
# steering: there $d'$ is the informative number, and it is its *drop* from the raw embeddings
# (and from the reconstructions, for the latent) that says what steering costs. Both steerings
# add one fixed vector per class (Eq. 1 writes $-a_\phi$ times a decoder row for every positive
# sample), and a vector added to every row of a class pulls those rows towards each other under
# cosine scoring; the larger it is relative to the embeddings (`shift` in the table), the more
# speakers blur, so compare the two methods at equal rows moved and equal shift, not at equal
# strength (a_phi and alpha are on different scales). Real TitaNet embeddings of telephone calls
# have EERs of a few per cent, where the EER itself would move; run this chapter on them through
# `language_manifest` (it needs a `speaker` column).
