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
# One latent of an SAE, as the latent catalogue (chapter 11) lists it: its row of the catalogue,
# how its activations split by the label it ranks best, the rows on which it fires most, the
# planted features closest to its decoder row (synthetic data) and, for audio data, the
# segments on which it fires most, to listen to. Made by papermill from the template
# `notebooks/latent_page.py`, once per latent.

# %% tags=["parameters"]
output_dir = "out/paper-full"  # the run output folder (chapter 11 passes it)
model_dir = "out/paper-full/grid/models/L200_k20_topk_s0"  # the SAE (a folder written by SparseAutoencoder.save)
latent = 0
data_manifest = ""  # the embeddings and metadata to look at (must be set)
sample_rows = 20000  # a seeded sample of that many rows (0: all)
sample_seed = 0
catalogue_csv = ""  # the chapter's catalogue table (its row for this latent is shown); empty: none
top_samples = 10
audio_clips = 4  # with audio metadata (audio_filepath, offset, duration): play the top this many

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Audio, Markdown, display

from voicesae_core.analysis import catalogue
from voicesae_core.audio import clip
from voicesae_core.data import manifest
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters
from voicesae_core.sae.model import SparseAutoencoder

check_parameters(globals(), known={"output_dir": str, "model_dir": str, "latent": int, "data_manifest": str,
                                   "sample_rows": int, "sample_seed": int, "catalogue_csv": str,
                                   "top_samples": int, "audio_clips": int})
sae = SparseAutoencoder.load(model_dir)
data = manifest.load(data_manifest)
rows = catalogue.sample_rows(len(data.embeddings), sample_rows, sample_seed)
x, meta = data.embeddings[rows], data.metadata.iloc[rows].reset_index(drop=True)
display(Markdown(f"Latent {latent} of {sae.cfg.name} (`{model_dir}`), on {len(rows):,} rows of `{data.path}` "
                 f"({data.manifest.get('name', '')})."))
if catalogue_csv:
    entry = pd.read_csv(catalogue_csv, index_col="latent").loc[[latent]]
    display(entry.T.rename(columns={latent: "value"}))

# %% tags=["remove-input"]
v = catalogue.activations(sae, x, latent)
best = pd.read_csv(catalogue_csv, index_col="latent").loc[latent, "best_label"] if catalogue_csv else ""
fig = plots.activation_histogram(v, meta, best, f"latent {latent}: activations where it fires")
display(fig)
plt.close(fig)  # else the inline backend shows it twice

# %% [markdown]
# ## Where it fires most

# %% tags=["remove-input"]
top = catalogue.top_rows(sae, x, latent, top_samples)
shown = meta.iloc[top].assign(activation=v[top])
display(shown[["activation"] + [c for c in meta.columns if c not in ("audio_filepath",)]])

# %% tags=["remove-input"]
if "ground_truth" in data.manifest:
    truth = data.ground_truth()
    near = catalogue.nearest_features(sae, truth, latent)
    display(Markdown("Closest planted features by decoder cosine:"))
    display(near.round(3))

# %% tags=["remove-input"]
if {"audio_filepath", "offset", "duration"} <= set(meta.columns) and len(top):
    display(Markdown(f"The {min(audio_clips, len(top))} segments on which it fires most:"))
    for i in top[:audio_clips]:
        r = meta.iloc[i]
        sound = clip.read_segment(data.path, r)
        display(Markdown(f"`{r['id'] if 'id' in meta else i}`, activation {v[i]:.3f}"))
        display(Audio(sound.signal, rate=sound.sample_rate))
