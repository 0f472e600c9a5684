"""The notebooks, executed by papermill on the quick paper study: outputs exist, agree with the core,
and bad input stops a notebook with a clear message.

The executed notebooks are the quick book's (conftest.quick_book: executed once a session); the
core's numbers are recomputed on the models of GRID, a part of its grid."""

import nbformat
import numpy as np
import pandas as pd
import pytest

from voicesae_core import VoicesaeError, expand_grid
from voicesae_core.data import labels, manifest
from conftest import QUICK_BOOK, QUICK_STUDY
from voicesae_core.analysis import probe, steering
from voicesae_core.report import pipeline, study
from voicesae_core.sae.trainer import load_grid

GRID = {"latent_dims": [100, 200, 300], "ks": [5, 20]}
QUICK = study.load(QUICK_STUDY)
FIGURES = ["data_pca_language", "grid_training", "grid_curves", "fig2a_language_precision", "fig2b_language_recall",
           "fig3a_music_precision", "fig3b_music_recall", "fig4_splitting_k20", "fig5_steering_language",
           "fig6_steering_music", "steering_sweep_language", "steering_sweep_music", "audio_segmentation", "recovery_grid",
           "stability_cosines", "stability_features", "verification_grid", "verification_tradeoff",
           "sparse_probing"]
TABLES = ["datasets", "table1_language_dataset", "table2_music_dataset", "grid_training", "identification_language",
          "identification_music", "identification_single_L200_k20", "identification_errors_language",
          "identification_error_summary_language", "splitting_k20_links", "splitting_k20_nodes",
          "splitting_k20_splits", "tableiii_steering_language", "tableiv_steering_music", "steering_sweep_language",
          "audio_segments", "audio_embeddings", "audio_identification_steering", "recovery_grid", "recovery_L200_k20",
          "stability_pairs", "stability_summary", "stability_features", "verification_trials", "verification_grid",
          "verification_tradeoff", "sparse_probing_language", "sparse_probing_music_baselines", "sparse_probing_summary",
          "catalogue_L200_k20_topk_s0", "catalogue_audio_random-titanet-small_L64_k8_topk_s0"]


@pytest.fixture(scope="module")
def run(quick_book):
    out = QUICK_BOOK
    return out, [out / "notebooks" / f"{name}.ipynb" for name in pipeline.ORDER]


