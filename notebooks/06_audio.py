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
# # 6. From audio: segments, NeMo embeddings, and the same analyses
#
# The paper embeds 4-8 s non-silent segments of calls with a fine-tuned TitaNet through NVIDIA
# NeMo. This chapter runs that path end to end on audio made on this machine, offline:
#
# 1. an **offline demo corpus** (`voicesae_core.demo_corpus`): English and Spanish sentences
#    spoken by `espeak-ng` voices (male and female variants, pitch and speed varied per synthetic
#    speaker), a third of them through a telephony channel made with `sox` (300-3400 Hz, 8 kHz
#    mu-law, line noise), plus synthetic hold music;
# 2. **segmenting** like the paper (`segments`): 4-8 s non-silent stretches, by SoX's silence rule;
# 3. **embedding** (`extract`) with NeMo's `EncDecSpeakerLabelModel`; batches are zero-padded
#    with their true lengths, so an embedding does not depend on its batch; nothing is dropped
#    silently; the normalisation is recorded in the data manifest;
# 4. a small **SAE grid**, then the paper's **identification** and **steering** on each model's
#    embeddings.
#
# Set `recordings_manifest` to run it on your own audio (a NeMo manifest of recordings with
# `language`, `is_music` and `split` fields), and `audio_models` to your `.nemo` file. Its
# parameters start with `audio_` so that the paper's grid parameters (`latent_dims`, `ks`,
# `epochs`) do not reach this small corpus.

# %% tags=["parameters"]
profile = "full"
output_dir = "out/full"  # the corpus, segments, embeddings and SAEs go to output_dir/audio
recordings_manifest = ""  # empty: generate the demo corpus
segment_method = "energy"
audio_models = ["random:titanet-small", "resemblyzer"]
audio_normalization = "nemo"
audio_latent_dims = [32, 64]
audio_ks = [4, 8]
audio_latent_dim = 64
audio_k = 8
audio_epochs = 200
seed = 0

# %%
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Markdown

from voicesae_core import (SAEConfig, TrainConfig, audio, demo_corpus, expand_grid, extract, labels, manifest,
                           plots, probe, segments, steering, train_grid)
from voicesae_core.files import write_csv

work = Path(output_dir) / "audio"
tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"

# %% [markdown]
# ## 1. The demo corpus and its segments

# %%
if recordings_manifest:
    recordings = Path(recordings_manifest)
else:
    recordings = demo_corpus.generate(work / "corpus", profile, seed=seed, quiet=True)
seg = segments.segment(recordings, work / "segments.json", method=segment_method, quiet=True)
print(f"{seg.segments} segments, {seg.seconds / 60:.1f} min of audio; {len(seg.skipped)} recordings gave none")
seg_rows = pd.read_json(seg.manifest, lines=True)
counts = seg_rows.groupby(["language", "gender", "channel", "split"]).size().unstack("split", fill_value=0)
write_csv(tables / "audio_segments.csv", counts)
counts

# %% tags=["remove-output"]
first = pd.read_json(recordings, lines=True).iloc[0]
path = Path(first["audio_filepath"])
path = path if path.is_absolute() else Path(recordings).parent / path
clip = audio.read(path)
regions = segments.nonsilent_energy(clip.signal, clip.sample_rate)
fig = plots.segmentation(clip.signal, clip.sample_rate, regions, segments.pack(regions),
                         f"{first['id']}: non-silent stretches (shaded) and their 4-8 s segments")
plots.publish(fig, figures, "audio_segmentation", "audio_segmentation")

# %% [markdown]
# ```{glue:figure} audio_segmentation
# :name: fig-audio-segmentation
#
# One recording of the demo corpus: SoX's silence rule (a 10 ms frame is sound when its peak
# reaches 1 % of full scale; silences under 0.5 s are bridged) finds the non-silent stretches,
# and each stretch of at least 4 s is cut into equal segments of 4-8 s.
# ```

# %% [markdown]
# ## 2. Embeddings
# Each model embeds every segment; `skipped.csv` lists any row that could not be embedded and
# why. `random:titanet-small` is TitaNet-S built from NeMo's configuration with random weights
# (no pretrained TitaNet can be downloaded here); `resemblyzer` is a GE2E speaker encoder whose
# trained weights ship inside its Python package.

# %%
datasets, runs = {}, []
for model in audio_models:
    out = work / "embeddings" / model.replace(":", "-")
    result = extract.extract(seg.manifest, out, model, normalization=audio_normalization, seed=seed,
                             columns=None if recordings_manifest else demo_corpus.COLUMNS, quiet=True)
    datasets[model] = manifest.load(result.manifest)
    _, raw = extract.raw_embeddings(out)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    runs.append({"model": model, "dim": raw.shape[1], "embedded": result.embedded, "skipped": len(result.skipped),
                 "clips/s (this run)": round(result.clips_per_s, 1),
                 "raw mean pairwise cosine": round(float((unit.sum(0) @ unit.sum(0) - len(unit)) / (len(unit) * (len(unit) - 1))), 5),
                 "normalization": audio_normalization})
