"""Universality: latents of two speaker models' SAEs matched by activation correlation over shared segments."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from voicesae_core import SAEConfig, SparseAutoencoder, TrainConfig, VoicesaeError, train_grid
from voicesae_core.analysis import universality
from voicesae_core.data.manifest import Dataset


def dataset(x, ids, path="a.json"):
    return Dataset(np.asarray(x, np.float32), pd.DataFrame({"id": ids, "split": "train"}), {}, Path(path))


def test_correlations_are_pearsons_and_a_dead_latent_has_none():
    rng = np.random.default_rng(0)
    va, vb = rng.random((200, 5)), rng.random((200, 4))
    va[:, 2] = 0.0  # never fires
    c = universality.correlations(va, vb)
    with np.errstate(invalid="ignore"):
        want = np.corrcoef(va.T, vb.T)[:5, 5:]
    live = [0, 1, 3, 4]
    assert np.allclose(c[live], want[live]) and np.isnan(c[2]).all()
    partner, best = universality.best_match(c)
    assert partner[2] == -1 and np.isnan(best[2])
    assert (partner[live] == np.nanargmax(want[live], 1)).all()


def test_join_aligns_by_id_in_the_first_models_order_and_counts_what_is_left_out():
    a = dataset(np.arange(5)[:, None] * [1.0, 1.0], ["s0", "s1", "s2", "s3", "s4"])
    b = dataset(np.arange(4)[:, None] * [10.0, 10.0, 10.0], ["s3", "x9", "s1", "s0"], "b.json")
    j = universality.join(a, b)
    assert j.a.metadata["id"].tolist() == ["s0", "s1", "s3"] and j.b.metadata["id"].tolist() == ["s0", "s1", "s3"]
    assert j.b.embeddings[:, 0].tolist() == [30.0, 20.0, 0.0]  # b's rows for s0, s1, s3
    assert (j.only_a, j.only_b) == (2, 1)


def test_join_names_a_duplicate_id_and_refuses_models_of_other_segments():
    a = dataset(np.zeros((3, 2)), ["s0", "s1", "s0"])
    with pytest.raises(VoicesaeError, match=r"a.json: row 2: id 's0' appears twice"):
        universality.join(a, dataset(np.zeros((1, 2)), ["s0"], "b.json"))
    with pytest.raises(VoicesaeError, match=r"b.json: shares 0 segment id"):
        universality.join(dataset(np.zeros((3, 2)), ["s0", "s1", "s2"]), dataset(np.zeros((3, 2)), ["t0", "t1", "t2"], "b.json"))


def sae_with(w_enc: np.ndarray, w_dec: np.ndarray, k: int) -> SparseAutoencoder:
    """An SAE with the given encoder and decoder, both (L, d_in), no biases."""
    sae = SparseAutoencoder(SAEConfig(w_dec.shape[0], k, d_in=w_dec.shape[1]))
    with torch.no_grad():
        sae.W_enc.copy_(torch.from_numpy(w_enc.astype(np.float32)))
        sae.W_dec.copy_(torch.from_numpy(w_dec.astype(np.float32)))
        for b in ("b_lat", "b_pre"):
            getattr(sae, b).zero_()
    return sae


def two_models(n=4000, features=40, da=32, db=48, seed=0):
    """One sparse code embedded by two linear 'speaker models' of different dimensions: (codes, xa, xb, ua, ub)."""
    rng = np.random.default_rng(seed)
    codes = (rng.random((n, features)) < 0.08) * rng.uniform(0.5, 1.5, (n, features))
    ua, ub = rng.standard_normal((features, da)), rng.standard_normal((features, db))
    ua /= np.linalg.norm(ua, axis=1, keepdims=True)
    ub /= np.linalg.norm(ub, axis=1, keepdims=True)
    return codes, codes @ ua, codes @ ub, ua, ub


def test_exact_dictionaries_of_the_same_code_are_all_matched_and_shuffling_matches_none():
    codes, xa, xb, ua, ub = two_models(features=24)  # fewer features than dimensions: exactly readable
    perm = np.random.default_rng(1).permutation(len(ub))  # B's latents in another order
    # Encoders that read the code back exactly (pseudo-inverses), decoders the true directions.
    a = sae_with(np.linalg.pinv(ua).T, ua, 24)
    b = sae_with(np.linalg.pinv(ub[perm]).T, ub[perm], 24)
    ids = [f"s{i}" for i in range(len(codes))]
    j = universality.join(dataset(xa, ids), dataset(xb, ids, "b.json"))
    c = universality.compare(a, b, j, ("A", "B"), [0.5, 0.9], rows=0)
    assert (perm[c.partner] == np.arange(24)).all()
    assert c.best == pytest.approx(np.ones(24), abs=1e-4)
    assert c.aligned_cos == pytest.approx(np.ones(24), abs=1e-3)  # the linear map carries u_a to u_b
    assert c.raw_cos is None  # 32 and 48 dimensions: no plain cosine
    row = c.shares.set_index("from").loc["A"]
    assert row["matched_0.9_pct"] == 100.0 and row["shuffled_0.5_pct"] == 0.0
    assert "100.0 % of the live latents of A's SAE" in universality.summary_text(c, ("A", "B"), [0.5, 0.9])


def test_trained_saes_of_two_mixings_share_their_features_and_a_feature_one_model_lacks_has_no_counterpart():
    codes, xa, xb, ua, ub = two_models(n=6000)
    xb = (codes[:, 1:] @ ub[1:]).astype(np.float32)  # model B does not encode feature 0
    train = TrainConfig(epochs=30, batch_size=256)
    a = train_grid(xa.astype(np.float32), [SAEConfig(40, 4)], train, quiet=True).models[0]
    b = train_grid(xb, [SAEConfig(40, 4)], train, quiet=True).models[0]
    ids = [f"s{i}" for i in range(len(codes))]
    c = universality.compare(a, b, universality.join(dataset(xa, ids), dataset(xb, ids, "b.json")), ("A", "B"), [0.7])
    row = c.shares.set_index("from").loc["A"]
    assert row["matched_0.7_pct"] >= 60 and row["shuffled_0.7_pct"] == 0.0
    # The latent of A along feature 0 (which B does not carry) finds nothing it correlates with.
    lonely = int((universality.decoder_directions(a) @ ua[0]).argmax())
    assert c.best[lonely] < 0.5 < np.nanmedian(c.best)


def test_models_of_one_dimension_also_get_the_plain_decoder_cosine():
    codes, xa, _, ua, _ = two_models(features=24, da=32)
    a = sae_with(np.linalg.pinv(ua).T, ua, 24)
    ids = [f"s{i}" for i in range(len(codes))]
    c = universality.compare(a, a, universality.join(dataset(xa, ids), dataset(xa, ids, "b.json")), ("A", "A'"), [0.9])
    assert c.raw_cos == pytest.approx(np.ones(24), abs=1e-5) and (c.partner == np.arange(24)).all()
    assert "the plain decoder cosine of those pairs, without the map, has median 1.00" in \
        universality.summary_text(c, ("A", "A'"), [0.9])


def test_the_planted_check_pairs_features_both_saes_hold_and_lists_those_only_one_holds():
    p = pd.DataFrame({"cos_a": [0.9, 0.8, 0.7, 0.1], "cos_b": [0.95, 0.2, 0.6, 0.9], "corr": [0.9, 0.15, 0.4, 0.5],
                      "corr_with_latent_b": [0.9, 0.1, 0.3, 0.2], "paired": [True, False, False, False]},
                     index=pd.Index(["spanish", "codec_0", "pitch", "music"], name="feature"))
    text = universality.planted_text(p, ("A", "B"))
    assert "2 have a latent within decoder cosine 0.5 of their direction in both SAEs (spanish, pitch)" in text
    assert "pairs exactly those two latents for 1 of them" in text
    assert "1 has one in A's SAE only; their latents' best correlation with any latent of B's SAE: codec_0 0.15" in text
