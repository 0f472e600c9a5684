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
# # 10. Sparse probing: how few latents does a label need?
#
# Chapter 3 asks one latent to carry a label. Between one latent and the whole embedding lies a
# curve: for k = 1, 2, 4, 8, 16, rank the latents on the training split by the gap between their
# mean activation on the two classes, give the top k to a logistic probe (standardised, C = 1,
# as the dense probe of chapter 6), and score F1 on the test split. Two references: the same
# probe on the first k principal components of the raw embedding (the best k-dimensional
# summary that does not know the label) and on the whole raw embedding.

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: datasets, features, grid, single model (see voicesae_core.report.study)
output_dir = "out/paper-full"  # reads the grid trained by 02_train_grid from output_dir/grid
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)
probe_ks = [1, 2, 4, 8, 16]  # how many latents (or components) the probe gets

# %%
from pathlib import Path

from IPython.display import Markdown

from voicesae_core.analysis import sparse_probing
from voicesae_core.files import write_csv
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters, load as load_study
from voicesae_core.sae import convergence
from voicesae_core.sae.trainer import load_grid

check_parameters(globals(), "sparse_probing")  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
options = s.chapter("sparse_probing", probe_ks=probe_ks)
tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"
models = load_grid(Path(output_dir) / "grid", s.configs(), s.dataset("sae_train").embeddings, s.device)
display(Markdown(convergence.warning(models)))  # said beside the numbers of any SAE that did not converge
single = s.single_name()
curves, refs = {}, {}
for feature, t in s.tasks().items():
    curves[t.name] = sparse_probing.curves(models, t.x_train, t.y_train, t.x_test, t.y_test, options.probe_ks, t.name)
    refs[t.name] = sparse_probing.baselines(t.x_train, t.y_train, t.x_test, t.y_test, options.probe_ks, t.name)
    write_csv(tables / f"sparse_probing_{feature}.csv", curves[t.name], index=False)
    write_csv(tables / f"sparse_probing_{feature}_baselines.csv", refs[t.name], index=False)

# %%
summary = sparse_probing.summary(curves, refs, single, options.probe_ks)
write_csv(tables / "sparse_probing_summary.csv", summary, index=False)
summary.round(1)

# %% tags=["remove-output"]
plots.publish(plots.sparse_probing(curves, refs, single), figures, "sparse_probing", "sparse_probing")

# %% [markdown]
# ```{glue:figure} sparse_probing
# :name: fig-sparse-probing
#
# Test F1 of a logistic probe given k features: the top-k latents of the single model (line) and
# the range over every SAE of the grid (band), the first k principal components of the raw
# embedding (dashed), and the whole raw embedding (dotted).
# ```

# %%
display(Markdown(sparse_probing.summary_text(summary, single)))

# %% [markdown]
# How to read it. A label that one latent carries (F1 at k = 1 near the dense probe's) is the
# paper's claim in its strongest form; a curve that needs many latents means the label is spread
# over several, as after feature splitting (chapter 4: the Spanish latent splitting by gender).
# PCA is the fair non-SAE baseline at equal size: where it matches the SAE, the label is a
# large-variance direction that any linear summary finds. The ranking uses the training split
# only, so the test F1 is not inflated by the choice of latents; the probe is refit for each k.
# With few training rows (the quick study's language label has a few dozen) a probe given more
# features can score *lower*: it has more to overfit, so read a falling curve there as a small-
# sample effect, not as information lost.