@pytest.fixture
def own_out(run, tmp_path):
    """An output folder of a test's own that sees the book's SAEs (a chapter run there must not
    replace the book's tables and executed notebooks)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "grid").symlink_to(run[0] / "grid")
    return out


def test_every_notebook_runs_and_writes_its_figures_and_tables(run):
    out, executed = run
    assert all(p.is_file() for p in executed)
    for name in FIGURES:
        for ext in ("png", "svg"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000, name
    for name in TABLES:
        assert len(pd.read_csv(out / "tables" / f"{name}.csv")) > 0, name
    # The figures are glued for the book (myst-nb keeps the name in the output's metadata).
    glued = set()
    for path in executed:
        for cell in nbformat.read(path, as_version=4).cells:
            for o in cell.get("outputs", []):
                glued |= {o.get("metadata", {}).get("scrapbook", {}).get("name")} - {None}
    assert {"fig2a", "fig2b", "fig3a", "fig3b", "fig4", "fig5", "fig6", "tableiii", "tableiv", "table1"} <= glued


def test_the_notebooks_tables_are_the_cores_numbers(run):
    out, _ = run
    lang = manifest.load(QUICK.manifest_path("language"))
    t = labels.task(lang, "language", "es", "en")
    models = load_grid(out / "grid", expand_grid(GRID["latent_dims"], GRID["ks"]))
    ours = probe.identify_grid(models, t.x_train, t.y_train, t.x_test, t.y_test)
    table = pd.read_csv(out / "tables" / "identification_language.csv")
    table = table[table["name"].isin(ours["name"])].reset_index(drop=True)
    assert table["name"].tolist() == ours["name"].tolist() and table["phi"].tolist() == ours["phi"].tolist()
    np.testing.assert_allclose(table[["precision", "recall"]], ours[["precision", "recall"]])
    assert (table["recall_low"] <= table["recall"]).all() and (table["recall"] <= table["recall_high"]).all()
    grid = pd.read_csv(out / "tables" / "fig2b_language_recall.csv", index_col="latent_dim")
    mine = probe.as_grid(ours, "recall")
    np.testing.assert_allclose(grid.loc[mine.index, mine.columns].values, mine.values)
    single = models[[m.cfg.name for m in models].index("L200_k20_topk_s0")]
    phi = probe.identify(single, t.x_train, t.y_train, t.x_test, t.y_test).phi
    r = steering.steering_experiment(single, t.x_train, t.y_train, t.x_test, t.y_test, phi, 1.0)
    t3 = pd.read_csv(out / "tables" / "tableiii_steering_language.csv", header=[0, 1], index_col=0)
    assert t3[("ours", "delta_s_after")].tolist() == pytest.approx([r.means()["positive"][1], r.means()["negative"][1]],
                                                                   abs=5e-4)
    assert t3[("paper", "delta_s_after")].tolist() == [-0.52, 0.475]
    links = pd.read_csv(out / "tables" / "splitting_k20_links.csv")
    assert (links.groupby("step")["count"].sum() == len(t.y_test)).all()


def test_the_audio_chapter_is_the_cores_numbers(run):
    """06_audio: every segment embedded, embeddings as the model gives them clip by clip, the dense
    probe's F1 recomputed from the data manifest the notebook wrote."""
    from voicesae_core.audio import clip, extract, speaker_model
    out, _ = run
    segments = pd.read_json(out / "audio" / "segments.json", lines=True)
    runs = pd.read_csv(out / "tables" / "audio_embeddings.csv", index_col="model")
    assert (runs["embedded"] == len(segments)).all() and (runs["skipped"] == 0).all()
    summary = pd.read_csv(out / "tables" / "audio_identification_steering.csv", index_col=["model", "label"])
    model = speaker_model.load("random:titanet-small", seed=0)
    folder = out / "audio" / "embeddings" / "random-titanet-small"
    ds = manifest.load(folder / "manifest.json")
    from voicesae_core.audio import demo_corpus
    assert ds.manifest["columns"]["channel"] == demo_corpus.COLUMNS["channel"]  # the corpus's own meanings
    ids, raw = extract.raw_embeddings(folder)
    row = ds.metadata.iloc[3]
    sound = clip.read(row["audio_filepath"], row["offset"], row["duration"])
    alone = model.embed([sound.signal])[0]
    assert np.abs(raw[ids.index(row["id"])] - alone).max() / np.abs(alone).max() < 1e-5
    t = labels.task(ds, "language", "es", "en")
    dense = probe.dense_probe(t.x_train, t.y_train, t.x_test, t.y_test)
    assert summary.loc[("random:titanet-small", "Spanish vs English"), "dense probe F1 %"] == pytest.approx(100 * dense.f1, abs=0.05)


def test_the_recovery_chapter_is_the_cores_numbers(run):
    from voicesae_core.analysis import recovery
    out, _ = run
    truth = manifest.load(QUICK.manifest_path("sae_train")).ground_truth()
    models = load_grid(out / "grid", expand_grid(GRID["latent_dims"], GRID["ks"]))
    table = pd.read_csv(out / "tables" / "recovery_grid.csv", index_col="model")
    for m in models:
        r = recovery.recovery(m, truth)
        assert table.loc[m.cfg.name, "mean_hungarian_cos"] == pytest.approx(r["hungarian_cos"].mean(), abs=1e-6)
        assert table.loc[m.cfg.name, "spanish_max_cos"] == pytest.approx(r.loc["spanish", "max_cos"], abs=1e-6)


