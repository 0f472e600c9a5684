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
# model, latent 200 and K 20, among them) we train `stability_seeds` SAEs on the same data in the
# same batch order, then:
#
# * match the latents of every pair of seeds one-to-one by decoder cosine (Hungarian), and count
#   the share of latents whose partner has cosine at least 0.7 or 0.9, beside the same for two
#   sets of random directions (what chance gives in 192 dimensions);
# * identify the Spanish and the music latent $\phi$ in every seed (chapter 3's probe) and ask
#   whether it is the same direction as in the first seed, and how its precision and recall vary,
#   each with a 95 % bootstrap interval over the test rows.

# %% tags=["parameters"]
profile = "full"
output_dir = "out/full"  # the seeds are trained into output_dir/stability
sae_train_manifest = ""  # empty: the embedded default for profile
language_manifest = ""
music_manifest = ""
features = ["language", "music"]
stability_configs = [[200, 20], [100, 5], [400, 20]]  # [latent_dim, K] pairs, each trained with every seed
stability_seeds = [0, 1, 2, 3, 4]
stability_thresholds = [0.7, 0.9]  # decoder cosine from which a matched latent counts as shared
activation = "topk"
epochs = 0  # 0: the default of the profile (as chapter 2)
batch_size = 0
bootstrap = 1000  # resamples of the test rows for the 95 % intervals
language_column = "language"
language_positive = "es"
language_negative = "en"
language_names = ["Spanish", "English"]
music_column = "is_music"
music_positive = 1
music_negative = 0
music_names = ["music", "voice"]

# %%
import time
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from voicesae_core import TrainConfig, expand_grid, labels, manifest, pipeline, plots, stability, train_grid
from voicesae_core.files import write_csv

tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"
data = manifest.load(pipeline.manifest_path("sae_train", profile, sae_train_manifest))
epochs, batch_size = pipeline.training_budget(profile, epochs, batch_size)
configs = [c for latent, kk in stability_configs for c in expand_grid([latent], [kk], [activation], stability_seeds)]
t0 = time.perf_counter()
result = train_grid(data.embeddings, configs, TrainConfig(epochs=epochs, batch_size=batch_size),
                    out_dir=Path(output_dir) / "stability", quiet=True)
print(f"{len(configs)} SAEs ({len(stability_configs)} configurations x {len(stability_seeds)} seeds), {epochs} epoch(s), "
      f"batch {batch_size}: {time.perf_counter() - t0:.0f} s (a rerun loads the finished models)")
models = result.models

# %% [markdown]
# ## How many latents come back

# %%
pairs = stability.pair_table(models, stability_thresholds)
summary = stability.summary(pairs)
write_csv(tables / "stability_pairs.csv", pairs, index=False)
write_csv(tables / "stability_summary.csv", summary, index=False)
summary.round(2)

# %% tags=["remove-output"]
first_two = {}
for latent, kk in stability_configs:
    group = [m for m in models if (m.cfg.latent_dim, m.cfg.k) == (latent, kk)]
    first_two[f"L{latent} K{kk}, seeds {group[0].cfg.seed} vs {group[1].cfg.seed}"] = stability.seed_match(group[0], group[1])[1]
for latent in sorted({c[0] for c in stability_configs}):
    first_two[f"random directions, {latent}"] = stability.random_pair(latent, data.embeddings.shape[1])
plots.publish(plots.matched_cosines(first_two, stability_thresholds), figures, "stability_cosines", "stability_cosines")

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
spec = {"language": (language_manifest, language_column, language_positive, language_negative, language_names),
        "music": (music_manifest, music_column, music_positive, music_negative, music_names)}
followed = []
for feature in features:
    path, column, positive, negative, names = spec[feature]
    t = labels.task(manifest.load(pipeline.manifest_path(feature, profile, path)), column, positive, negative,
                    name=f"{names[0]} vs {names[1]}")
    for latent, kk in stability_configs:
        group = [m for m in models if (m.cfg.latent_dim, m.cfg.k) == (latent, kk)]
        f = stability.follow_feature(group, t.x_train, t.y_train, t.x_test, t.y_test, t.name,
                                     min(stability_thresholds), bootstrap)
        followed.append(f.assign(feature=t.name, latent_dim=latent, k=kk))
followed = pd.concat(followed, ignore_index=True)
write_csv(tables / "stability_features.csv", followed, index=False)
followed[["feature", "latent_dim", "k", "seed", "phi", "cos_to_reference_phi", "paired_by_matching", "precision",
          "precision_low", "precision_high", "recall", "recall_low", "recall_high"]].round(3)

# %% tags=["remove-output"]
latent0, k0 = stability_configs[0]
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
lines = []
for (latent, kk), g in summary.groupby(["latent_dim", "k"]):
    r = g.iloc[0]
    t_lo, t_hi = min(stability_thresholds), max(stability_thresholds)
    lines.append(f"L{latent} K{kk}: {r[f'shared_{t_lo:g}_pct_mean']:.0f} % of latents shared at cosine {t_lo:g} "
                 f"(seed pairs {r[f'shared_{t_lo:g}_pct_min']:.0f}-{r[f'shared_{t_lo:g}_pct_max']:.0f} %; random "
                 f"directions {r[f'random_shared_{t_lo:g}_pct']:.0f} %), {r[f'shared_{t_hi:g}_pct_mean']:.0f} % at {t_hi:g}")
for (feature, latent, kk), g in followed.groupby(["feature", "latent_dim", "k"], sort=False):
    back = int(g["reappears"].sum())
    lines.append(f"{feature}, L{latent} K{kk}: phi is the same direction (cosine >= {min(stability_thresholds):g}) in "
                 f"{back} of {len(g)} seeds; precision {100 * g.precision.min():.1f}-{100 * g.precision.max():.1f} %, "
                 f"recall {100 * g.recall.min():.1f}-{100 * g.recall.max():.1f} % over seeds")
display(Markdown("Measured in this build:\n\n" + "\n".join(f"* {s}" for s in lines)))

# %% [markdown]
# How to read it. Only the initialisation differs between seeds (the data and the batch order
# are the same), so this is the *least* variation a re-run would show; a different sample of
# training data would add more. A latent index means nothing across seeds: compare directions,
# as here. Where $\phi$ is the same direction in every seed but its precision or recall moves by
# more than its bootstrap interval, the label's latent is stable but where its boundary falls is
# not. On the synthetic default the planted features are exact directions, which favours
# stability; on real TitaNet embeddings expect fewer shared latents.
