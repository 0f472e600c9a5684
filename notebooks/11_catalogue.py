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
profile = "full"
output_dir = "out/full"  # reads the grid trained by 02_train_grid from output_dir/grid
sae_train_manifest = ""  # empty: the embedded default for profile
latent_dims = [100, 200, 300, 400, 500, 600]
ks = [5, 10, 15, 20, 25, 30, 35]
seed = 0
activation = "topk"
latent_dim = 200
k = 20
catalogue_rows = 20000  # a seeded sample of the SAE training set (0: all rows)
catalogue_labels = []  # metadata columns to score; empty: every column with 2-20 values
centroid_columns = ["language", "gender"]
catalogue_pages = 6  # per-latent pages for this many latents, by best AUC
top_samples = 10
audio_catalogue = True  # also catalogue the SAE of chapter 6 (with playable clips) when its outputs exist
audio_latent_dim = 64
audio_k = 8
audio_pages = 3

# %%
import shutil
from pathlib import Path

from IPython.display import HTML, Markdown

from voicesae_core import VoicesaeError, catalogue, expand_grid, manifest, pipeline
from voicesae_core.files import write_csv
from voicesae_core.trainer import load_grid

tables = Path(output_dir) / "tables"
grid_dir = Path(output_dir) / "grid"
name = expand_grid([latent_dim], [k], [activation], [seed])[0].name
if latent_dim not in latent_dims or k not in ks:
    raise VoicesaeError(f"latent_dim={latent_dim}, k={k} is not in the grid (latent_dims={latent_dims}, ks={ks})")
sizes = sorted(latent_dims)
at = sizes.index(latent_dim)
smaller_dim, larger_dim = (sizes[at - 1] if at else None), (sizes[at + 1] if at + 1 < len(sizes) else None)
dims = [d for d in (smaller_dim, latent_dim, larger_dim) if d is not None]
models = {m.cfg.latent_dim: m for m in load_grid(grid_dir, expand_grid(dims, [k], [activation], [seed]))}
data_path = pipeline.manifest_path("sae_train", profile, sae_train_manifest)
data = manifest.load(data_path)
rows = catalogue.sample_rows(len(data.embeddings), catalogue_rows, seed)
x, meta = data.embeddings[rows], data.metadata.iloc[rows].reset_index(drop=True)
truth = data.ground_truth() if "ground_truth" in data.manifest else None
table = catalogue.catalogue(models[latent_dim], x, meta, catalogue_labels or None, truth,
                            models.get(smaller_dim), models.get(larger_dim),
                            [c for c in centroid_columns if c in meta.columns])
csv = write_csv(tables / f"catalogue_{name}.csv", table)
print(f"{name}: {len(table)} latents on {len(rows):,} rows of {data_path.name}; parent from "
      f"{f'L{smaller_dim}' if smaller_dim else 'none (smallest)'}, children from {f'L{larger_dim}' if larger_dim else 'none (largest)'}")

# %% tags=["remove-stderr"]
def pages(table, csv, model_dir, data_manifest, prefix, n, folder):
    """Execute the per-latent template for the ``n`` latents with the best AUC; returns latent -> page."""
    chosen = table["best_auc"].nlargest(n).index.tolist() if "best_auc" in table else table.index[:n].tolist()
    out = {}
    for latent in chosen:
        target = folder / f"{prefix}_{latent:04d}.ipynb"
        pipeline.execute("latent_page", target, {"output_dir": output_dir, "model_dir": str(model_dir), "latent": int(latent),
                                                 "data_manifest": str(data_manifest), "sample_rows": catalogue_rows,
                                                 "sample_seed": seed, "catalogue_csv": str(csv),
                                                 "top_samples": top_samples}, work_dir=folder.parent / "latents_src",
                         title=f"Latent {latent} of {prefix.removeprefix('audio_')}")
        out[latent] = f"latents/{target.stem}.html"
    return out