runs = pd.DataFrame(runs).set_index("model")
write_csv(tables / "audio_embeddings.csv", runs)
print("recorded in each data manifest:", datasets[audio_models[0]].manifest["normalization"])
runs

# %% [markdown]
# The normalisation is NeMo's `embedding_normalize` (minus the set's mean, then l2 per row), as
# NeMo's own speaker-embedding script applies it, and it is recorded in each data manifest as
# set-dependent. Why not plain l2: a randomly initialised TitaNet maps every clip to nearly the
# same direction (the "raw mean pairwise cosine" above), so what differs between clips lives in
# a tiny residual that centring exposes. The paper does not say which normalisation it used.
# A rerun with another normalisation reuses the raw embeddings saved in `parts/`.

# %% [markdown]
# ## 3. SAEs, identification and steering
# For each model: a grid of TopK SAEs on the training segments' embeddings, then, in the SAE
# with latent `audio_latent_dim` and K `audio_k`, the latent $\phi$ that the logistic probe ranks first for
# Spanish (vs English) and for music (vs voice), scored alone on the test segments, beside a
# dense probe on the raw embedding (is the label linearly there at all?), and the mean
# $\delta_s$ before and after steering $\phi$ (Eqs. 1-3, $a_\phi = 1$).

# %%
task_spec = {"Spanish vs English": ("language", "es", "en"), "music vs voice": ("is_music", 1, 0)}
rows, steer_tables = [], {}
for model, ds in datasets.items():
    train = ds.split("train")
    grid = train_grid(train.embeddings, expand_grid(audio_latent_dims, audio_ks, ["topk"], [seed]),
                      TrainConfig(epochs=audio_epochs, batch_size=64, data_seed=seed), quiet=True,
                      out_dir=work / "grid" / model.replace(":", "-"))  # chapter 11 catalogues it
    sae = next(m for m in grid.models if m.cfg.latent_dim == audio_latent_dim and m.cfg.k == audio_k)
    for name, (column, positive, negative) in task_spec.items():
        t = labels.task(ds, column, positive, negative, name=name)
        found = probe.identify(sae, t.x_train, t.y_train, t.x_test, t.y_test, name)
        dense = probe.dense_probe(t.x_train, t.y_train, t.x_test, t.y_test, name)
        r = steering.steering_experiment(sae, t.x_train, t.y_train, t.x_test, t.y_test, found.phi, 1.0)
        means = steering.means_table(r, *name.split(" vs "))
        steer_tables[(model, name)] = means
        rows.append({"model": model, "label": name, "test rows": len(t.y_test), "phi": found.phi,
                     "phi precision %": round(100 * found.scores.precision, 1),
                     "phi recall %": round(100 * found.scores.recall, 1),
                     "dense probe F1 %": round(100 * dense.f1, 1), "note": probe.note(found),
                     "delta_s before (+)": round(float(means.iloc[0, 0]), 3),
                     "delta_s after (+)": round(float(means.iloc[0, 1]), 3),
                     "delta_s before (-)": round(float(means.iloc[1, 0]), 3),
                     "delta_s after (-)": round(float(means.iloc[1, 1]), 3)})
summary = pd.DataFrame(rows).set_index(["model", "label"])
write_csv(tables / "audio_identification_steering.csv", summary)
summary

# %%
def sentence(model, label, r):
    flips = np.sign(r["delta_s before (+)"]) != np.sign(r["delta_s after (+)"])
    return (f"With {model}, {label}: phi = {r['phi']} alone gives precision {r['phi precision %']} % and recall "
            f"{r['phi recall %']} % on {r['test rows']} test segments (dense probe F1 {r['dense probe F1 %']} %); "
            f"steering it {'flips' if flips else 'does not flip'} the sign of the positives' mean delta_s "
            f"({r['delta_s before (+)']} -> {r['delta_s after (+)']}).")

display(Markdown(" ".join(sentence(m, lab, r) for (m, lab), r in summary.iterrows())))

# %% [markdown]
# ## What synthetic speech can and cannot show
# This chapter shows that the path from audio to SAE latents works: real audio files, decoded,
# resampled and segmented like the paper's, embedded by NeMo's TitaNet code and by a pretrained
# speaker encoder, then analysed with the same functions as the paper's figures. It cannot show
# what the paper found about real callers. espeak-ng's voices are formant synthesis: a "female"
# voice is a variant setting and a pitch range, each language has two or three voices, and a
# speaker differs from another mostly by those settings. A latent that separates them may track
# the synthesiser's voice table rather than anything a human listener calls language or gender,
# and the corpus is tiny (tens of test segments, so one segment moves a percentage by several
# points). The random-weight TitaNet carries no trained meaning at all: whatever its embeddings
# separate comes from the audio's spectral statistics passed through random filters, not from a
# learned speaker representation. With your own recordings and your fine-tuned `.nemo` file, the
# same notebook runs the paper's pipeline on real data.
