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
# # 9. Steering's cost to speaker identity
#
# Chapter 5 shows that switching the Spanish latent off moves a reconstruction towards English.
# A speaker-recognition researcher's next question: does it keep *who* is speaking? We answer it
# with a speaker-verification test on the Language Feature set's test split: every pair of
# segments is a trial, a *target* trial when both are the same speaker, scored by cosine
# similarity. For every SAE of the grid we compare the raw embeddings, the SAE reconstructions
# and the reconstructions steered on the language latent $\phi$ (Eqs. 1-2, $a_\phi$), and beside
# them a baseline without an SAE: the raw embeddings moved by the difference of the class means
# (a mean-difference steering vector, strength $\alpha$; 1 moves a row by the whole difference).
#
# Measures: the equal error rate (EER), the normalised minimum detection cost (minDCF,
# $P_\text{target} = 0.05$ as in VoxSRC), and $d'$, the separation of target and non-target scores
# in pooled standard deviations, which keeps measuring when the EER is 0. How far the language
# moved: the share of test rows that $\delta_s$ (Eq. 3) puts on the other class's side.

# %% tags=["parameters"]
study = "studies/paper-full.yml"  # the study file: datasets, features, grid, single model (see voicesae_core.report.study)
output_dir = "out/paper-full"  # reads the grid trained by 02_train_grid from output_dir/grid
device = ""  # auto, cpu, cuda or cuda:N: where its SAEs run ("": the study's device key)
feature = ""  # the feature steered (a key of the study features), its test split gives the trials; empty: the first of the study
speaker_column = "speaker"  # rows with the same value are one speaker; empty values are left out
a_phi = 1.0  # the latent steering strength (the paper: 1)
alpha = 1.0  # the mean-difference vector strength
strengths = [0, 0.25, 0.5, 1, 2, 4, 8]  # a_phi and alpha values of the trade-off curve
p_target = 0.05  # the prior of a target trial in minDCF (VoxSRC: 0.05)
max_rows = 2000  # test rows with a speaker that make the trials (all pairs); a seeded sample when more (0: all)

# %%
from pathlib import Path

from IPython.display import Markdown

from voicesae_core.analysis import probe, verification
from voicesae_core.files import write_csv
from voicesae_core.report import plots
from voicesae_core.report.study import check_parameters, load as load_study
from voicesae_core.sae import convergence
from voicesae_core.sae.trainer import load_grid

check_parameters(globals(), "verification")  # papermill itself lets an unknown or mistyped -p through
s = load_study(study, device=device)
options = s.chapter("verification", feature=feature, speaker_column=speaker_column, a_phi=a_phi, alpha=alpha,
                    strengths=strengths, p_target=p_target, max_rows=max_rows)
tables, figures = Path(output_dir) / "tables", Path(output_dir) / "figures"
models = load_grid(Path(output_dir) / "grid", s.configs(), s.dataset("sae_train").embeddings, s.device)
display(Markdown(convergence.warning(models)))  # said beside the numbers of any SAE that did not converge
t = s.task(options.feature)
speakers_manifest = s.manifest_path(s.feature(options.feature).dataset)
# Without speakers (no column, one speaker, no speaker twice) the chapter says so and its sections stay empty.
missing = verification.unavailable(t.meta_test, options.speaker_column, where=str(speakers_manifest))
if missing:
    display(Markdown(f"**This study has no speaker verification:** {missing}."))
    plots.glue_absent(["verification_grid", "verification_tradeoff"], [], missing)
else:
    trial_list = verification.trial_table(t.meta_test, options.speaker_column, max_rows=options.max_rows)
    speakers = trial_list.speakers
    write_csv(tables / "verification_trials.csv", trial_list.table, index=False)
    print(f"{t.name} from {speakers_manifest}: "
          f"{verification.trials_text(trial_list.trials, speakers, of=trial_list.named)} (tables/verification_trials.csv)")

# %% [markdown]
# ## Over the grid

# %%
if not missing:
    cost = verification.steering_cost(models, t.x_train, t.y_train, t.x_test, t.y_test, speakers, options.a_phi,
                                      options.alpha, options.p_target)
    write_csv(tables / "verification_grid.csv", cost)
    print(verification.baseline_text(cost, options.alpha))
    display(cost[["phi", "reconstructed_eer", "reconstructed_dprime", "steered_eer", "steered_min_dcf",
                  "steered_dprime", "steered_moved_pct"]].round(3))

# %% tags=["remove-output"]
if not missing:
    grids = {"d' of reconstructions": probe.as_grid(cost, "reconstructed_dprime", percent=False),
             f"d' after steering phi (a_phi {options.a_phi:g})": probe.as_grid(cost, "steered_dprime", percent=False),
             "EER after steering (%)": probe.as_grid(cost, "steered_eer", percent=False),
             "rows moved by steering (%)": probe.as_grid(cost, "steered_moved_pct", percent=False)}
    plots.publish(plots.value_heatmaps(grids, fmts=[".2f", ".2f", ".2f", ".0f"]), figures, "verification_grid",
                  "verification_grid")

# %% [markdown]
# ```{glue:figure} verification_grid
# :name: fig-verification-grid
#
# Over the latent_dim x K grid: the verification separation $d'$ of the SAE reconstructions and of
# the reconstructions steered on the language latent, the EER after steering, and the share of
# test rows steering moved to the other language.
# ```

# %% [markdown]
# ## The trade-off: language moved against identity kept

# %%
if not missing:
    name = s.single_name()
    single = {m.cfg.name: m for m in models}[name]
    curve = verification.tradeoff(single, int(cost.loc[name, "phi"]), t.x_train, t.y_train, t.x_test, t.y_test,
                                  speakers, options.strengths, options.p_target)
    write_csv(tables / "verification_tradeoff.csv", curve, index=False)
    display(curve.round(3))

# %% tags=["remove-output"]
if not missing:
    plots.publish(plots.tradeoff(curve, {"dprime": cost.raw_dprime.iloc[0], "eer": cost.raw_eer.iloc[0]}), figures,
                  "verification_tradeoff", "verification_tradeoff")

# %% [markdown]
# ```{glue:figure} verification_tradeoff
# :name: fig-verification-tradeoff
#
# The single model: as the steering strength grows (numbers at the points), how many test rows
# move to the other language (x) and what is left of speaker verification (y), for the single
# latent and for the mean-difference vector.
# ```

# %%
display(Markdown(f"Not measured: {missing}." if missing else verification.summary_text(cost, curve, options.a_phi, name,
                                                                                 feature=t.name)))

# %% [markdown]
# How to read it. On the synthetic default every speaker carries strong planted traits, so the
# raw embeddings separate speakers perfectly (EER 0) and the EER stays at or near 0 under
# steering: there $d'$ is the informative number, and it is its *drop* from the raw embeddings
# (and from the reconstructions, for the latent) that says what steering costs. Both steerings
# add one fixed vector per class (Eq. 1 writes $-a_\phi$ times a decoder row for every positive
# sample), and a vector added to every row of a class pulls those rows towards each other under
# cosine scoring; the larger it is relative to the embeddings (`shift` in the table), the more
# speakers blur, so compare the two methods at equal rows moved and equal shift, not at equal
# strength (a_phi and alpha are on different scales). Real TitaNet embeddings of telephone calls
# have EERs of a few per cent, where the EER itself would move; run this chapter on them by giving
# the steered feature's dataset in the study (its metadata needs the `speaker_column`).
