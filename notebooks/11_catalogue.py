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
# # 11. A latent catalogue
#
# The paper looks at two latents. Here is every latent of the single model (latent 200, K 20 by
# default), one row each, measured on a seeded sample of the SAE training set: how often it
# fires and how strongly; the metadata label it ranks best (ROC AUC of its activation for one
# value of one label column against the rest: 0.5 is chance, 1 perfect); on the synthetic
# default, the planted feature its decoder row is closest to; the cosine of its decoder row with
# each class's centroid offset (class mean minus overall mean); and its parent one latent size
# down and children one size up (same K), by decoder cosine. Click a column header to sort.
# The latents that predict a label best have their own page (links in the first column; also
# listed under this chapter), made from one papermill template (`notebooks/latent_page.py`).

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: the SAE training set, the grid, the single model (see voicesae_core.report.study)
output_dir = "out/paper-full"  # reads the grid trained by 02_train_grid from output_dir/grid
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)
rows = 20000  # a seeded sample of the SAE training set (0 for all rows)
labels = []  # metadata columns to score; empty for every column with 2-20 values
centroid_columns = ["language", "gender"]  # columns whose class-centroid offsets each decoder row is compared with
pages = 6  # per-latent pages for this many latents, by best AUC
top_samples = 10  # rows listed on a latent page
audio = True  # also catalogue the SAE of chapter 6 (with playable clips) when its outputs exist
audio_pages = 3  # per-latent pages (with clips) for the SAE of chapter 6

# %%
from pathlib import Path

from IPython.display import HTML, Markdown

from voicesae_core.analysis import catalogue
from voicesae_core.audio import extract
from voicesae_core.data import manifest
from voicesae_core.files import write_csv
from voicesae_core.report import latent_pages, pipeline
from voicesae_core.report.study import check_parameters, load as load_study
from voicesae_core.sae import convergence
from voicesae_core.sae.trainer import load_grid

check_parameters(globals(), "catalogue")  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
options = s.chapter("catalogue", rows=rows, labels=labels, centroid_columns=centroid_columns, pages=pages,
                    top_samples=top_samples, audio=audio, audio_pages=audio_pages)
seed = s.grid.seeds[0]
tables, grid_dir = Path(output_dir) / "tables", Path(output_dir) / "grid"
name = s.single_name()
smaller, larger = catalogue.neighbour_sizes(s.grid.latent_dims, s.single.latent_dim)
data_path = s.manifest_path("sae_train")
data = manifest.load(data_path)
sizes = [d for d in (smaller, s.single.latent_dim, larger) if d is not None]
models = {m.cfg.latent_dim: m for m in load_grid(grid_dir, s.configs(sizes, [s.single.k]), data.embeddings, s.device)}
display(Markdown(convergence.warning([models[s.single.latent_dim]])))  # the catalogued SAE, if unfinished
sample = catalogue.sample_rows(len(data.embeddings), options.rows, seed)
x, meta = data.embeddings[sample], data.metadata.iloc[sample].reset_index(drop=True)
truth = data.ground_truth() if "ground_truth" in data.manifest else None
table = catalogue.catalogue(models[s.single.latent_dim], x, meta, options.labels or None, truth,
                            models.get(smaller), models.get(larger),
                            [c for c in options.centroid_columns if c in meta.columns])
csv = write_csv(tables / f"catalogue_{name}.csv", table)
print(f"{name}: {len(table)} latents on {len(sample):,} rows of {data_path.name}; parent from "
      f"{f'L{smaller}' if smaller else 'none (smallest)'}, children from {f'L{larger}' if larger else 'none (largest)'}")

# %% tags=["remove-stderr"]
# The pages are made afresh in a new folder and swapped in whole at the end of the chapter: no
# stale page of a latent that is no longer among the chosen.
book_pages = latent_pages.LatentPages(Path(output_dir) / "notebooks" / "latents", pipeline.notebooks_dir(s), output_dir,
                                      sample_rows=options.rows, sample_seed=seed, top_samples=options.top_samples)
links = book_pages.make(table, csv, grid_dir / "models" / name, data_path, name, options.pages)

# %%
display(HTML(catalogue.sortable_html(table, links)))

# %%
findings = catalogue.findings(table)
if findings:
    display(Markdown("Measured in this build:\n\n" + "\n".join(f"* {line}" for line in findings)))

# %% [markdown]
# ## From audio: chapter 6's SAE, with the segments to listen to
# When chapter 6 ran in the same output folder, its SAE (the study's `chapters.audio` latent_dim
# and k) on the first speaker model's embeddings of the demo corpus (or your recordings) is
# catalogued the same way, scored on the study's features' columns and gender and channel (those
# the recordings have), and its pages play the segments on which each latent fires most.

# %% tags=["remove-stderr"]
chapter6 = s.chapters.audio
found = latent_pages.audio_sae(Path(output_dir) / "audio", chapter6.models[0], chapter6.latent_dim, chapter6.k,
                               seed) if options.audio else None
if found is None:
    display(Markdown(f"No SAE from chapter 6 under `{Path(output_dir) / 'audio'}` (or the option `audio` is off): "
                     "nothing to catalogue."))
else:
    adata = manifest.load(found.data_manifest)
    asae = load_grid(found.grid_dir, [found.config], device=s.device)[0]
    display(Markdown(convergence.warning([asae])))
    scored = [*(f.column for f in s.features.values()), *extract.DESCRIPTIVE_COLUMNS]
    atable = catalogue.catalogue(asae, adata.embeddings, adata.metadata,
                                 [c for c in dict.fromkeys(scored) if c in adata.metadata])
    acsv = write_csv(tables / f"catalogue_{found.prefix}.csv", atable)
    alinks = book_pages.make(atable, acsv, found.model_dir, found.data_manifest, found.prefix, options.audio_pages)
    print(f"{found.folder}, {asae.cfg.name}: {len(atable)} latents on {len(adata.embeddings)} segments")
    display(HTML(catalogue.sortable_html(atable, alinks, table_id="catalogue-audio")))

# %% tags=["remove-output"]
print(f"{book_pages.publish()} latent pages in {book_pages.folder}")  # plumbing: for the terminal, not the page

# %% [markdown]
# How to read it. AUC measures ranking, not firing: a latent can reach AUC 1 for `language=none`
# (music) while firing on a small share of music rows, if it never fires on speech. A parent with a
# high cosine and one child means the latent survives unchanged as the dictionary grows; several
# children mean it splits (chapter 4 follows the Spanish latent this way). On the synthetic
# default most latents point at one of the 224 planted speaker traits, which no metadata column
# names, so their best label is weak; a nearest feature with a low cosine means the latent mixes
# several planted directions.
