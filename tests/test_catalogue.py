import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from voicesae_core import SAEConfig, SparseAutoencoder, VoicesaeError
from voicesae_core import catalogue as cat
from voicesae_core.ground_truth import GroundTruth


def identity_sae(d: int) -> SparseAutoencoder:
    """Latent j reads and writes dimension j (K = d keeps every positive latent)."""
    sae = SparseAutoencoder(SAEConfig(d, d, d_in=d))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
        sae.b_pre.zero_()
        sae.b_lat.zero_()
    return sae


def test_aucs_match_sklearn_including_ties_at_zero():
    rng = np.random.default_rng(0)
    v = np.maximum(rng.standard_normal((300, 4)), 0)  # about half of every column is 0: ties
    meta = pd.DataFrame({"lang": rng.choice(["en", "es", "fr"], 300)})
    aucs = cat.label_aucs(v, meta, ["lang"])
    assert list(aucs.columns) == ["lang=en", "lang=es", "lang=fr"]
    for j in range(4):
        assert aucs.loc[j, "lang=es"] == pytest.approx(roc_auc_score(meta.lang == "es", v[:, j]))


def test_label_columns_are_the_few_valued_ones():
    meta = pd.DataFrame({"id": list("abcd"), "split": ["train"] * 4, "language": ["en", "es", "en", "es"],
                         "noise": [0.1, 0.2, 0.3, 0.4], "codec": [0, 1, 2, 3], "constant": [1, 1, 1, 1]})
    assert cat.label_columns(meta, max_values=3) == ["language"]


def test_catalogue_of_a_known_sae():
    rng = np.random.default_rng(1)
    n, d = 400, 6
    es = rng.random(n) < 0.5
    x = np.abs(rng.standard_normal((n, d))) * 0.1
    x[:, 2] += np.where(es, 1.0, 0.0)  # dimension 2 = Spanish
    meta = pd.DataFrame({"language": np.where(es, "es", "en"), "gender": rng.choice(["f", "m"], n)})
    truth = GroundTruth(np.eye(d)[[2, 4]], ["spanish", "other"], np.zeros(1, int), np.zeros(0, int), np.zeros(0))
    table = cat.catalogue(identity_sae(d), x, meta, truth=truth, centroid_columns=["language"])
    assert table.loc[2, "best_label"] == "language=es" and table.loc[2, "best_auc"] > 0.99
    assert table.loc[2, "nearest_feature"] == "spanish" and table.loc[2, "nearest_cos"] == pytest.approx(1.0)
    assert table.loc[2, "cos language=es"] > 0.9 > -0.9 > table.loc[2, "cos language=en"]
    assert table["firing_pct"].between(99, 100).all()  # |noise| > 0: every latent fires
    assert table.loc[2, "mean_activation"] == pytest.approx(x[:, 2].mean(), rel=1e-5)
    assert cat.top_rows(identity_sae(d), x, 2, 5).tolist() == np.argsort(-x[:, 2])[:5].tolist()
    with pytest.raises(VoicesaeError, match=r"no column\(s\) \['speaker'\]"):
        cat.catalogue(identity_sae(d), x, meta, columns=["speaker"])


def test_lineage_parent_and_children_by_decoder_cosine():
    small = identity_sae(4)
    mid = identity_sae(4)
    with torch.no_grad():
        big = SparseAutoencoder(SAEConfig(6, 2, d_in=4))
        rows = np.array([[1, 0.1, 0, 0], [1, -0.1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0.9, 0.1]])
        big.W_dec.copy_(torch.tensor(rows / np.linalg.norm(rows, axis=1, keepdims=True), dtype=torch.float32))
    lin = cat.lineage(mid, small, big)
    assert lin["parent"].tolist() == ["L4:0", "L4:1", "L4:2", "L4:3"] and lin["parent_cos"].tolist() == pytest.approx([1] * 4)
    assert lin.loc[0, "children"] == "L6:0 L6:1"  # latent 0 split in two one size up
    assert lin.loc[2, "children"] == "L6:3 L6:5"


def test_sortable_html_is_escaped_and_carries_numbers():
    table = pd.DataFrame({"firing_pct": [2.5, 10.0], "best_label": ["a<b", "c"]}, index=pd.Index([0, 1], name="latent"))
    h = cat.sortable_html(table, {1: "latents/x.html"})
    assert 'data-v="2.5"' in h and "a&lt;b" in h and '<a href="latents/x.html">1</a>' in h
    assert "<script>" in h and "http" not in h


def test_sample_rows_is_seeded_and_sorted():
    a, b = cat.sample_rows(1000, 10, 3), cat.sample_rows(1000, 10, 3)
    assert (a == b).all() and (np.diff(a) > 0).all()
    assert len(cat.sample_rows(5, 0)) == 5 and len(cat.sample_rows(5, 50)) == 5


def test_segment_audio_reads_a_relative_path_from_the_manifest_folder(tmp_path):
    from conftest import tone, write_wav
    write_wav(tmp_path / "a.wav", tone(3.0))
    clip = cat.segment_audio(tmp_path / "manifest.json", pd.Series({"audio_filepath": "a.wav", "offset": 1.0, "duration": 1.5}))
    assert clip.sample_rate == 16000 and len(clip.signal) == 24000
