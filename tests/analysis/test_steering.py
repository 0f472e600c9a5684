"""Steering: Eqs. 1-3 against a hand computation, and the effect on planted data."""
import numpy as np
import pytest
import torch

from voicesae_core import SAEConfig, SparseAutoencoder
from voicesae_core.analysis import steering


def tiny():
    sae = SparseAutoencoder(SAEConfig(3, 3, d_in=2))
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        sae.W_dec.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]))
        sae.b_pre.copy_(torch.tensor([0.1, -0.1]))
    return sae.eval()


def toy_split(seed):
    """20 training rows (alternating classes) and 6 test rows (3 positive, then 3 negative)."""
    rng = np.random.default_rng(seed)
    x_train = rng.uniform(0.2, 2.0, (20, 2)).astype(np.float32)
    x_test = rng.uniform(0.2, 2.0, (6, 2)).astype(np.float32)
    return x_train, np.arange(20) % 2 == 0, x_test, np.arange(6) < 3


def test_eqs_1_to_3_by_hand():
    sae = tiny()
    x = np.array([[1.1, 0.9], [0.4, 2.1]], np.float32)  # row 0 positive, row 1 negative
    positive = np.array([True, False])
    # By hand: v = ReLU(TopK(W_enc (x - b_pre))); row 0: x - b_pre = (1, 1) -> v = (1, 1, 2)
    # row 1: (0.3, 2.2) -> v = (0.3, 2.2, 2.5). Steer latent phi = 2 with a_phi = 1:
    v_tilde = np.array([[1.0, 1.0, -1.0], [0.3, 2.2, 1.0]])  # Eq. 1 for row 0, Eq. 2 for row 1
    W_dec, b_pre = sae.W_dec.detach().numpy(), sae.b_pre.detach().numpy()
    expected = v_tilde @ W_dec + b_pre
    np.testing.assert_allclose(steering.steer(sae, x, 2, positive, a_phi=1.0), expected, atol=1e-6)
    np.testing.assert_allclose(steering.reconstruct(sae, x), np.array([[1, 1, 2], [0.3, 2.2, 2.5]]) @ W_dec + b_pre,
                               atol=1e-6)
    c_pos, c_neg = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    want = [cos(e, c_pos) - cos(e, c_neg) for e in expected]
    np.testing.assert_allclose(steering.delta_s(expected, c_pos, c_neg), want, atol=1e-6)


def test_experiment_centroids_are_of_reconstructed_training_embeddings():
    sae, (x_train, y_train, x_test, y_test) = tiny(), toy_split(0)
    r = steering.steering_experiment(sae, x_train, y_train, x_test, y_test, phi=2, a_phi=1.0)
    eps = steering.reconstruct(sae, x_train)
    np.testing.assert_allclose(r.c_pos, eps[y_train].mean(0), atol=1e-6)
    np.testing.assert_allclose(r.c_neg, eps[~y_train].mean(0), atol=1e-6)
    np.testing.assert_allclose(r.delta_after, steering.delta_s(steering.steer(sae, x_test, 2, y_test), r.c_pos, r.c_neg))
    means = r.means()
    assert means["positive"][0] == pytest.approx(r.delta_before[:3].mean())
    assert means["negative"][1] == pytest.approx(r.delta_after[3:].mean())


def test_steering_the_planted_spanish_latent_moves_both_classes(quick, quick_sae):
    from voicesae_core.analysis import probe
    lang, sae = quick["language"], quick_sae
    train, test = lang.split("train"), lang.split("test")
    y_tr, y_te = (train.metadata.language == "es").to_numpy(), (test.metadata.language == "es").to_numpy()
    phi = probe.identify(sae, train.embeddings, y_tr, test.embeddings, y_te).phi
    means = steering.steering_experiment(sae, train.embeddings, y_tr, test.embeddings, y_te, phi).means()
    (sp_before, sp_after), (en_before, en_after) = means["positive"], means["negative"]
    assert sp_before > 0 > en_before  # before: each class nearer its own centroid
    assert sp_after < 0 < en_after  # after: the sign flips, as in the paper's Table III


