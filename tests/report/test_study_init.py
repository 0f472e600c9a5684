"""`study init`: the features it proposes (the binary rule) and the columns it skips with a reason,
the grid for a tiny and a larger set, a written study that loads and whose tasks build, --force, and
one-line errors; on the quick default it proposes `language` and `is_music`."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from voicesae_core import VoicesaeError
from voicesae_core.__main__ import main
from voicesae_core.data.manifest import write_manifest
from voicesae_core.report import study, study_init

MEANINGS = {"accent": "accent group a/b/c", "region": "region, '' when unknown", "score": "a measurement",
            "muted": "1 when muted (never)", "rare": "1 for a rare event", "code": "a per-row code",
            "row": "running number"}


def make(folder, stem, n=240, d=32, split=True, seed=0, **columns):
    """A manifest of n random rows of dimension d; metadata: id, speaker, split (train for the first
    60 %, test after) and ``columns`` ({name: values})."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    np.save(folder / f"{stem}.npy", rng.standard_normal((n, d)).astype(np.float32))
    meta = {"id": [f"{stem}-{i}" for i in range(n)], "speaker": [f"spk{i % 30}" for i in range(n)]}
    if split:
        meta["split"] = ["train" if i < n * 0.6 else "test" for i in range(n)]
    meta.update(columns)
    pd.DataFrame(meta).to_csv(folder / f"{stem}.csv", index=False)
    return write_manifest(folder / f"{stem}.json", folder / f"{stem}.npy", folder / f"{stem}.csv", stem,
                          columns={c: MEANINGS[c] for c in columns if c in MEANINGS})


def labelled(folder, n=240):
    """A labelled set whose columns exercise every rule."""
    i = np.arange(n)
    return make(folder, "lang", n,
                language=np.where(i % 12 < 5, "es", "en"),                 # es is the rarer: es vs the rest
                is_music=(i % 6 == 0).astype(int),                          # 0/1: 1 vs [0]
                accent=np.array(["a", "b", "c"])[np.minimum(i % 10, 2)],    # a: 10 %, the least frequent
                region=np.where(i % 8 == 0, "", np.where(i % 2, "north", "south")),  # empties: listed negatives
                score=np.round(i % 7 * 0.37, 2),                            # fractional: a measurement
                muted=np.zeros(n, int),                                     # one value
                rare=(i == 3).astype(int),                                  # 1 only in train: skipped
                code=[f"c{j}" for j in i],                                  # mostly unique
                row=i % 25)                                                 # 25 values: over 20


def test_features_follow_the_binary_rule_and_skips_say_why(tmp_path):
    lang = labelled(tmp_path / "data")
    p = study_init.propose(tmp_path / "mine.yml", lang)
    f = p.study["features"]
    assert list(f) == ["language", "is_music", "accent", "region"]
    assert f["language"] == {"dataset": "sae_train", "column": "language", "positive": "es", "negative": [],
                             "names": ["es", "en"]}
    assert f["is_music"] == {"dataset": "sae_train", "column": "is_music", "positive": 1, "negative": [0],
                             "names": ["music", "not music"]}
    assert f["accent"]["positive"] == "a" and f["accent"]["negative"] == [] and f["accent"]["names"] == ["a", "other"]
    assert f["region"]["negative"] == ["north"] and f["region"]["positive"] == "south"  # empty rows left out
    text = "\n".join(p.notes)
    assert "labelled set: the training set itself" in text
    assert "skipped sae_train.rare: positive value '1' has no test rows (1 train, 0 test)" in text
    for reason in ("id (id-like)", "speaker (id-like)", "split (id-like)", "score (fractional numbers: a measurement)",
                   "muted (one value)", "code (mostly unique values)", "row (25 values, over 20)"):
        assert reason in text
    assert "0/1 columns: 1 vs [0]; others: the least frequent value vs the rest" in text


def test_the_grid_suits_a_tiny_and_a_larger_set():
    grid, single, training, lines = study_init.grid_rule(240, 32)
    assert grid["latent_dims"] == [32, 64, 96] and grid["ks"] == [4, 8, 16]
    assert single == {"latent_dim": 64, "k": 8} and training == {"steps": 5000, "batch_size": 4096}
    assert lines[0].startswith("grid: latent 32, 64, 96 (1-3x the 32-d embedding), K 4, 8, 16")
    assert "5000 optimizer steps (n < 2,000: a small set" in lines[2] and "batch 30 (capped at n/8): 625 epochs" in lines[2]
    _, _, training, lines = study_init.grid_rule(20_000, 192)
    assert training["steps"] == 2000 and "(n < 50,000: a small set" in lines[2]
    grid, single, _, lines = study_init.grid_rule(240, 192)  # 3 x 192 > 240 / 2: the 1:2:3 ratios up to 120
    assert grid["latent_dims"] == [40, 80, 120] and grid["ks"] == [4, 8, 16] and "n/2 = 120" in lines[0]
    grid, single, _, _ = study_init.grid_rule(40, 8)  # cap 20: 7, 13, 20; K below 7
    assert grid["latent_dims"] == [7, 13, 20] and grid["ks"] == [4] and single == {"latent_dim": 13, "k": 4}
    grid, single, training, lines = study_init.grid_rule(1_100_000, 192)
    assert grid["latent_dims"] == [192, 384, 576] and single == {"latent_dim": 384, "k": 8}
    assert training == {"steps": 538, "batch_size": 4096} and "the paper's budget" in lines[2]


