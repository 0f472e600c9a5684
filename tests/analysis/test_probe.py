"""Feature identification: the metrics on a hand-made case, a hand-built SAE, planted data, bad input."""
import numpy as np
import pytest
import torch

from voicesae_core import SAEConfig, SparseAutoencoder, VoicesaeError
from voicesae_core.analysis import probe


def test_scores_hand_made():
    s = probe.scores([1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 1, 0, 0, 0])
    assert (s.tp, s.fp, s.fn, s.tn) == (2, 1, 1, 3)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 3) and s.f1 == pytest.approx(2 / 3)
    assert probe.scores([1, 0], [0, 0]).precision == 0.0  # undefined -> 0, no crash


def hand_built():
    # 4 latents reading the 4 axes, K = 1: only each row's largest axis fires.
    sae = SparseAutoencoder(SAEConfig(4, 1, d_in=4))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(4))
        sae.W_dec.copy_(torch.eye(4))
    return sae


def test_identify_finds_the_latent_that_reads_the_feature():
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(0, 0.1, (200, 4))).astype(np.float32)
    y = np.arange(200) % 2 == 0
    x[y, 2] += 1.0  # positives carry the feature on axis 2
    x[:, 0] += 0.5  # negatives' largest axis: latent 0 fires for them, latent 2 for positives
    r = probe.identify(hand_built(), x[:100], y[:100], x[100:], y[100:], "feature")
    assert r.phi == 2 and r.ranking[0] == 2 and r.weights[2] == r.weights.max()
    assert r.scores.precision == 1.0 and r.scores.recall == 1.0
    assert r.fires_in_train == 50


def test_missing_class_is_a_clear_error():
    x = np.ones((10, 4), np.float32)
    with pytest.raises(VoicesaeError, match="spanish: the train split has no positive samples"):
        probe.identify(hand_built(), x, np.zeros(10), x, np.arange(10) % 2, "spanish")
    with pytest.raises(VoicesaeError, match="spanish: the test split has no negative samples"):
        probe.identify(hand_built(), x, np.arange(10) % 2, x, np.ones(10), "spanish")


def test_on_planted_data_the_probe_finds_the_planted_spanish_direction(quick, quick_sae):
    lang, sae = quick["language"], quick_sae
    train, test = lang.split("train"), lang.split("test")
    r = probe.identify(sae, train.embeddings, train.metadata.language == "es", test.embeddings,
                       test.metadata.language == "es", "spanish")
    spanish = lang.ground_truth().direction("spanish")
    cosines = sae.W_dec.detach().numpy() @ spanish
    assert int(np.argmax(cosines)) == r.phi and cosines[r.phi] > 0.6  # the latent IS the planted feature
    assert r.scores.precision > 0.9 and r.scores.recall > 0.6


def test_grid_table_and_paper_reference(quick):
    from voicesae_core import TrainConfig, expand_grid, train_grid
    from voicesae_core.data import paper_reference
    lang = quick["language"]
    train, test = lang.split("train"), lang.split("test")
    models = train_grid(quick["sae_train"].embeddings[:8000], expand_grid([40, 60], [4, 8]),
                        TrainConfig(epochs=1, batch_size=1000), quiet=True).models
    table = probe.identify_grid(models, train.embeddings, train.metadata.language == "es", test.embeddings,
                                test.metadata.language == "es", "spanish")
    assert list(table.latent_dim) == [40, 40, 60, 60] and list(table.k) == [4, 8, 4, 8]
    grid = probe.as_grid(table, "precision")
    assert list(grid.columns) == ["k4", "k8"] and grid.loc[60, "k8"] == 100 * table.precision.iloc[3]
    paper = paper_reference.grid("fig2", "recall")
    assert paper.loc[200, "k20"] == 95.4 and paper.shape == (6, 7)
    diff = paper_reference.difference(paper * 0 + 50, paper)
    assert diff.loc[100, "k5"] == 50 - 84.2
    with_ci = probe.identify_grid(models, train.embeddings, train.metadata.language == "es", test.embeddings,
                                  test.metadata.language == "es", "spanish", n_boot=200)
    assert with_ci["phi"].tolist() == table["phi"].tolist()
    assert (with_ci.precision_low <= with_ci.precision + 1e-9).all() and (with_ci.recall <= with_ci.recall_high + 1e-9).all()
    assert "precision_low" not in table.columns


def test_error_table_and_summary_hand_made():
    import pandas as pd
    y = np.array([1, 1, 1, 0, 0, 0], bool)
    pred = np.array([1, 0, 0, 1, 0, 1], bool)
    r = probe.ProbeResult(0, np.arange(2), np.zeros(2), probe.scores(y, pred), pred, 3)
    meta = pd.DataFrame({"id": list("abcdef"), "native_spanish": [0, 0, 0, 1, 0, 0], "code_mixed": [0, 1, 0, 0, 0, 0]})
    errors = probe.error_table(r, y, meta)
    assert errors["id"].tolist() == ["b", "c", "d", "f"]
    assert errors["error"].tolist() == ["false negative", "false negative", "false positive", "false positive"]
    s = probe.error_summary(errors, ["native_spanish", "code_mixed"])
    assert s.loc["false positive", "rows"] == 2 and s.loc["false positive", "% native_spanish"] == 50.0
    assert s.loc["false negative", "% code_mixed"] == 50.0 and s.loc["false negative", "% native_spanish"] == 0.0
    with pytest.raises(VoicesaeError, match=r"no column\(s\) \['accent'\]"):
        probe.error_summary(errors, ["accent"])
    with pytest.raises(VoicesaeError, match="same test rows"):
        probe.error_table(r, y[:5], meta)


def test_a_latent_that_never_fires_is_flagged_not_silent():
    # K = 1, latents read the axes. In training the positives' largest axis is 2 (so phi = 2); on
    # the test split nobody's largest axis is 2, so phi never fires there: the grid table says so.
    y = np.arange(40) % 2 == 0
    x_train = np.zeros((40, 4), np.float32)
    x_train[y, 2], x_train[~y, 0] = 1.0, 1.0
    x_test = np.zeros((40, 4), np.float32)
    x_test[y, 1], x_test[~y, 0] = 1.0, 1.0
    table = probe.identify_grid([hand_built()], x_train, y, x_test, y, "label")
    assert table.loc[0, "phi"] == 2 and table.loc[0, "tp"] + table.loc[0, "fp"] == 0
    assert table.loc[0, "note"] == "phi never fires on the test split (precision undefined, shown as 0)"
    r = probe.identify(hand_built(), x_train, y, x_train, y, "label")
    assert probe.note(r) == "" and r.scores.precision == 1.0
    assert probe.note(r._replace(fires_in_train=0)) == "phi never fires on the training split"


def test_dense_probe_scores_a_linear_label_and_needs_both_classes():
    import pytest
    from voicesae_core import VoicesaeError
    from voicesae_core.analysis.probe import dense_probe
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 8)) * [0.001, 1, 1, 1, 1, 1, 1, 1]
    y = x[:, 0] > 0  # only a tiny-scale dimension carries the label: without standardising, C=1 misses it
    s = dense_probe(x[:300], y[:300], x[300:], y[300:])
    assert s.precision > 0.85 and s.recall > 0.85
    with pytest.raises(VoicesaeError, match="no positive"):
        dense_probe(x[:300], np.zeros(300, bool), x[300:], y[300:])
