"""The embedded default benchmark: determinism, the paper's counts, disjoint speakers, planted truth."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from voicesae_core.data import synthetic
from voicesae_core.files import sha256_file

REPO = Path(__file__).resolve().parents[2]
REF = REPO / "data_manifests" / "paper_reference"


def test_quick_profile_matches_the_committed_manifests(quick):
    # The committed hashes were made by `data generate --profile quick`: same bytes here.
    for name, ds in quick.items():
        committed = json.loads((REPO / "data_manifests" / "synthetic-quick" / f"{name}.json").read_text())
        for key in ("embeddings", "metadata", "ground_truth"):
            assert ds.manifest[key]["sha256"] == committed[key]["sha256"], (name, key)
        assert ds.manifest["rows"] == committed["rows"]


def test_deterministic_in_seed(tmp_path):
    a = synthetic.generate(tmp_path / "a", scale=0.005, seed=3, quiet=True)
    b = synthetic.generate(tmp_path / "b", scale=0.005, seed=3, quiet=True)
    c = synthetic.generate(tmp_path / "c", scale=0.005, seed=4, quiet=True)
    for name in a:
        for key in a[name]["files"]:
            assert sha256_file(a[name]["files"][key]) == sha256_file(b[name]["files"][key])
        assert sha256_file(a[name]["files"]["embeddings"]) != sha256_file(c[name]["files"]["embeddings"])


def test_full_scale_counts_are_the_papers():
    parts, _ = synthetic._plan(1.0, np.random.default_rng(0))
    table1 = pd.read_csv(REF / "table1_language_dataset.csv")
    lang = parts["language"]
    for _, row in table1.iterrows():
        gender = {"f": "female", "m": "male"}[row["gender"]]
        for split in ("train", "test"):
            n = ((lang.split == split) & (lang.language == row["language"]) & (lang.gender == gender)).sum()
            assert n == row[split], (row["group"], split)
    table2 = pd.read_csv(REF / "table2_music_dataset.csv")
    music = parts["music"]
    for _, row in table2.iterrows():
        for split in ("train", "test"):
            n = ((music.split == split) & (music.is_music == int(row["class"] == "music"))).sum()
            assert n == row[split], (row["class"], split)
    sae = parts["sae_train"]
    assert len(sae.speaker) == 1_100_000 and len(set(sae.speaker[sae.speaker >= 0])) == 29_000
    english = (sae.language == "en").mean() / (sae.language != "none").mean()
    assert 0.8 < english < 0.95 and 0.02 < sae.is_music.mean() < 0.04


def test_speakers_disjoint(quick):
    spk = {n: ds.metadata.loc[ds.metadata.is_music == 0, "speaker"] for n, ds in quick.items()}
    assert not set(spk["sae_train"]) & set(spk["language"])
    assert not set(spk["sae_train"]) & set(spk["music"])
    assert not set(spk["language"]) & set(spk["music"])
    lang = quick["language"].metadata
    assert not set(lang.speaker[lang.split == "train"]) & set(lang.speaker[lang.split == "test"])


def test_embeddings_look_like_speaker_embeddings(quick):
    ds = quick["sae_train"]
    assert np.allclose(np.linalg.norm(ds.embeddings, axis=1), 1.0, atol=1e-5)  # L2-normalised
    voice = ds.metadata.is_music.to_numpy() == 0
    x, spk = ds.embeddings[voice], ds.metadata.speaker[voice].to_numpy()
    centroids = pd.DataFrame(x).groupby(spk).mean()
    within = np.mean(np.linalg.norm(x - centroids.loc[spk].to_numpy(), axis=1))
    between = np.mean(np.linalg.norm(centroids.to_numpy() - centroids.to_numpy().mean(0), axis=1))
    assert within < between


def test_spanish_is_linearly_recoverable_and_the_null_is_not(quick):
    ds = quick["language"]
    train, test = ds.split("train"), ds.split("test")
    y_tr, y_te = (train.metadata.language == "es").to_numpy(), (test.metadata.language == "es").to_numpy()
    probe = LogisticRegression(max_iter=2000).fit(train.embeddings, y_tr)
    assert probe.score(test.embeddings, y_te) > 0.9
    # The null: the same probe trained on shuffled labels, over 20 shuffles (one shuffle of a
    # small training set can correlate with the truth by chance).
    rng = np.random.default_rng(0)
    null = [LogisticRegression(max_iter=2000).fit(train.embeddings, rng.permutation(y_tr)).score(test.embeddings, y_te)
            for _ in range(20)]
    assert np.mean(null) < 0.65


def test_ground_truth_matches_labels(quick):
    ds = quick["language"]
    gt = ds.ground_truth()
    assert len(gt.names) == len(set(gt.names)) > 192  # superposed: more features than dimensions
    assert np.allclose(np.linalg.norm(gt.directions, axis=1), 1.0, atol=1e-6)
    acts = gt.activations(["spanish", "spanish_female", "spanish_male", "pitch"])
    meta = ds.metadata
    es, en = (meta.language == "es").to_numpy(), (meta.language == "en").to_numpy()
    assert (acts[es, 0] > 0).all() and (acts[en & (meta.native_spanish == 0).to_numpy(), 0] == 0).all()
    assert (acts[en & (meta.native_spanish == 1).to_numpy(), 0] > 0).all()  # accent
    female = (meta.gender == "female").to_numpy()
    assert (acts[es & female, 1] > 0).all() and (acts[es & female, 2] == 0).all()
    assert acts[female, 3].mean() > 0 > acts[~female, 3].mean()  # pitch: a continuum
    music = quick["music"]
    m_acts = music.ground_truth().activations(["music"])[:, 0]
    assert ((m_acts > 0) == (music.metadata.is_music == 1).to_numpy()).all()


def test_model_b_embeds_the_same_rows_through_its_own_mixing_without_the_codecs(quick):
    a, b = quick["sae_train"], quick["sae_train.model_b"]
    assert b.embeddings.shape == (len(a.embeddings), synthetic.D_B)
    assert b.manifest["metadata"]["sha256"] == a.manifest["metadata"]["sha256"]  # one metadata file: same segments
    assert b.manifest["provenance"]["speaker_model"] == "model_b"
    ta, tb = a.ground_truth(), b.ground_truth()
    assert tb.directions.shape == (len(synthetic.FEATURES), synthetic.D_B)
    model, _ = synthetic.model_b(0, 1)
    assert np.allclose(tb.directions, model.directions, atol=1e-7)  # the mixing the module documents
    # Row by row, B's true activations are A's times B's gain per feature, the codecs left out.
    dense_a, dense_b = ta.activations(), tb.activations()
    codecs = [synthetic.F[f] for f in synthetic.UNENCODED_B]
    assert not dense_b[:, codecs].any() and dense_a[:, codecs].any()
    assert np.allclose(dense_b, dense_a * model.gains[None, :].astype(np.float32), atol=1e-6)
    assert ((model.gains == 0) == np.isin(np.arange(len(synthetic.FEATURES)), codecs)).all()
    # The planted features B encodes are there: Spanish is linearly readable from B's embeddings, as from A's.
    speech = (a.metadata["is_music"] == 0).to_numpy()
    y = (a.metadata["language"] == "es").to_numpy()[speech]
    half = len(y) // 2
    for x in (a.embeddings[speech], b.embeddings[speech]):
        clf = LogisticRegression(max_iter=2000).fit(x[:half], y[:half])
        assert clf.score(x[half:], y[half:]) > 0.95