# The pages are made afresh in a new folder and swapped in whole: no stale page of a latent
# that is no longer among the chosen.
folder = Path(output_dir) / "notebooks" / "latents"
fresh = folder.with_name("latents.new")
shutil.rmtree(fresh, ignore_errors=True)
fresh.mkdir(parents=True)
links = pages(table, csv, grid_dir / "models" / name, data_path, name, catalogue_pages, fresh)

# %%
show = table.copy()
display(HTML(catalogue.sortable_html(show, links)))

# %%
if "best_auc" in table:
    strong = table[table.best_auc >= 0.9]
    lines = [f"{len(strong)} of {len(table)} latents rank some label value with AUC >= 0.9; "
             f"{int((table.firing_pct == 0).sum())} never fire on the sample; the median latent fires on "
             f"{table.firing_pct.median():.1f} % of rows."]
    for label, g in strong.groupby("best_label"):
        lines.append(f"`{label}`: latent(s) {', '.join(map(str, g.index[:8]))}{' ...' if len(g) > 8 else ''} "
                     f"(best AUC {g.best_auc.max():.3f})")
    if truth is not None:
        lines.append(f"Closest to the planted `spanish` direction: latent {int(table.nearest_cos.where(table.nearest_feature == 'spanish').idxmax()) if (table.nearest_feature == 'spanish').any() else 'none'}; "
                     f"{int((table.nearest_cos >= 0.7).sum())} latents have a planted feature at cosine >= 0.7.")
    display(Markdown("Measured in this build:\n\n" + "\n".join(f"* {s}" for s in lines)))

# %% [markdown]
# ## From audio: chapter 6's SAE, with the segments to listen to
# When chapter 6 ran in the same output folder, its SAE (latent `audio_latent_dim`, K `audio_k`)
# on the first speaker model's embeddings of the demo corpus (or your recordings) is catalogued
# the same way, and its pages play the segments on which each latent fires most.

# %% tags=["remove-stderr"]
audio_grid = Path(output_dir) / "audio" / "grid"
found = sorted(audio_grid.glob(f"*/models/L{audio_latent_dim}_k{audio_k}_topk_s*")) if audio_catalogue else []
if not found:
    display(Markdown(f"No SAE from chapter 6 under `{audio_grid}` (or `audio_catalogue` is off): nothing to catalogue."))
else:
    model_dir = found[0]
    speaker_model = model_dir.parents[1].name
    audio_manifest = Path(output_dir) / "audio" / "embeddings" / speaker_model / "manifest.json"
    adata = manifest.load(audio_manifest)
    asae = load_grid(model_dir.parents[1], expand_grid([audio_latent_dim], [audio_k], ["topk"],
                                                        [int(model_dir.name.rsplit("_s", 1)[1])]))[0]
    atable = catalogue.catalogue(asae, adata.embeddings, adata.metadata,
                                 [c for c in ("language", "gender", "is_music", "channel") if c in adata.metadata])
    prefix = f"audio_{speaker_model}_{asae.cfg.name}"
    acsv = write_csv(tables / f"catalogue_{prefix}.csv", atable)
    alinks = pages(atable, acsv, model_dir, audio_manifest, prefix, audio_pages, fresh)
    print(f"{speaker_model}, {asae.cfg.name}: {len(atable)} latents on {len(adata.embeddings)} segments")
    display(HTML(catalogue.sortable_html(atable, alinks, table_id="catalogue-audio")))

# %%
shutil.rmtree(folder, ignore_errors=True)
fresh.rename(folder)
print(f"{len(list(folder.glob('*.ipynb')))} latent pages in {folder}")

# %% [markdown]
# How to read it. AUC measures ranking, not firing: a latent can reach AUC 1 for `language=none`
# (music) while firing on a small share of music rows, if it never fires on speech. A parent with a
# high cosine and one child means the latent survives unchanged as the dictionary grows; several
# children mean it splits (chapter 4 follows the Spanish latent this way). On the synthetic
# default most latents point at one of the 224 planted speaker traits, which no metadata column
# names, so their best label is weak; a nearest feature with a low cosine means the latent mixes
# several planted directions.
