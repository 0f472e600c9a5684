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
# # 12. Universality: do two speaker models share their features?
#
# The paper lists seven properties of SAE features known from language models and supports four.
# Its future work names the fifth: "autoencoders produce relatively universal features", the same
# features found in the SAEs of different models. Here each speaker model embeds the same segments;
# an SAE of the same size is trained on each model's embeddings, and their latents are matched by
# how their activations co-vary over the shared segments (`voicesae_core.analysis.universality`):
#
# * for every latent of one SAE, its *counterpart* is the other SAE's latent with the largest
#   Pearson correlation over the shared segments; we count the share of latents whose counterpart
#   correlates at least 0.5, 0.7 or 0.9, and the same after the other model's segments are
#   shuffled (what chance and sparsity alone give);
# * decoder rows live in different spaces, so A's are carried into B's by the least-squares
#   linear map between the two embeddings of the same segments, and compared there;
# * every labelled feature's latent $\phi$ (chapter 3's probe) is followed to its counterpart,
#   which is scored alone as a predictor of the label in the other model;
# * on the synthetic default, whose second model encodes the *same* planted features through a
#   different mixing, the planted directions say which pairs should be found.

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: its datasets and chapters.universality.models (see voicesae_core.report.study)
output_dir = "out/paper-full"  # the SAEs are trained into output_dir/universality (the study's own reused from output_dir/grid)
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)
models = {}  # other speaker models by name: {role: data manifest}; empty: the study's
own_name = "this study's model"  # the study's own embeddings' name beside them
latent_dim = 0  # every model's SAE's latent size (0: the single model's)
k = 0  # their K (0: the single model's)
rows = 20000  # shared SAE training segments over which activations are correlated (0: all)
thresholds = [0.5, 0.7, 0.9]  # activation correlation from which a latent has a counterpart

# %%
import time
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from voicesae_core import SAEConfig, TrainConfig, train_grid
from voicesae_core.analysis import probe, universality
from voicesae_core.data import labels, manifest
from voicesae_core.files import write_csv
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters, load as load_study
from voicesae_core.sae import convergence

check_parameters(globals(), "universality")  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
options = s.chapter("universality", models=models, own_name=own_name, latent_dim=latent_dim, k=k, rows=rows,
                    thresholds=thresholds)
cfg = SAEConfig(options.latent_dim or s.single.latent_dim, options.k or s.single.k, s.grid.activation,
                seed=s.grid.seeds[0])
tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"
others = options.models
if not others:
    display(Markdown("The study names no other speaker model (`chapters.universality.models`): there is nothing to "
                     "compare, so this chapter stops here. Embed the same segments with a second speaker model "
                     "(`python -m voicesae_core audio extract --model ...`) and name its manifest there."))

# %% [markdown]
# ## The same segments, two models

# %%
def train(data, out: Path):
    """This chapter's SAE on one model's SAE training set, with the study's training budget."""
    epochs, batch_size = s.training.plan(len(data))
    return train_grid(data, [cfg], TrainConfig(epochs=epochs, batch_size=batch_size, device=s.device),
                      out_dir=out, quiet=True, replace_stale=True, reuse_from=[Path(output_dir) / "grid"]).models[0]


