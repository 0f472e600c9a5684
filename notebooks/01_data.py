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
# # 1. The data (Section IV)
#
# The paper trains its SAEs on about 1.1 million 192-d TitaNet embeddings (about 29,000 speakers,
# mostly English) and probes them with two small labelled sets: the *Language Feature* set
# (Table I: English/Spanish x female/male) and the *Music Feature* set (Table II: IVR hold music
# vs voice). That data is private. By default this notebook uses the embedded synthetic
# benchmark (`voicesae_core.data.synthetic`): same sizes and group counts, embeddings built from
# planted feature directions (language, gender, music, channel, ...) so that we know what an SAE
# *should* find. To use your own data, point the `*_manifest` parameters at your manifests
# (see `data_manifests/README.md`).

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: datasets, features, grid (see voicesae_core.report.study)
output_dir = "out/paper-full"  # figures/, tables/ and grid/ go here
device = ""  # auto, cpu, cuda or cuda:N: this chapter computes nothing on a device ("": the study's device key)

# %%
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from voicesae_core.data import labels, paper_reference
from voicesae_core.files import write_csv
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters, load as load_study

check_parameters(globals())  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
paths = {role: s.manifest_path(role) for role in s.datasets}
data = {role: s.dataset(role) for role in s.datasets}
tables = Path(output_dir) / "tables"
figures = Path(output_dir) / "figures"
by_table = {f.paper.dataset: f for f in s.features.values() if f.paper.dataset}  # Tables I-II's features

# %% [markdown]
# ## What each dataset is
# Every file is checked against the sha256 in its manifest on loading.

# %%
summary = pd.DataFrame([{
    "dataset": d, "manifest": str(p), "rows": len(ds.metadata), "dim": ds.embeddings.shape[1],
    "speakers": ds.metadata["speaker"].replace("", np.nan).nunique() if "speaker" in ds.metadata else np.nan,
    "mean L2 norm": float(np.linalg.norm(ds.embeddings, axis=1).mean()),
    "description": ds.manifest.get("description", ""),
} for (d, ds), p in zip(data.items(), paths.values())]).set_index("dataset")
write_csv(tables / "datasets.csv", summary)
Markdown(f"This build's data: the datasets of the study **{s.name}** ({', '.join(f'`{r}`' for r in paths)}).")

# %%
summary

# %% [markdown]
# ## Table I: the Language Feature set, ours beside the paper's

# %%
f1 = by_table.get("table1")  # the feature whose set is the paper's Table I (the Spanish feature)
if f1 is not None:
    ours_t1 = labels.group_counts(data[f1.dataset], [f1.column, "gender"])
    paper_t1 = paper_reference.dataset("table1")
    table1 = pd.concat({"ours": ours_t1.reset_index(drop=False).assign(
        group=lambda t: t[f1.column] + " " + t["gender"]).set_index("group")[["train", "test"]],
        "paper": paper_t1.assign(group=paper_t1["language"] + " " + paper_t1["gender"].map({"f": "female", "m": "male"}))
        .set_index("group")[["train", "test"]]}, axis=1)
    write_csv(tables / "table1_language_dataset.csv", table1)

# %% tags=["remove-output"]
if f1 is not None:
    glue("table1", table1)

# %% [markdown]
# ```{glue:figure} table1
# :name: table-1
#
# Table I: the Language Feature set, rows per group and split; ours (this build's data) beside the
# paper's. The synthetic default copies the paper's counts (scaled by the profile).
# ```

# %% [markdown]
# ## Table II: the Music Feature set, ours beside the paper's

# %%
f2 = by_table.get("table2")  # the feature whose set is the paper's Table II (the music feature)
if f2 is not None:
    ours_t2 = labels.group_counts(data[f2.dataset], [f2.column])
    ours_t2.index = [f2.names[0] if str(v) == str(f2.positive) else f2.names[1] for v in ours_t2.index]
    ours_t2.index.name = "class"
    table2 = pd.concat({"ours": ours_t2, "paper": paper_reference.dataset("table2")}, axis=1)
    write_csv(tables / "table2_music_dataset.csv", table2)

# %% tags=["remove-output"]
if f2 is not None:
    glue("table2", table2)
plots.glue_absent(["table1", "table2"], [f"table{i}" for i, f in ((1, f1), (2, f2)) if f is not None],
                  "no feature of this study names this table of the paper (paper: {dataset: ...})")

# %% [markdown]
# ```{glue:figure} table2
# :name: table-2
#
# Table II: the Music Feature set, ours beside the paper's.
# ```

# %% [markdown]
# ## The SAE training set
# Composition by language, gender and music (the paper says only "mostly English").

# %%
described = [c for c in ("language", "gender", "is_music") if c in data["sae_train"].metadata.columns]
composition = (data["sae_train"].metadata.groupby(described).size() if described else
               pd.Series({"all rows": len(data["sae_train"].metadata)})).rename("rows").to_frame()
composition["percent"] = (100 * composition["rows"] / composition["rows"].sum()).round(2)
write_csv(tables / "sae_train_composition.csv", composition)
composition

# %% [markdown]
# ## Is "Spanish" visible in the raw embedding?
# The paper says language is *not* evident in the original embedding. The first two principal
# components of the Language Feature set, coloured by group, show how separated the groups are
# before any SAE. (On the synthetic default, the planted Spanish and gender directions are strong
# enough that the groups do separate along the top components: a difference from the paper's
# data, if the paper's statement holds for it.)

# %% tags=["remove-output"]
shown = f1 or s.feature()  # the Spanish feature's set (else the study's first feature's)
lang = data[shown.dataset]
groups = lang.metadata[shown.column].astype(str)
if "gender" in lang.metadata.columns:
    groups = groups + " " + lang.metadata["gender"].astype(str)
title = "Language Feature set" if f1 else f"The {shown.label} set"
fig = plots.pca_scatter(lang.embeddings, groups.to_numpy(), f"{title}: first two principal components")
plots.publish(fig, figures, "data_pca_language", "fig_data_pca")

# %% [markdown]
# ```{glue:figure} fig_data_pca
# :name: fig-data-pca
#
# The Language Feature set on its first two principal components (no SAE involved).
# ```
