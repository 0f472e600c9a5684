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
# # 8. Seed stability: would another initialisation find the same latents?
#
# The paper reports one SAE per grid cell, trained once. An SAE's latents depend on its random
# initialisation, so before reading meaning into "latent 15 is Spanish" we ask how much of the
# dictionary comes back when only the seed changes. For a few configurations (the paper's single
# model, latent 200 and K 20, among them) we train one SAE per seed of `seeds` on the same data in the
# same batch order (a seed that chapter 2's grid already trained with the same settings is loaded
# from it: a model trained in a grid is identical to the same model trained alone), then:
#
# * match the latents of every pair of seeds one-to-one by decoder cosine (Hungarian), and count
#   the share of latents whose partner has cosine at least 0.7 or 0.9, beside the same for two
#   sets of random directions (what chance gives in 192 dimensions);
# * identify the Spanish and the music latent $\phi$ in every seed (chapter 3's probe) and ask
#   whether it is the same direction as in the first seed, and how its precision and recall vary,
#   each with a 95 % bootstrap interval over the test rows.

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: datasets, features, training budget (see voicesae_core.report.study)
output_dir = "out/paper-full"  # the seeds are trained into output_dir/stability
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)
configs = []  # [latent_dim, K] pairs, each trained with every seed; empty for the single model and two others of the grid
seeds = [0, 1, 2, 3, 4]  # initialisation seeds (data and batch order are shared)
thresholds = [0.7, 0.9]  # decoder cosine from which a matched latent counts as shared
bootstrap = 1000  # resamples of the test rows for the 95 % intervals

# %%
import time
from pathlib import Path

from IPython.display import Markdown

from voicesae_core import TrainConfig, expand_grid, train_grid
from voicesae_core.analysis import stability
from voicesae_core.files import write_csv
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters, load as load_study
from voicesae_core.sae import convergence

check_parameters(globals(), "stability")  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
options = s.chapter("stability", configs=configs, seeds=seeds, thresholds=thresholds, bootstrap=bootstrap)
configs = s.stability_configs(options.configs)
tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"
data = s.dataset("sae_train")
epochs, batch_size = s.training.plan(len(data.embeddings))  # the same budget as chapter 2
trained = [c for latent, kk in configs for c in expand_grid([latent], [kk], [s.grid.activation], options.seeds)]
t0 = time.perf_counter()
result = train_grid(data.embeddings, trained,
                    TrainConfig(epochs=epochs, batch_size=batch_size, device=s.device),
                    out_dir=Path(output_dir) / "stability", quiet=False, replace_stale=True,
                    reuse_from=[Path(output_dir) / "grid"])
print(f"{len(trained)} SAEs ({len(configs)} configurations x {len(options.seeds)} seeds), {epochs} "
      f"epoch(s), batch {batch_size}: {time.perf_counter() - t0:.0f} s (a rerun loads the finished models)")
models = result.models
if s.models:  # the grid was imported: say that these are not those models
    display(Markdown(f"This study's grid was imported (its `models`), so the {len(trained)} SAEs here are trained by "
                     "voicesae on the study's SAE training set with its `training` budget; none of them is an "
                     "imported model, and what they show is how stable *our* training is on these data."))
display(Markdown(convergence.warning(models)))

# %% [markdown]
# ## How many latents come back

# %%
pairs = stability.pair_table(models, options.thresholds)
summary = stability.summary(pairs)
write_csv(tables / "stability_pairs.csv", pairs, index=False)
write_csv(tables / "stability_summary.csv", summary, index=False)
summary.round(2)

# %% tags=["remove-output"]
first_two = {}
for latent, kk in configs:
    group = [m for m in models if (m.cfg.latent_dim, m.cfg.k) == (latent, kk)]
    first_two[f"L{latent} K{kk}, seeds {group[0].cfg.seed} vs {group[1].cfg.seed}"] = stability.seed_match(group[0], group[1])[1]
for latent in sorted({c[0] for c in configs}):
    first_two[f"random directions, {latent}"] = stability.random_pair(latent, data.embeddings.shape[1])
plots.publish(plots.matched_cosines(first_two, options.thresholds), figures, "stability_cosines", "stability_cosines")

# %% [markdown]
# ```{glue:figure} stability_cosines
# :name: fig-stability-cosines
#
# For one pair of seeds per configuration: the share of latents whose one-to-one partner in the
# other seed has a decoder cosine of at least x (dashed: two sets of random directions). Dotted
# lines: the thresholds of the table above.
# ```

# %% [markdown]
# ## Do the Spanish and music latents come back?

# %%
followed = stability.follow_features(models, s.tasks(), configs, min(options.thresholds), options.bootstrap)
write_csv(tables / "stability_features.csv", followed, index=False)
followed[["feature", "latent_dim", "k", "seed", "phi", "cos_to_reference_phi", "paired_by_matching", "precision",
          "precision_low", "precision_high", "recall", "recall_low", "recall_high"]].round(3)

# %% tags=["remove-output"]
latent0, k0 = configs[0]
one = {name: g for name, g in followed[(followed.latent_dim == latent0) & (followed.k == k0)].groupby("feature", sort=False)}
plots.publish(plots.intervals_by_seed(one), figures, "stability_features", "stability_features")

# %% [markdown]
# ```{glue:figure} stability_features
# :name: fig-stability-features
#
# The first configuration: in each seed, the label's latent $\phi$ (its index below the seed) as
# a predictor on its own, with 95 % bootstrap intervals over the test rows.
# ```

# %%
display(Markdown(stability.summary_text(summary, followed, options.thresholds)))

# %% [markdown]
# How to read it. Only the initialisation differs between seeds (the data and the batch order
# are the same), so this is the *least* variation a re-run would show; a different sample of
# training data would add more. A latent index means nothing across seeds: compare directions,
# as here. Where $\phi$ is the same direction in every seed but its precision or recall moves by
# more than its bootstrap interval, the label's latent is stable but where its boundary falls is
# not. On the synthetic default the planted features are exact directions, which favours
# stability; on real TitaNet embeddings expect fewer shared latents.