def test_the_stability_chapter_is_the_cores_numbers(run):
    """08_stability: its seed 0 is chapter 2's model (same config, data and batch order), and its
    seed-pair table is the core's matching recomputed."""
    import torch
    from voicesae_core.analysis import stability
    out, _ = run
    grid = {m.cfg.name: m for m in load_grid(out / "grid", expand_grid(GRID["latent_dims"], GRID["ks"]))}
    seeds = load_grid(out / "stability", expand_grid([200], [20], seeds=range(5)))
    assert torch.equal(seeds[0].W_dec, grid["L200_k20_topk_s0"].W_dec)
    pairs = pd.read_csv(out / "tables" / "stability_pairs.csv")
    row = pairs[(pairs.latent_dim == 200) & (pairs.seed_a == 1) & (pairs.seed_b == 3)].iloc[0]
    cos = stability.seed_match(seeds[1], seeds[3])[1]
    assert row["mean_cos"] == pytest.approx(cos.mean(), abs=1e-6)
    assert row["shared_0.7_pct"] == pytest.approx(100 * (cos >= 0.7).mean())


def test_the_verification_chapter_is_the_cores_numbers(run):
    """09_verification: its trial list is every pair of test speakers' segments, and its grid table
    is the core's EER / d' recomputed."""
    from voicesae_core.analysis import verification
    out, _ = run
    t = labels.task(manifest.load(QUICK.manifest_path("language")), "language", "es", "en")
    trials = pd.read_csv(out / "tables" / "verification_trials.csv")
    n = len(t.meta_test)
    assert len(trials) == n * (n - 1) // 2 and trials["target"].sum() == verification.trials(t.meta_test["speaker"]).target.sum()
    models = load_grid(out / "grid", expand_grid([200], [5]))
    ours = verification.steering_cost(models, t.x_train, t.y_train, t.x_test, t.y_test, t.meta_test["speaker"])
    table = pd.read_csv(out / "tables" / "verification_grid.csv", index_col="model")
    for col in ("raw_dprime", "reconstructed_dprime", "steered_eer", "steered_dprime", "mean_difference_dprime"):
        assert table.loc["L200_k5_topk_s0", col] == pytest.approx(ours.loc["L200_k5_topk_s0", col], abs=1e-6), col


def test_the_sparse_probing_chapter_is_the_cores_numbers(run):
    from voicesae_core.analysis import sparse_probing
    out, _ = run
    t = labels.task(manifest.load(QUICK.manifest_path("music")), "is_music", 1, 0)
    models = load_grid(out / "grid", expand_grid([300], [20]))
    ours = sparse_probing.curve(models[0], t.x_train, t.y_train, t.x_test, t.y_test)
    table = pd.read_csv(out / "tables" / "sparse_probing_music.csv")
    mine = table[table.model == "L300_k20_topk_s0"].reset_index(drop=True)
    assert mine["k"].tolist() == [1, 2, 4, 8, 16] and mine["latents"].tolist() == ours["latents"].tolist()
    np.testing.assert_allclose(mine["f1"], ours["f1"])
    refs = pd.read_csv(out / "tables" / "sparse_probing_music_baselines.csv")
    raw = refs[refs.method == "raw embedding"]["f1"].iloc[0]
    assert raw == pytest.approx(probe.dense_probe(t.x_train, t.y_train, t.x_test, t.y_test).f1)