def test_wide_dictionaries_are_proposed_only_where_the_rows_support_them():
    wide, line = study_init.wide_rule(1_100_000, 192, 20)  # 110,000 rows per 10 latents: all four
    assert wide == {"expansions": [4, 8, 16, 32], "ks": [20]} and "768, 1,536, 3,072, 6,144 latents" in line
    wide, line = study_init.wide_rule(20_000, 192, 8)  # 2,000 latents at most: 768 and 1,536
    assert wide["expansions"] == [4, 8] and "at least 10 training rows per latent on 20,000 rows" in line
    wide, line = study_init.wide_rule(146, 256, 8)
    assert wide["expansions"] == [] and line.startswith("chapters.wide: no dictionary wider than the grid")


def test_the_written_study_loads_and_its_tasks_build(tmp_path, monkeypatch):
    train = make(tmp_path / "data", "train", n=300, split=False)
    lang = labelled(tmp_path / "data")
    monkeypatch.chdir(REPO)  # has notebooks/: the sources
    out = tmp_path / "studies" / "mine.yml"
    p = study_init.init(out, train, [lang])
    s = study.load(out)
    assert s.name == "mine" and s.datasets == {"sae_train": "../data/train.json", "lang": "../data/lang.json"}
    assert s.resolve(s.sources) == REPO and list(s.features) == ["language", "is_music", "accent", "region"]
    assert all(f.dataset == "lang" for f in s.features.values())
    assert s.single_name() == "L64_k8_topk_s0" and s.chapters.splitting.k == 8
    assert s.training.plan(300) == (556, 37)  # 5,000 steps at batch 300 // 8 = 37: 556 epochs
    tasks = s.tasks()  # every proposed feature is a task with both classes in both splits
    assert tasks["language"].y_train.any() and not tasks["is_music"].y_test.all()
    assert s.stability_configs([]) == [[64, 8], [32, 4], [96, 8]]
    assert f"sources: {s.sources}" in "\n".join(p.notes)


def test_force_and_the_one_line_errors_of_the_command(tmp_path, capsys):
    data = tmp_path / "data"
    lang = labelled(data)
    out = tmp_path / "mine.yml"

    def cli(*args):
        code = main(["study", "init", "--out", str(out), *args])
        return code, capsys.readouterr()

    code, r = cli("--train", str(lang), "--name", "ours", "--sources", str(REPO))
    assert code == 0 and f"wrote {out}" in r.out and study.load(out).name == "ours"
    before = out.read_text()
    code, r = cli("--train", str(lang))
    assert code == 2 and r.err == f"error: {out}: exists; pass --force to replace it\n" and out.read_text() == before
    code, r = cli("--train", str(lang), "--force")
    assert code == 0 and study.load(out).name == "mine"

    unlabelled = make(data, "plain", split=False)
    nothing = make(data, "bare", muted=np.zeros(240, int))
    errors = [
        (["--train", str(data / "gone.json")], f"error: --train {data / 'gone.json'}: no such manifest"),
        (["--train", str(lang), "--labelled", str(unlabelled)],
         f"error: --labelled {unlabelled}: has no 'split' column; a labelled set needs a split column"),
        (["--train", str(unlabelled)], f"error: --train {unlabelled}: no --labelled set was given"),
        (["--train", str(nothing)], "error: no label-like column in sae_train"),
        (["--train", str(lang), "--sources", str(tmp_path)], f"error: --sources {tmp_path}: no notebooks/ folder"),
    ]
    for args, message in errors:
        code, r = cli(*args, "--force")
        assert code == 2 and r.err.startswith(message) and r.err.count("\n") == 1, (args, r.err)
    assert study.load(out).name == "mine"  # no failed run touched the written study


def test_roles_are_the_manifest_stems_made_unique(tmp_path):
    train = make(tmp_path / "a", "sae_train", split=False)
    other = labelled(tmp_path / "b")
    p = study_init.propose(tmp_path / "s.yml", train, [other, other])  # the same set twice: one role
    assert list(p.study["datasets"]) == ["sae_train", "lang"]
    with pytest.raises(VoicesaeError, match=r"--labelled .*sae_train.json: has no 'split' column"):
        study_init.propose(tmp_path / "s.yml", train, [train])  # the training set as a labelled set needs one
    renamed = make(tmp_path / "d", "sae_train", language=np.where(np.arange(240) % 3, "en", "es"))
    p = study_init.propose(tmp_path / "s.yml", train, [renamed])
    assert list(p.study["datasets"]) == ["sae_train", "sae_train_2"]
    assert p.study["features"]["language"]["dataset"] == "sae_train_2"


def test_on_the_quick_default_it_proposes_language_and_is_music(tmp_path, quick):
    # the quick default, generated for this session (the `quick` fixture): its manifests are in one folder
    folder = quick["sae_train"].path.parent
    out = tmp_path / "quick.yml"
    r = subprocess.run([sys.executable, "-m", "voicesae_core", "study", "init", "--out", str(out),
                        "--train", str(folder / "sae_train.json"), "--labelled", str(folder / "language.json"),
                        "--labelled", str(folder / "music.json"), "--sources", str(REPO)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = study.load(out)
    assert list(s.datasets) == ["sae_train", "language", "music"]
    lang, music = s.features["language"], s.features["is_music"]
    assert (lang.dataset, lang.column, lang.positive, lang.names) == ("language", "language", "es", ("es", "en"))
    assert (music.dataset, music.column, music.positive, music.negative) == ("music", "is_music", 1, [0])
    assert s.grid.latent_dims == [192, 384, 576] and s.grid.ks == [4, 8, 16] and s.training.steps == 538
    assert "language: language.language = 'es' vs the rest" in r.stdout
    assert "is_music: music.is_music = 1 vs [0] (names: music vs not music)" in r.stdout
