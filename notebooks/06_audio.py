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
# 1. an **offline demo corpus** (`voicesae_core.audio.demo_corpus`): English and Spanish sentences
#    spoken by `espeak-ng` voices (male and female variants, pitch and speed varied per synthetic
#    speaker), a third of them through a telephony channel made with `sox` (300-3400 Hz, 8 kHz
#    mu-law, line noise), plus synthetic hold music;
# 2. **segmenting** like the paper (`segments`): 4-8 s non-silent stretches, by SoX's silence rule;
# 3. **embedding** (`extract`) with NeMo's `EncDecSpeakerLabelModel`; batches are zero-padded
#    with their true lengths, so an embedding does not depend on its batch; nothing is dropped
#    silently; the normalisation is recorded in the data manifest;
# 4. a small **SAE grid**, then the paper's **identification** and **steering** on each model's
#    embeddings, for every feature of the study whose column the recordings have.
#
# Its options are the study's `chapters.audio` (`voicesae_core.report.study.Audio`): set
# `recordings_manifest` to run it on your own audio (a NeMo manifest of recordings with a `split`
# field and the columns of the study's features, e.g. `language` and `is_music`; a feature whose
# column is absent is skipped) and `models` to your `.nemo` file. Its grid (`latent_dims`, `ks`,
# `steps`) is its own: the paper's grid does not reach this small corpus.

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file; this chapter reads its chapters.audio, features, seeds and device
output_dir = "out/paper-full"  # the corpus, segments, embeddings and SAEs go to output_dir/audio
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)
recordings_manifest = ""  # a NeMo manifest of your recordings (relative to the study file); empty for the demo corpus
demo_profile = "full"  # the demo corpus size (quick or full) when it is generated
segment_method = "energy"  # energy (SoX silence rule, keeps music) or silero (speech only)
models = ["random:titanet-small", "resemblyzer"]  # speaker models (.nemo file, NeMo pretrained name, random:titanet-small, resemblyzer)
normalization = "nemo"  # embedding normalisation after extraction (none, l2 or nemo)
latent_dims = [32, 64]  # latent sizes of the corpus SAE grid
ks = [4, 8]  # K values of that grid
latent_dim = 64  # the SAE of that grid whose latents are analysed (and catalogued in chapter 11)
k = 8  # and its K
steps = 5000  # optimizer steps of each SAE of that grid
batch_size = 64  # segments per step, at most (capped at an eighth of the training segments)

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from voicesae_core.analysis import steering
from voicesae_core.audio import clip, demo_corpus, extract, nemo_manifest, segments
from voicesae_core.data import labels
from voicesae_core.errors import VoicesaeError
from voicesae_core.files import write_csv
from voicesae_core.report import plots
from voicesae_core.report.study import Training, check_parameters, load as load_study
from voicesae_core.sae import convergence
from voicesae_core.sae.config import TrainConfig, expand_grid
from voicesae_core.sae.trainer import train_grid

check_parameters(globals(), "audio")  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
options = s.chapter("audio", recordings_manifest=recordings_manifest, demo_profile=demo_profile,
                    segment_method=segment_method, models=models, normalization=normalization,
                    latent_dims=latent_dims, ks=ks, latent_dim=latent_dim, k=k, steps=steps,
                    batch_size=batch_size)
seed = s.grid.seeds[0]
if options.latent_dim not in options.latent_dims or options.k not in options.ks:
    raise VoicesaeError(f"{s.path}: chapters.audio: latent_dim {options.latent_dim}, k {options.k} is not in its grid "
                        f"(latent_dims {options.latent_dims}, ks {options.ks})")
work = Path(output_dir) / "audio"
tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"

# %% [markdown]
# ## 1. The recordings and their segments

# %%
if options.recordings_manifest:
    recordings = s.resolve(options.recordings_manifest)
else:
    recordings = demo_corpus.generate(work / "corpus", options.demo_profile, seed=seed, quiet=True)
seg = segments.segment(recordings, work / "segments.json", method=options.segment_method, quiet=True)
print(f"{seg.segments} segments, {seg.seconds / 60:.1f} min of audio; {len(seg.skipped)} recordings gave none")
counts = segments.counts(seg.manifest, [f.column for f in s.features.values()] + list(extract.DESCRIPTIVE_COLUMNS))
write_csv(tables / "audio_segments.csv", counts)
counts