if others:
    t0 = time.perf_counter()
    own = s.dataset("sae_train")
    sae = {options.own_name: train(own.embeddings, Path(output_dir) / "universality" / "own")}
    data, joined, facts = {}, {}, []
    for other in others:
        data[other] = manifest.load(s.other_manifest_path(other, "sae_train"))
        joined[other] = universality.join(own, data[other])
        sae[other] = train(data[other].embeddings, Path(output_dir) / "universality" / universality.folder_name(other))
        prov = data[other].manifest.get("provenance", {})
        facts.append({"model": other, "dim": data[other].embeddings.shape[1], "segments": len(data[other].embeddings),
                      "shared with the study's": len(joined[other].a.embeddings),
                      "only in this model": joined[other].only_b, "only in the study's": joined[other].only_a,
                      "speaker model": prov.get("model", prov.get("speaker_model", prov.get("generator", ""))),
                      "weights": prov.get("weights", "")})
    print(f"{len(sae)} SAEs (latent {cfg.latent_dim}, K {cfg.k}) trained or reused in {time.perf_counter() - t0:.0f} s")
    if s.models:  # the grid was imported: the SAEs compared here are ours, one recipe for every model
        display(Markdown("This study's grid was imported (its `models`); the SAEs compared here are trained by voicesae, "
                         "with the study's `training` budget, on each speaker model's embeddings alike."))
    for model_name, model in sae.items():  # one warning per speaker model: the SAEs share a name
        warning = convergence.warning([model])
        if warning:
            display(Markdown(f"{model_name}'s SAE: {warning}"))
    prov = own.manifest.get("provenance", {})
    facts = pd.DataFrame([{"model": options.own_name, "dim": own.embeddings.shape[1], "segments": len(own.embeddings),
                           "shared with the study's": len(own.embeddings), "only in this model": 0,
                           "only in the study's": 0, "speaker model": prov.get("model", prov.get("generator", "")),
                           "weights": prov.get("weights", "")}, *facts]).set_index("model")
    write_csv(tables / "universality_models.csv", facts)
    display(facts)
    dropped = [f"{other}: {j.only_b:,} of its segments are not in the study's, {j.only_a:,} of the study's not in it"
               for other, j in joined.items() if j.only_a or j.only_b]
    if dropped:
        display(Markdown("Segments are compared only where both models embedded them (joined by `id`); left out: "
                         + "; ".join(dropped) + "."))

# %% [markdown]
# ## How many latents have a counterpart

# %%
if others:
    compared, share_rows = {}, []
    for other in others:
        names = (options.own_name, other)
        c = compared[other] = universality.compare(sae[options.own_name], sae[other], joined[other], names,
                                                   options.thresholds, options.rows)
        share_rows.append(c.shares)
        display(Markdown(universality.summary_text(c, names, options.thresholds)))
    shares = pd.concat(share_rows, ignore_index=True)
    write_csv(tables / "universality_shares.csv", shares, index=False)
    display(shares.round(2))

# %% tags=["remove-output"]
if others:
    curves = {}
    for c in compared.values():  # both directions of each pair, as counted in the table above
        for pair, (best, _) in c.directions.items():
            curves[" -> ".join(pair)] = best
    first = next(iter(compared))
    curves[f"shuffled segments, {options.own_name} -> {first}"] = compared[first].directions[(options.own_name, first)][1]
    plots.publish(plots.matched_cosines(curves, options.thresholds, "activation correlation with the counterpart",
                                        "latents with at least this correlation (%)"),
                  figures, "universality_shares", "universality_shares")
else:
    plots.glue_absent(["universality_shares"], [], "the study names no other speaker model")

# %% [markdown]
# ```{glue:figure} universality_shares
# :name: fig-universality-shares
#
# For each direction, the share of live latents whose counterpart in the other model's SAE has at
# least the activation correlation on the x axis (dashed: the same after shuffling the other
# model's segments). Dotted lines: the thresholds of the table above.
# ```

# %% [markdown]
# ## Do the labelled features' latents have counterparts?

# %%
if others:
    feature_rows, panels = [], {}
    for other in others:
        c = compared[other]
        for fname, f in s.features.items():
            if f.dataset not in others[other]:
                feature_rows.append({"model": other, "feature": fname,
                                     "note": f"{other} has no {f.dataset!r} dataset in chapters.universality.models"})
                continue
            pair = universality.join(s.dataset(f.dataset), manifest.load(s.other_manifest_path(other, f.dataset)))
            negative = f.negative or None
            ta = labels.task(pair.a, f.column, f.positive, negative, name=f.label)
            tb = labels.task(pair.b, f.column, f.positive, negative, name=f.label)
            row = universality.feature_counterparts(sae[options.own_name], sae[other], c.corr, ta, tb, f.label)
            feature_rows.append({"model": other, **row, "note": ""})
            if row["counterpart_b"] >= 0:
                panels[f"{f.names[0]} ({other})"] = (
                    probe.encode(sae[options.own_name], ta.x_test)[:, row["phi_a"]],
                    probe.encode(sae[other], tb.x_test)[:, row["counterpart_b"]], ta.y_test, f.names,
                    (f"{options.own_name}: latent {row['phi_a']}", f"{other}: latent {row['counterpart_b']}"))
    followed = pd.DataFrame(feature_rows)
    write_csv(tables / "universality_features.csv", followed, index=False)
    display(followed.round(3))

