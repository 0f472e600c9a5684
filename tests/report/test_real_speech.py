"""The own-data path on real recordings, as the book's own-data page tells a stranger to take it.

The real-speech fixture (tests/fixtures/real_speech: LibriSpeech readers, FLEURS and Common Voice
Spanish, instrumental music; README.md there) is segmented, embedded with resemblyzer's pretrained
speaker encoder, given a study by `study init` (whose grid, chosen for 146 rows of 256-d, shares no
cell with the paper's), edited as a user would (chapter 6 on the same recordings), and built into
the book. Every step is the command line in a real subprocess, from nothing, in a temporary folder.
"""
import json
import subprocess
import sys

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from voicesae_core import SparseAutoencoder, expand_grid
from voicesae_core.data import paper_reference
from voicesae_core.report import pipeline, study
from voicesae_core.sae import convergence
from voicesae_core.sae.trainer import load_grid

FIXTURE = REPO / "tests" / "fixtures" / "real_speech"


def cli(*args, cwd):
    r = subprocess.run([sys.executable, "-m", "voicesae_core", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd)
    assert r.returncode == 0, f"{' '.join(map(str, args))} failed:\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(work folder, book output folder, what study init printed, the book's stdout)."""
    work = tmp_path_factory.mktemp("real_speech")
    # 2-4 s segments: the fixture's clips are 3-21 s, so 4-8 s segments would leave too few test rows.
    cli("audio", "segment", FIXTURE / "recordings.json", "--out", "segments.json", "--min-len", 2, "--max-len", 4,
        "--quiet", cwd=work)
    cli("audio", "extract", "segments.json", "--out", "resemblyzer", "--model", "resemblyzer", "--quiet", cwd=work)
    # The same segments through a second encoder, for chapter 12 (the only other one offline: TitaNet, random weights).
    cli("audio", "extract", "segments.json", "--out", "titanet", "--model", "random:titanet-small", "--quiet", cwd=work)
    init = cli("study", "init", "--out", "study.yml", "--train", "resemblyzer/manifest.json", "--sources", REPO,
               cwd=work).stdout
    # The user's edit: chapter 6 on these recordings and this model; three stability seeds, not five;
    # chapter 12 against the second encoder; chapter 13 at 2 x the embedding, although study init
    # proposed none (146 rows cannot support it: the chapter is to say so).
    s = yaml.safe_load((work / "study.yml").read_text())
    s["chapters"]["audio"] = {"recordings_manifest": str(FIXTURE / "recordings.json"), "models": ["resemblyzer"]}
    s["chapters"]["stability"] = {"seeds": [0, 1, 2]}
    s["chapters"]["universality"] = {"own_name": "resemblyzer",
                                     "models": {"TitaNet (random weights)": {"sae_train": "titanet/manifest.json"}}}
    assert s["chapters"]["wide"]["expansions"] == []
    s["chapters"]["wide"]["expansions"] = [2]
    (work / "study.yml").write_text(yaml.safe_dump(s, sort_keys=False))
    cli("study", "check", "study.yml", cwd=work)
    book = cli("book", "--study", "study.yml", "--output-dir", "out", "--quiet", cwd=work).stdout
    return work, work / "out", init, book


def test_segments_and_embeddings_account_for_every_recording(built):
    work, _, _, _ = built
    recordings = [json.loads(line) for line in (FIXTURE / "recordings.json").read_text().splitlines()]
    segments = pd.read_json(work / "segments.json", lines=True)
    skipped = pd.read_csv(work / "segments.json.skipped.csv")
    assert segments["source_row"].nunique() + len(skipped) == len(recordings)
    meta = pd.read_csv(work / "resemblyzer" / "metadata.csv")
    assert len(meta) == len(segments) and len(pd.read_csv(work / "resemblyzer" / "skipped.csv")) == 0
    x = np.load(work / "resemblyzer" / "embeddings.npy")
    assert x.shape == (len(segments), 256) and np.isfinite(x).all()


def test_study_init_chose_a_grid_outside_the_papers_and_features_from_the_labels(built):
    work, _, init, _ = built
    s = study.load(work / "study.yml")
    assert set(s.features) == {"language", "gender", "is_music"}
    paper = paper_reference.grid("fig2", "recall")
    assert not set(s.grid.latent_dims) & set(paper.index) and not {f"k{k}" for k in s.grid.ks} & set(paper.columns)
    assert "grid: latent" in init and "training: 5000 optimizer steps" in init


def test_every_chapter_ran_and_the_book_was_built(built):
    _, out, _, book = built
    index = out / "_build" / "html" / "index.html"
    assert book.strip().splitlines()[-1] == str(index) and index.is_file()
    for name in pipeline.ORDER:
        nb = nbformat.read(out / "notebooks" / f"{name}.ipynb", as_version=4)
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, name
        html = (out / "_build" / "html" / "book" / "notebooks" / f"{name}.html").read_text()
        assert "Traceback" not in html, name
    assert not list((out / "notebooks").glob("*.failed.ipynb"))


def test_every_sae_of_the_book_converged_by_its_own_report(built):
    work, out, _, _ = built
    s = study.load(work / "study.yml")
    grid = load_grid(out / "grid", expand_grid(s.grid.latent_dims, s.grid.ks))
    table = pd.read_csv(out / "tables" / "grid_training.csv")
    assert table["converged"].all(), table.loc[~table["converged"], ["name", "convergence"]].to_string()
    audio = load_grid(out / "audio" / "grid" / "resemblyzer",
                      expand_grid(s.chapters.audio.latent_dims, s.chapters.audio.ks))
    seeds = [SparseAutoencoder.load(p) for p in sorted((out / "stability" / "models").iterdir())]  # chapter 8's
    assert len(seeds) >= 3
    for m in grid + audio + seeds:
        v = convergence.of_model(m)
        assert v is not None and v.converged, (m.cfg.name, v)
    assert "did not converge" not in (out / "_build" / "html" / "book" / "notebooks" / "02_train_grid.html").read_text()


def test_chapter_6_analysed_the_recordings_features(built):
    _, out, _, _ = built
    runs = pd.read_csv(out / "tables" / "audio_embeddings.csv", index_col="model")
    segments = pd.read_json(out / "audio" / "segments.json", lines=True)
    assert runs.loc["resemblyzer", "embedded"] == len(segments) and runs.loc["resemblyzer", "skipped"] == 0
    summary = pd.read_csv(out / "tables" / "audio_identification_steering.csv")
    assert set(summary["model"]) == {"resemblyzer"}
    assert {"es vs other", "music vs not music"} <= set(summary["label"])
    assert summary[["phi precision %", "phi recall %", "dense probe F1 %"]].notna().all().all()


def test_chapter_9_measured_verification_on_the_real_speakers(built):
    _, out, _, _ = built
    trials = pd.read_csv(out / "tables" / "verification_trials.csv")
    assert trials["target"].sum() > 0 and (~trials["target"].astype(bool)).sum() > 0
    grid = pd.read_csv(out / "tables" / "verification_grid.csv", index_col="model")
    assert np.isfinite(grid["raw_eer"]).all() and (grid["raw_eer"] < 0.5).all()


def test_chapter_12_compared_the_two_encoders_on_the_same_segments(built):
    _, out, _, _ = built
    models = pd.read_csv(out / "tables" / "universality_models.csv", index_col="model")
    other = models.loc["TitaNet (random weights)"]
    assert other["dim"] == 192 and other["only in this model"] == 0 and other["only in the study's"] == 0
    assert other["weights"].startswith("random") and models.loc["resemblyzer", "dim"] == 256
    shares = pd.read_csv(out / "tables" / "universality_shares.csv")
    assert list(shares["from"]) == ["resemblyzer", "TitaNet (random weights)"]
    assert shares.filter(like="_pct").notna().all().all()
    followed = pd.read_csv(out / "tables" / "universality_features.csv")
    assert set(followed["feature"]) >= {"es vs other", "music vs not music"}
    html = (out / "_build" / "html" / "book" / "notebooks" / "12_universality.html").read_text()
    assert "random-weight encoder" in html and "shared segments" in html


def test_chapter_13_trained_the_wide_dictionaries_and_flagged_them_as_underdetermined(built):
    work, out, init, _ = built
    assert "chapters.wide: no dictionary wider than the grid" in init
    sizes = pd.read_csv(out / "tables" / "wide_sizes.csv")
    times = pd.read_csv(out / "tables" / "wide_time.csv", index_col="latent_dim")["train_seconds"]
    assert 512 in set(sizes["latent_dim"]) and times.loc[512] > 0  # trained here; the grid's sizes loaded
    html = (out / "_build" / "html" / "book" / "notebooks" / "13_wide.html").read_text()
    assert "Underdetermined" in html and "512]" in html
