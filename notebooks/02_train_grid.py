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
# # 2. Training the SAE grid (Sections III-B and IV)
#
# The paper trains TopK SAEs for every latent dimension 100, 200, ..., 600 and every K = 5,
# 10, ..., 35 on the SAE training set (above 600 its models were under-trained). We train the
# whole grid in one pass of the data per epoch (`voicesae_core.train_grid`): every batch serves
# every model, and each model ends identical to the same config trained alone. The models, a
# checkpoint and `results.csv` go to `output_dir/grid`; a rerun with the same data, grid and
# budget loads the finished models instead of training again (with any of them changed, the old
# grid there is replaced, and the chapter says so).
#
# Reconstruction quality is reported as the fraction of variance unexplained (FVU, 0 is
# perfect), on the SAE training set (the paper has no held-out split for it). A study that lists
# SAEs of its own under `models` (ours, SAELens, sparsify or dictionary_learning folders) has
# them imported here instead of training: they are evaluated on the same set, and every later
# chapter analyses them.

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: the SAE training set, the grid and the training budget
output_dir = "out/paper-full"  # the SAEs go to output_dir/grid
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)

# %%
from pathlib import Path

import pandas as pd

from IPython.display import Markdown

from voicesae_core import TrainConfig, expand_grid, train_grid
from voicesae_core.analysis import probe
from voicesae_core.files import write_csv
from voicesae_core.formats.grid import import_grid
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters, load as load_study
from voicesae_core.sae import convergence

check_parameters(globals())  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
data = s.dataset("sae_train")
g = s.grid
epochs, batch_size = s.training.plan(len(data.embeddings))  # at least training.steps optimizer steps
configs = expand_grid(g.latent_dims, g.ks, [g.activation], g.seeds)
if s.models:
    print(f"{len(s.models)} SAEs imported from the study's models (not trained here), evaluated on "
          f"{len(data.embeddings):,} embeddings of dimension {data.embeddings.shape[1]}")
else:
    print(f"{len(configs)} SAEs on {len(data.embeddings):,} embeddings of dimension {data.embeddings.shape[1]}, "
          f"{epochs} epoch(s) at batch {batch_size} (at least {s.training.steps} optimizer steps)")

# %%
if s.models:
    result = import_grid([s.resolve(m) for m in s.models], data.embeddings, Path(output_dir) / "grid", s.device)
else:
    result = train_grid(data.embeddings, configs,
                        TrainConfig(epochs=epochs, batch_size=batch_size, device=s.device),
                        out_dir=Path(output_dir) / "grid", quiet=False, replace_stale=True)
table = pd.DataFrame(result.table)
write_csv(Path(output_dir) / "tables" / "grid_training.csv", table, index=False)
display(Markdown(convergence.warning(result.models) or f"All {len(result.models)} SAEs converged (chapter 2's curves below)."))
table[["name", "fvu", "nmse", "l0", "dead_frac", "cosine", "train_steps", "converged", "convergence"]]

# %% [markdown]
# ## Reconstruction and dead latents across the grid
# One seed (the first) per cell. A dead latent did not fire on any of the last tenth of the
# training samples; the paper dropped ReLU SAEs for having many.

# %% tags=["remove-output"]
first = table[table["seed"] == g.seeds[0]]
fvu = probe.as_grid(first, "fvu", percent=False)
dead = probe.as_grid(first, "dead_frac", percent=True)
fig = plots.value_heatmaps({"FVU (lower is better)": fvu, "dead latents (%)": dead}, fmts=[".3f", ".1f"])
plots.publish(fig, Path(output_dir) / "figures", "grid_training", "fig_grid_training")

# %% [markdown]
# ```{glue:figure} fig_grid_training
# :name: fig-grid-training
#
# Reconstruction error (FVU) and dead latents over the latent dimension x K grid, on the SAE
# training set. The paper reports neither per cell.
# ```

# %% [markdown]
# ## Did they finish training?
# Each SAE's training FVU over windows of optimizer steps (about 50 windows per run). A model is
# called *not converged* when its FVU still fell by more than 5 % (and more than 0.005) over the
# last fifth of training, when it had fewer than 100 optimizer steps, or when more than 20 % of its
# latents fired on no sample of the last epoch (`voicesae_core.sae.convergence`); it is drawn
# dashed here, and every chapter that uses it says so.

# %% tags=["remove-output"]
plots.publish(plots.training_curves([m for m, row in zip(result.models, result.table) if row["seed"] == g.seeds[0]]),
              Path(output_dir) / "figures", "grid_curves", "fig_grid_curves")

# %% [markdown]
# ```{glue:figure} fig_grid_curves
# :name: fig-grid-curves
#
# Training curves of the grid's SAEs, one panel per K, a line per latent size (dashed: not converged).
# ```

# %%
no_curve = [m.cfg.name for m in result.models if not m.info.get("curve")]
Markdown(f"No training curve for {len(no_curve)} imported SAE(s) ({', '.join(no_curve)}): they were trained "
         "elsewhere, so their panels are empty and their convergence is not judged." if no_curve else "")