# %% tags=["remove-output"]
if others and panels:
    plots.publish(plots.matched_pairs(panels), figures, "universality_pairs", "universality_pairs")
else:
    plots.glue_absent(["universality_pairs"], [], "no labelled feature could be followed into another model")

# %% [markdown]
# ```{glue:figure} universality_pairs
# :name: fig-universality-pairs
#
# Matched pairs: on each feature's test segments, the activation of the study's latent $\phi$
# (x) against its counterpart in the other model (y), coloured by class.
# ```

# %%
if others:
    lines = []
    for r in followed.itertuples():
        if r.note:
            lines.append(f"- {r.feature} ({r.model}): not followed; {r.note}.")
            continue
        lines.append(
            f"- {r.feature}: {options.own_name}'s latent {r.phi_a} (F1 {100 * r.f1_a:.1f} % alone) has counterpart "
            f"{r.counterpart_b} in {r.model} (correlation {r.corr:.2f}), which alone predicts the label with F1 "
            f"{100 * r.f1_counterpart:.1f} % (precision {100 * r.precision_counterpart:.1f} %, recall "
            f"{100 * r.recall_counterpart:.1f} %); {r.model}'s own best latent for it is {r.phi_b} (F1 "
            f"{100 * r.f1_b_phi:.1f} %){', the same latent' if r.counterpart_is_phi_b else ', another latent'}.")
    display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Against the planted truth (synthetic data)

# %%
planted_tables = {}
if others:
    for other in others:
        if "ground_truth" in own.manifest and "ground_truth" in data[other].manifest:
            ta, tb = own.ground_truth(), data[other].ground_truth()
            named = [n for n in ta.names if not n.startswith("trait_")]
            planted_tables[other] = universality.planted_pairs(sae[options.own_name], sae[other], ta, tb,
                                                               compared[other].corr, named)
    if planted_tables:
        planted = pd.concat(planted_tables, names=["model"])
        write_csv(tables / "universality_planted.csv", planted)
        display(planted.round(3))
    else:
        display(Markdown("These data have no planted ground truth (only the synthetic benchmark does): which pairs "
                         "*should* be found is unknown here."))

# %%
for other, p in planted_tables.items():
    display(Markdown(universality.planted_text(p, (options.own_name, other))))

# %% [markdown]
# How to read it. On the synthetic default, model B (256-d) encodes every planted feature of
# model A except the four codecs, through its own random directions and gains
# ({doc}`the benchmark <../synthetic>`): the features both SAEs recover should be paired, and a
# codec latent of A should find no counterpart. That is a check of the method, not evidence that
# real speaker models share features, because both "models" here are linear mixings of one sparse
# code by construction.
#
# On real recordings, a counterpart means two SAEs found latents that fire on the same segments.
# A **random-weight encoder** (`random:titanet-small`, flagged in the table of models above) is a
# fixed random function of the audio: its SAE can only find what survives such a function (loudness,
# spectral balance, music against speech, often pitch). A counterpart between a trained and a
# random encoder shows that a property is in the signal, not that the trained model learned it;
# the absence of a counterpart in a random encoder says nothing about a trained one. The paper's
# question is answered only by two *trained* speaker models (say, TitaNet and ECAPA) on the same
# segments, which this chapter runs as it is on any pair a user has.