def test_the_catalogue_chapter_is_the_cores_numbers_and_makes_its_pages(run):
    from voicesae_core.analysis import catalogue
    out, executed = run
    data = manifest.load(QUICK.manifest_path("sae_train"))
    rows = catalogue.sample_rows(len(data.embeddings), 20000, 0)
    m = {x.cfg.latent_dim: x for x in load_grid(out / "grid", expand_grid([100, 200, 300], [20]))}
    ours = catalogue.catalogue(m[200], data.embeddings[rows], data.metadata.iloc[rows].reset_index(drop=True),
                               truth=data.ground_truth(), smaller=m[100], larger=m[300], centroid_columns=["language", "gender"])
    table = pd.read_csv(out / "tables" / "catalogue_L200_k20_topk_s0.csv", index_col="latent")
    np.testing.assert_allclose(table["best_auc"], ours["best_auc"], atol=1e-9)
    assert table["nearest_feature"].tolist() == ours["nearest_feature"].tolist()
    assert table["children"].fillna("").tolist() == ours["children"].tolist()
    pages = sorted((out / "notebooks" / "latents").glob("*.ipynb"))
    best = ours["best_auc"].nlargest(6).index
    assert [p.name for p in pages if not p.name.startswith("audio_")] == sorted(f"L200_k20_topk_s0_{i:04d}.ipynb" for i in best)
    audio_pages = [p for p in pages if p.name.startswith("audio_random-titanet-small_L64_k8")]
    assert len(audio_pages) == 3
    outputs = [o for c in nbformat.read(audio_pages[0], as_version=4).cells for o in c.get("outputs", [])]
    assert sum("<audio" in o.get("data", {}).get("text/html", "") for o in outputs) >= 1


def _user_manifest(tmp_path, name, keep_rows=None, drop_column=None):
    """A user's manifest made from the quick language set: some rows, or a column removed."""
    lang = manifest.load(QUICK.manifest_path("language"))
    rows = np.ones(len(lang.metadata), bool) if keep_rows is None else keep_rows(lang.metadata)
    meta = lang.metadata[rows].drop(columns=[drop_column] if drop_column else [])
    np.save(tmp_path / f"{name}.npy", lang.embeddings[rows])
    meta.to_csv(tmp_path / f"{name}.csv", index=False)
    columns = {c: m for c, m in lang.manifest["columns"].items() if c in meta.columns}
    return manifest.write_manifest(tmp_path / f"{name}.json", tmp_path / f"{name}.npy", tmp_path / f"{name}.csv",
                                   name=name, columns=columns, labels=lang.manifest["labels"])


def test_a_missing_model_is_named(own_out):
    out = own_out
    with pytest.raises(VoicesaeError, match=r"notebook 03_identification failed .* no trained model for 2 of the 8 "
                                            r"grid configurations: \['L700_k5_topk_s0', 'L700_k20_topk_s0'\]"):
        pipeline.run(QUICK_STUDY, out, {"latent_dims": [100, 200, 300, 700], "ks": [5, 20]},
                     ["03_identification"], quiet=True)


def test_a_manifest_without_an_optional_column_is_said_and_the_chapter_goes_on(own_out, tmp_path):
    out = own_out
    m = _user_manifest(tmp_path, "no_gender", drop_column="gender")
    pipeline.run(QUICK_STUDY, out, {"latent_dims": [100, 200, 300], "datasets.language": str(m)}, ["04_splitting"],
                 quiet=True)
    said = [o.get("data", {}).get("text/markdown", "") for c in nbformat.read(out / "notebooks" / "04_splitting.ipynb",
                                                                            as_version=4).cells
            for o in c.get("outputs", [])]
    assert any("no_gender.json` has no column `gender`" in text and "per class only" in text for text in said)
    links = pd.read_csv(out / "tables" / "splitting_k20_links.csv")
    assert set(links["group"]) <= {"Spanish", "English"}  # the groups are the classes


def test_a_label_with_no_positive_test_rows_is_named(own_out, tmp_path):
    out = own_out
    m = _user_manifest(tmp_path, "no_test_spanish", keep_rows=lambda md: ~((md.split == "test") & (md.language == "es")))
    with pytest.raises(VoicesaeError, match=r"notebook 05_steering failed .*no_test_spanish.csv: Spanish vs English: "
                                            r"the test split has no positive rows"):
        pipeline.run(QUICK_STUDY, out, {**GRID, "datasets.language": str(m)},
                     ["05_steering"], quiet=True)


