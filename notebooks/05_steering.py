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
# # 5. Feature steering (Sections III-D and V-C, Figs. 5-6, Tables III-IV)
#
# For the latent $\phi$ identified in one SAE (the paper: latent 200, K 20), switch it off for
# positive samples and on for negative ones, decode, and measure how much closer each
# reconstruction is to the positive centroid than to the negative one:
#
# $$\tilde v_\phi = -a_\phi \ \text{(positive samples, Eq. 1)}, \qquad \tilde v_\phi = +a_\phi \ \text{(negative samples, Eq. 2)}$$
# $$\delta_s(\mathbf{x}) = s(\mathbf{x}, \hat\epsilon^{(+)}) - s(\mathbf{x}, \hat\epsilon^{(-)}), \quad \mathbf{x} \in \{\epsilon, \tilde\epsilon\} \quad \text{(Eq. 3)}$$
#
# with $s$ the cosine similarity and $\hat\epsilon^{(\pm)}$ the centroids of the SAE-reconstructed
# *training* embeddings of each class. The paper uses $a_\phi = 1$; we also sweep it.

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: features, single model (see voicesae_core.report.study)
output_dir = "out/paper-full"  # reads the grid trained by 02_train_grid from output_dir/grid
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)
a_phi = 1.0  # the value phi is switched on to
a_phi_sweep = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]  # strengths of the sweep

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from voicesae_core.analysis import probe, steering
from voicesae_core.data import paper_reference
from voicesae_core.files import write_csv
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters, load as load_study
from voicesae_core.sae import convergence
from voicesae_core.sae.trainer import load_grid

check_parameters(globals(), "steering")  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
options = s.chapter("steering", a_phi=a_phi, a_phi_sweep=a_phi_sweep)
tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"
sae = load_grid(Path(output_dir) / "grid", s.configs([s.single.latent_dim], [s.single.k]),
                s.dataset("sae_train").embeddings, s.device)[0]
display(Markdown(convergence.warning([sae])))  # said beside the numbers of any SAE that did not converge
PAPER = {"table3": ("5", "III"), "table4": ("6", "IV")}  # the paper's figure and table of each steering table
numbers = {f: PAPER.get(s.features[f].paper.steering) for f in s.features}  # None: not one of the paper's
figure_name = {f: f"fig{n[0]}" if n else f"steering_delta_s_{f}" for f, n in numbers.items()}
table_name = {f: f"table{n[1].lower()}" if n else f"steering_means_{f}" for f, n in numbers.items()}

# %%
results = {}
for feature, t in s.tasks().items():
    found = probe.identify(sae, t.x_train, t.y_train, t.x_test, t.y_test, t.name)
    if found.fires_in_train == 0:
        print(f"warning: {t.name}: latent {found.phi} never fires on the training split; steering it is still "
              "defined (Eqs. 1-2 set it), but it is not a feature of this SAE")
    print(f"{t.name}: phi = {found.phi} (precision {100 * found.scores.precision:.1f} %, "
          f"recall {100 * found.scores.recall:.1f} %)")
    results[feature] = (t, found, steering.steering_experiment(sae, t.x_train, t.y_train, t.x_test, t.y_test,
                                                               found.phi, options.a_phi))

# %% [markdown]
# ## Figs. 5 and 6: $\delta_s$ before and after steering

# %% tags=["remove-output"]
glued = []
for feature, (t, found, r) in results.items():
    names, n = s.features[feature].names, numbers[feature]
    fig = plots.delta_s_histograms(r, names[0], names[1])
    fig.suptitle(f"{'Fig. ' + n[0] if n else 'Steering'} ({t.name}, latent {s.single.latent_dim}, K {s.single.k}, phi {found.phi}, "
                 f"a_phi {options.a_phi:g})",
                 fontsize=10, y=1.03)
    plots.publish(fig, figures, f"{figure_name[feature]}_steering_{feature}" if n else figure_name[feature],
                  figure_name[feature])
    glued.append(figure_name[feature])