def test_means_table_and_sweep_by_hand():
    sae, (x_train, y_train, x_test, y_test) = tiny(), toy_split(1)
    r = steering.steering_experiment(sae, x_train, y_train, x_test, y_test, phi=2, a_phi=1.0)
    t = steering.means_table(r, "Spanish", "English")
    assert t.loc["Spanish", "delta_s_after"] == pytest.approx(r.delta_after[:3].mean())
    assert t.loc["English", "delta_s_before"] == pytest.approx(r.delta_before[3:].mean())
    sweep = steering.sweep(sae, x_train, y_train, x_test, y_test, 2, [0.0, 1.0, 3.0])
    row = sweep.set_index("a_phi").loc[1.0]
    assert row["positive_mean_after"] == pytest.approx(t.loc["Spanish", "delta_s_after"])
    assert row["negative_now_positive_pct"] == pytest.approx(100 * (r.delta_after[3:] > 0).mean())
    # a_phi = 0 only zeroes the latent: by hand, decode v with v_2 = 0 for every row.
    v = np.maximum(0, (x_test - sae.b_pre.detach().numpy()) @ sae.W_enc.detach().numpy().T)
    v[:, 2] = 0
    eps0 = v @ sae.W_dec.detach().numpy() + sae.b_pre.detach().numpy()
    d0 = steering.delta_s(eps0, r.c_pos, r.c_neg)
    zero = sweep.set_index("a_phi").loc[0.0]
    assert zero["positive_mean_after"] == pytest.approx(d0[:3].mean(), abs=1e-6)
    assert zero["negative_mean_after"] == pytest.approx(d0[3:].mean(), abs=1e-6)
    assert (sweep["positive_mean_before"] == r.delta_before[:3].mean()).all()


def test_compare_text_says_whether_the_signs_match_the_paper():
    import pandas as pd
    cols = pd.MultiIndex.from_product([["ours", "paper"], ["delta_s_before", "delta_s_after"]])
    t = pd.DataFrame([[0.2, -0.6, 0.16, -0.52], [0.1, 0.4, -0.091, 0.475]], index=["Spanish", "English"], columns=cols)
    text = steering.compare_text(t, "Table III")
    assert text.startswith("**Table III**: Spanish: ours +0.200 → -0.600, paper +0.160 → -0.520 (same signs as the paper)")
    assert "English: ours +0.100 → +0.400, paper -0.091 → +0.475 (signs differ from the paper)" in text


def test_identify_and_steer_is_the_probe_the_dense_probe_and_steering(quick, quick_sae):
    from voicesae_core.analysis import probe
    from voicesae_core.data import labels
    t = labels.task(quick["language"], "language", "es", ["en"], name="Spanish vs English")
    row = steering.identify_and_steer(quick_sae, t, a_phi=1.0)
    assert list(row) == steering.IDENTIFY_STEER_COLUMNS
    found = probe.identify(quick_sae, t.x_train, t.y_train, t.x_test, t.y_test)
    dense = probe.dense_probe(t.x_train, t.y_train, t.x_test, t.y_test)
    m = steering.steering_experiment(quick_sae, t.x_train, t.y_train, t.x_test, t.y_test, found.phi, 1.0).means()
    assert (row["label"], row["test rows"], row["phi"], row["note"]) == ("Spanish vs English", len(t.y_test), found.phi,
                                                                         probe.note(found))
    assert row["phi precision %"] == round(100 * found.scores.precision, 1)
    assert row["phi recall %"] == round(100 * found.scores.recall, 1)
    assert row["dense probe F1 %"] == round(100 * dense.f1, 1)
    assert (row["delta_s before (+)"], row["delta_s after (+)"]) == (round(m["positive"][0], 3), round(m["positive"][1], 3))
    assert (row["delta_s before (-)"], row["delta_s after (-)"]) == (round(m["negative"][0], 3), round(m["negative"][1], 3))


def test_identify_and_steer_text_says_whether_steering_flips_the_sign():
    import pandas as pd
    base = {"test rows": 16, "phi": 54, "phi precision %": 100.0, "phi recall %": 25.0, "dense probe F1 %": 84.2,
            "note": "", "delta_s before (-)": 0.0, "delta_s after (-)": 0.0}
    table = pd.DataFrame([{"model": "m1", "label": "Spanish vs English", **base, "delta_s before (+)": 0.114,
                           "delta_s after (+)": -0.101},
                          {"model": "m2", "label": "music vs voice", **base, "delta_s before (+)": 1.6,
                           "delta_s after (+)": 0.022}]).set_index(["model", "label"])
    text = steering.identify_and_steer_text(table)
    assert text == ("With m1, Spanish vs English: phi = 54 alone gives precision 100.0 % and recall 25.0 % on 16 test "
                    "segments (dense probe F1 84.2 %); steering it flips the sign of the positives' mean delta_s "
                    "(0.114 -> -0.101). With m2, music vs voice: phi = 54 alone gives precision 100.0 % and recall "
                    "25.0 % on 16 test segments (dense probe F1 84.2 %); steering it does not flip the sign of the "
                    "positives' mean delta_s (1.6 -> 0.022).")