def test_papermill_sees_every_parameter_of_every_notebook(tmp_path):
    # papermill silently skips a parameter line it cannot parse (e.g. '=' or a quote in its
    # comment), and then the pipeline would never pass that parameter: every line must parse.
    import papermill as pm
    for name in pipeline.ORDER + ["latent_page"]:  # and the catalogue's per-latent template
        src = pipeline.to_ipynb(name, tmp_path / f"{name}.ipynb", pipeline.notebooks_dir(QUICK))
        cell = next(c for c in nbformat.read(src, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
        assigned = [line.split("=")[0].strip() for line in cell.source.splitlines() if line and not line.startswith("#")]
        assert list(pm.inspect_notebook(str(src))) == assigned, name


def test_every_chapter_and_the_latent_template_open_with_a_heading(tmp_path):
    # The book takes a page's title from its first markdown heading; a notebook that opens with an
    # empty code cell (a doubled blank line after the jupytext header) shows an empty input box.
    for name in pipeline.ORDER + ["latent_page"]:
        first = nbformat.read(pipeline.to_ipynb(name, tmp_path / f"{name}.ipynb", pipeline.notebooks_dir(QUICK)),
                              as_version=4).cells[0]
        assert first.cell_type == "markdown" and first.source.strip(), name
        if name != "latent_page":  # its title is put first per latent (pipeline.execute(title=...))
            assert first.source.startswith("# "), name


def test_each_notebook_declares_the_study_and_its_chapters_options_with_the_studys_defaults(tmp_path):
    """A notebook's parameters cell: the study file, the output folder, the device, and exactly its chapter's
    options (study.Chapters), each at the study's default (what a study that leaves it out gets;
    so a notebook run by papermill with a study takes the study's values)."""
    import ast
    import dataclasses

    import papermill as pm
    for name in pipeline.ORDER:
        src = pipeline.to_ipynb(name, tmp_path / f"{name}.ipynb", pipeline.notebooks_dir(QUICK))
        declared = {k: ast.literal_eval(v["default"]) for k, v in pm.inspect_notebook(str(src)).items()}
        assert declared.pop("study") == "studies/paper-full.yml", name
        assert declared.pop("output_dir") == "out/paper-full", name
        assert declared.pop("device") == "", name  # "": the study's device key
        chapter = pipeline.CHAPTERS.get(name)
        options = getattr(study.Chapters(), chapter) if chapter else None
        fields = [f.name for f in dataclasses.fields(options)] if options else []
        assert sorted(declared) == sorted(fields), name
        for key, value in declared.items():
            assert value == getattr(options, key), (name, key)


def test_an_unknown_or_mistyped_parameter_stops_the_run_before_anything_executes(tmp_path):
    import subprocess
    import sys
    for args, named in ((["-p", "no_such_key", "1"], "no_such_key"), (["-p", "stepz", "5"], "did you mean steps"),
                        (["-p", "ks", '["five"]'], "grid.ks[0]: expected an integer"),
                        (["--only", "03_identificaton"], "no chapter '03_identificaton'")):
        out = tmp_path / "out"
        r = subprocess.run([sys.executable, "-m", "voicesae_core", "notebooks", "--study", str(QUICK_STUDY),
                            "--output-dir", str(out), *args], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith("error: ") and named in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
        assert not out.exists()  # nothing written, nothing executed


def test_execute_refuses_a_parameter_the_notebook_does_not_declare(tmp_path):
    with pytest.raises(VoicesaeError, match=r"notebook latent_page: no parameter 'latnet'"):
        pipeline.execute("latent_page", tmp_path / "page.ipynb", {"latnet": 3}, pipeline.notebooks_dir(QUICK))
    assert not (tmp_path / "page.ipynb").exists()