# %% [markdown]
# ```{glue:figure} fig5
# :name: fig-5
#
# Fig. 5: $\delta_s$ of the Language Feature test samples before steering (the reconstruction
# $\epsilon$) and after ($\tilde\epsilon$, the Spanish latent switched off for Spanish samples and
# on for English ones). Positive: closer to the Spanish centroid.
# ```
#
# ```{glue:figure} fig6
# :name: fig-6
#
# Fig. 6: the same for the music latent on the Music Feature test set (positive: closer to the
# music centroid).
# ```

# %% [markdown]
# ## Tables III and IV: mean $\delta_s$, ours beside the paper's
# The paper's values come from its private data and its own SAE; what should carry over is the
# sign change (each class moves toward the other centroid), not the magnitudes.

# %% tags=["remove-output"]
compared = {}
for feature, (t, found, r) in results.items():
    names, ref = s.features[feature].names, s.features[feature].paper.steering
    ours = steering.means_table(r, names[0], names[1])
    if ref is None:  # no published table for this feature: ours alone
        write_csv(tables / f"{table_name[feature]}.csv", ours.round(3))
        continue
    paper = paper_reference.steering(ref)
    paper.index = ours.index  # same classes, in the same order (positive, negative)
    compared[feature] = both = pd.concat({"ours": ours, "paper": paper}, axis=1).round(3)
    write_csv(tables / f"{table_name[feature]}_steering_{feature}.csv", both)
    glue(table_name[feature], both)
    glued.append(table_name[feature])
plots.glue_absent(["fig5", "fig6", "tableiii", "tableiv"], glued,
                  "no feature of this study names this figure or table of the paper (paper: {steering: ...})")

# %% [markdown]
# ```{glue:figure} tableiii
# :name: table-3
#
# Table III: mean $\delta_s$ of Spanish and English test samples before and after steering the
# Spanish latent ($a_\phi = 1$): ours beside the paper's.
# ```
#
# ```{glue:figure} tableiv
# :name: table-4
#
# Table IV: the same for the music latent.
# ```

# %%
display(Markdown(" ".join(steering.compare_text(compared[f], f"Table {numbers[f][1]}") for f in compared)))

# %% [markdown]
# ## Dose-response: sweeping $a_\phi$
# The mean $\delta_s$ after steering, and the share of samples whose $\delta_s$ changed sign, as
# $a_\phi$ grows ($a_\phi = 0$ only zeroes the latent). The paper uses $a_\phi = 1$ only.

# %% tags=["remove-output"]
sweeps = {}
for feature, (t, found, r) in results.items():
    names = s.features[feature].names
    sweeps[feature] = table = steering.sweep(sae, t.x_train, t.y_train, t.x_test, t.y_test, found.phi,
                                             options.a_phi_sweep)
    write_csv(tables / f"steering_sweep_{feature}.csv", table, index=False)
    fig = plots.sweep_plot(table, names[0], names[1])
    fig.axes[0].set_title(f"{t.name}: latent {found.phi} of L{s.single.latent_dim} K{s.single.k}", fontsize=10)
    plots.publish(fig, figures, f"steering_sweep_{feature}", f"sweep_{feature}")
plots.glue_absent(["sweep_language", "sweep_music"], [f"sweep_{f}" for f in sweeps], "no feature of that name in this study")

# %% [markdown]
# ```{glue:figure} sweep_language
# :name: fig-sweep-language
#
# Steering the Spanish latent with growing $a_\phi$: mean $\delta_s$ of each class after steering
# (dotted: before).
# ```
#
# ```{glue:figure} sweep_music
# :name: fig-sweep-music
#
# The same for the music latent.
# ```

# %%
for feature, table in sweeps.items():
    print(s.features[feature].label)
    display(table.round(3))