# %% tags=["remove-output"]
first = nemo_manifest.read(recordings)[0]
sound = clip.read(first["audio_filepath"], first["offset"], first.get("duration"))
regions = segments.nonsilent_energy(sound.signal, sound.sample_rate)
fig = plots.segmentation(sound.signal, sound.sample_rate, regions, segments.pack(regions),
                         f"{first.get('id') or Path(first['audio_filepath']).stem}: non-silent stretches (shaded) "
                         "and their 4-8 s segments")
plots.publish(fig, figures, "audio_segmentation", "audio_segmentation")

# %% [markdown]
# ```{glue:figure} audio_segmentation
# :name: fig-audio-segmentation
#
# The first recording: SoX's silence rule (a 10 ms frame is sound when its peak
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
speaker_models = [s.speaker_model(m) for m in options.models]  # a .nemo path is relative to the study file
datasets, runs = extract.extract_models(seg.manifest, work / "embeddings", speaker_models, options.normalization,
                                        seed=seed, device=s.device, quiet=False,
                                        columns=None if options.recordings_manifest else demo_corpus.COLUMNS)
write_csv(tables / "audio_embeddings.csv", runs)
print("recorded in each data manifest:", datasets[speaker_models[0]].manifest["normalization"])
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
# with latent `latent_dim` and K `k`, for each feature of the study (Spanish vs English, music
# vs voice), the latent $\phi$ that the logistic probe ranks first for its positive class, scored
# alone on the test segments, beside a dense probe on the raw embedding (is the label linearly
# there at all?), and the mean $\delta_s$ before and after steering $\phi$ (Eqs. 1-3, $a_\phi = 1$).

# %%
configs = expand_grid(options.latent_dims, options.ks, ["topk"], [seed])
analysed = expand_grid([options.latent_dim], [options.k], ["topk"], [seed])[0].name
rows = []
for model, ds in datasets.items():
    x_train = ds.split("train").embeddings
    epochs, batch = Training(options.steps, options.batch_size).plan(len(x_train))
    training = TrainConfig(epochs=epochs, batch_size=batch, data_seed=seed, device=s.device)
    grid = train_grid(x_train, configs, training, quiet=False, replace_stale=True,
                      out_dir=work / "grid" / extract.model_folder(model))  # chapter 11 catalogues it
    sae = grid.models[[c.name for c in configs].index(analysed)]
    display(Markdown(convergence.warning([sae])))
    tasks, skipped = labels.feature_tasks(ds, s.features)
    if skipped:  # a label of the study that these recordings cannot give (absent, or not in both splits)
        display(Markdown("\n".join(f"- **{model}: feature `{feature}` not analysed:** {why}"
                                   for feature, why in skipped.items())))
    rows += [{"model": model, **steering.identify_and_steer(sae, t)} for t in tasks.values()]
summary = pd.DataFrame(rows, columns=["model", *steering.IDENTIFY_STEER_COLUMNS]).set_index(["model", "label"])
write_csv(tables / "audio_identification_steering.csv", summary)
summary

# %%
display(Markdown(steering.identify_and_steer_text(summary)))

# %% [markdown]
# ## What this chapter can and cannot show

# %% tags=["remove-input"]
if options.recordings_manifest:
    display(Markdown(
        f"These are your recordings (`{options.recordings_manifest}`, {seg.segments} segments), so what the "
        "latents separate is about them, with the caveats of their size: with tens of test segments, one segment "
        "moves a percentage by several points, and the SAE grid above is this chapter's own small grid, not the "
        "study's. The demo corpus's caveats (synthetic voices, a random-weight TitaNet) apply only when it is used."))

# %% [markdown]
# On the demo corpus (the default), this chapter shows that the path from audio to SAE latents
# works: real audio files, decoded, resampled and segmented like the paper's, embedded by NeMo's
# TitaNet code and by a pretrained speaker encoder, then analysed with the same functions as the paper's figures. It cannot show
# what the paper found about real callers. espeak-ng's voices are formant synthesis: a "female"
# voice is a variant setting and a pitch range, each language has two or three voices, and a
# speaker differs from another mostly by those settings. A latent that separates them may track
# the synthesiser's voice table rather than anything a human listener calls language or gender,
# and the corpus is tiny (tens of test segments, so one segment moves a percentage by several
# points). The random-weight TitaNet carries no trained meaning at all: whatever its embeddings
# separate comes from the audio's spectral statistics passed through random filters, not from a
# learned speaker representation. With your own recordings and your fine-tuned `.nemo` file, the
# same notebook runs the paper's pipeline on real data.
