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
# # 7. Ground-truth recovery: did the SAEs find the planted features?
#
# The paper can only say that a latent *behaves* like "Spanish". On the synthetic benchmark we
# know every planted direction $u_f$ (243 of them in 192 dimensions: Spanish, its female/male
# children, pitch, music, 8 tunes, 4 codecs, noise, duration and 224 speaker traits), so we can
# measure how well each SAE's unit decoder rows $d_l$ line up with them:
#
# * $\max_l \cos(u_f, d_l)$: does *some* latent point along $f$?
# * a one-to-one (Hungarian) matching of features to latents maximising the total cosine; a
#   feature without a latent (fewer latents than features) scores 0, so one latent cannot be
#   credited for several features;
#
# each beside the same numbers for as many random unit directions: what learning nothing scores.

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: the SAE training set (with its ground truth), the grid
output_dir = "out/paper-full"  # reads the grid trained by 02_train_grid from output_dir/grid
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)

# %%
from pathlib import Path

from IPython.display import Markdown

from voicesae_core.analysis import probe, recovery
from voicesae_core.files import write_csv
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters, load as load_study
from voicesae_core.sae import convergence
from voicesae_core.sae.trainer import load_grid

check_parameters(globals())  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
latent_dim, k = s.single.latent_dim, s.single.k
tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"
data = s.dataset("sae_train")
has_truth = "ground_truth" in data.manifest
if not has_truth:
    display(Markdown(f"`{data.path}` has no planted ground truth (only the synthetic benchmark does): "
                     "nothing to recover, so this chapter stops here."))

# %%
if has_truth:
    truth = data.ground_truth()
    models = load_grid(Path(output_dir) / "grid", s.configs(), data.embeddings, s.device)
    display(Markdown(convergence.warning(models)))  # said beside the numbers of any SAE that did not converge
    named = [n for n in truth.names if not n.startswith("trait_")]
    grid = recovery.recovery_grid(models, truth, named=named)
    write_csv(tables / "recovery_grid.csv", grid)
    show = ["latent_dim", "k", "mean_hungarian_cos", "baseline_hungarian_cos", "named_mean_hungarian_cos",
            "spanish_max_cos", "spanish_female_max_cos", "spanish_male_max_cos", "music_max_cos"]
    display(grid[show].round(3))

# %% tags=["remove-output"]
if has_truth:
    grids = {"mean Hungarian cosine, all 243 features": probe.as_grid(grid, "mean_hungarian_cos", percent=False),
             "random directions (baseline)": probe.as_grid(grid, "baseline_hungarian_cos", percent=False),
             "max cosine to 'spanish'": probe.as_grid(grid, "spanish_max_cos", percent=False),
             "max cosine to 'music'": probe.as_grid(grid, "music_max_cos", percent=False)}
    plots.publish(plots.value_heatmaps(grids), figures, "recovery_grid", "recovery_grid")
else:
    plots.glue_absent(["recovery_grid"], [], "the SAE training set has no planted ground truth")

# %% [markdown]
# ```{glue:figure} recovery_grid
# :name: fig-recovery
#
# Recovery over the latent_dim x K grid: the mean one-to-one cosine over all planted features,
# the same for random directions, and the best cosine of any latent to the planted Spanish and
# music directions.
# ```

# %%
if has_truth:
    single = {m.cfg.name: m for m in models}[s.single_name()]
    table = recovery.recovery(single, truth)
    write_csv(tables / f"recovery_L{latent_dim}_k{k}.csv", table)
    display(table.loc[named].round(3))

# %%
if has_truth:
    best = grid["mean_hungarian_cos"].idxmax()
    margin = grid["mean_hungarian_cos"] - grid["baseline_hungarian_cos"]
    below = ", ".join(margin[margin <= 0].index) or "none"
    display(Markdown(
        f"{int((margin > 0).sum())} of {len(grid)} SAEs beat random directions in mean one-to-one cosine "
        f"(margin {margin.min():+.3f} to {margin.max():+.3f}; at or below the baseline: {below}); the best "
        f"overall is {best} ({grid.loc[best, 'mean_hungarian_cos']:.3f} vs {grid.loc[best, 'baseline_hungarian_cos']:.3f} "
        f"for random directions). The Spanish direction's best cosine ranges from {grid['spanish_max_cos'].min():.2f} "
        f"to {grid['spanish_max_cos'].max():.2f} over the grid, music's from {grid['music_max_cos'].min():.2f} to "
        f"{grid['music_max_cos'].max():.2f}. In the single model (latent {latent_dim}, K {k}) the latent closest to "
        f"'spanish' is {int(table.loc['spanish', 'latent'])} (cosine {table.loc['spanish', 'max_cos']:.2f})."))

# %% [markdown]
# How to read it. A latent can predict a label well (chapter 3) without pointing exactly along
# the planted direction: music segments always carry one of 8 tunes and a codec, so an SAE may
# learn "music + tune $i$" latents whose decoder rows mix both directions, which lowers the
# cosine to `music` alone while the label is still recovered. Most planted features are the 224
# speaker traits, which a 100-600 latent SAE cannot all hold one-to-one; their share of the mean
# is why it stays well below 1 even where the named features are found. These numbers measure
# the synthetic benchmark's generative model, not the paper's TitaNet data, which have no
# ground truth.
