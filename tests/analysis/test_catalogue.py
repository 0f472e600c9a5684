import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from voicesae_core import SAEConfig, SparseAutoencoder, VoicesaeError
from voicesae_core.analysis import catalogue as cat
from voicesae_core.data.ground_truth import GroundTruth


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


def test_neighbour_sizes_are_one_step_down_and_up():
    assert cat.neighbour_sizes([300, 100, 200], 200) == (100, 300)
    assert cat.neighbour_sizes([100, 200, 300], 100) == (None, 200)
    assert cat.neighbour_sizes([100, 200, 300], 300) == (200, None)
    assert cat.neighbour_sizes([200], 200) == (None, None)
    with pytest.raises(VoicesaeError, match=r"latent_dim 250 is not among the grid's latent sizes \[100, 200\]"):
        cat.neighbour_sizes([100, 200], 250)


def test_top_latents_by_best_auc_else_the_first():
    table = pd.DataFrame({"best_auc": [0.6, 0.95, 0.7, 0.99]}, index=pd.RangeIndex(4, name="latent"))
    assert cat.top_latents(table, 2) == [3, 1]
    assert cat.top_latents(table, 10) == [3, 1, 2, 0]
    assert cat.top_latents(table.drop(columns="best_auc"), 2) == [0, 1]


def test_findings_say_what_the_catalogue_measured():
    table = pd.DataFrame({"firing_pct": [0.0, 10.0, 20.0, 30.0],
                          "best_label": ["language=es", "language=es", "is_music=1", "gender=male"],
                          "best_auc": [0.5, 0.95, 0.99, 0.6]}, index=pd.RangeIndex(4, name="latent"))
    assert cat.findings(table) == [
        "2 of 4 latents rank some label value with AUC >= 0.9; 1 never fire on the sample; the median latent fires on "
        "15.0 % of rows.",
        "`is_music=1`: latent(s) 2 (best AUC 0.990)",
        "`language=es`: latent(s) 1 (best AUC 0.950)"]
    planted = table.assign(nearest_feature=["spanish", "spanish", "trait_3", "trait_4"], nearest_cos=[0.4, 0.8, 0.75, 0.2])
    assert cat.findings(planted)[-1] == ("Closest to the planted `spanish` direction: latent 1; 2 latents have a planted "
                                         "feature at cosine >= 0.7.")
    assert "latent none" in cat.findings(planted.assign(nearest_feature="trait_1"))[-1]
    assert cat.findings(table.drop(columns=["best_label", "best_auc"])) == []
