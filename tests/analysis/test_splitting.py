"""Feature splitting on hand-built SAEs where the Spanish latent splits by construction."""
import numpy as np
import pytest
import torch

from voicesae_core import SAEConfig, SparseAutoencoder, VoicesaeError
from voicesae_core.analysis import splitting
from voicesae_core.analysis.splitting import NONE


def built(rows_enc, rows_dec):
    enc, dec = torch.tensor(np.array(rows_enc), dtype=torch.float32), torch.tensor(np.array(rows_dec), dtype=torch.float32)
    sae = SparseAutoencoder(SAEConfig(len(enc), 1, d_in=enc.shape[1]))
    with torch.no_grad():
        sae.W_enc.copy_(enc)
        sae.W_dec.copy_(dec / dec.norm(dim=1, keepdim=True))
    return sae.eval()


def data(n_each, seed):
    # Axes: 0 Spanish, 1 Spanish-female, 2 Spanish-male, 3-5 English speakers' traits.
    rng = np.random.default_rng(seed)
    x = np.abs(rng.normal(0, 0.05, (4 * n_each, 6)))
    group = np.repeat(["es_f", "es_m", "en_f", "en_m"], n_each)
    x[group == "es_f", 0], x[group == "es_f", 1] = 1.0, 1.2
    x[group == "es_m", 0], x[group == "es_m", 2] = 1.0, 1.2
    english = np.flatnonzero(np.isin(group, ["en_f", "en_m"]))
    x[english, 3 + rng.integers(0, 3, len(english))] = 1.0
    return x.astype(np.float32), group


def test_split_detected_and_flows_conserve_counts():
    eye = np.eye(6)
    small = built(eye[[0, 3, 4, 5]], eye[[0, 3, 4, 5]])  # one Spanish latent (0) reading axis 0
    # The larger SAE has a Spanish-female latent (0) and a Spanish-male latent (4), whose decoder
    # directions keep a share of the parent's Spanish direction.
    big = built(eye[[1, 3, 5, 4, 2]], [eye[0] + eye[1], eye[3], eye[5], eye[4], eye[0] + eye[2]])
    x_train, g_train = data(40, 0)
    x_test, g_test = data(25, 1)
    res = splitting.follow([big, small], x_train, np.char.startswith(g_train, "es"), x_test)
    assert res.latent_dims == [4, 5]
    assert res.label_latents == [[0], [0, 4]] or res.label_latents == [[0], [4, 0]]
    # Every test sample is in exactly one node per size: flows conserve counts.
    for i, f in enumerate(res.flows):
        assert sum(f.values()) == len(x_test)
        for node in set(res.assignment[:, i]):
            assert sum(c for (p, _), c in f.items() if p == node) == (res.assignment[:, i] == node).sum()
    assert res.flows[0] == {(NONE, NONE): 50, (0, 0): 25, (0, 4): 25}
    assert len(res.splits) == 1
    split = res.splits[0]
    assert (split.latent_dim, split.parent, split.next_latent_dim) == (4, 0, 5)
    assert sorted(split.children) == [0, 4] and np.allclose(split.shares, 0.5)
    assert np.allclose(split.decoder_cosines, 1 / np.sqrt(2), atol=1e-6)
    text = splitting.split_text(res, "Spanish")
    assert text.startswith("Spanish latent #0 at latent size 4 splits at 5 into #") and "share 0.50" in text


def test_no_split_when_the_feature_stays_whole():
    eye = np.eye(6)
    a = built(eye[[0, 3, 4, 5]], eye[[0, 3, 4, 5]])
    rows = np.array([eye[3], eye[0], eye[4], eye[5], 0.5 * eye[4]])  # no sub-feature latent:
    b = built(rows, rows)                                               # Spanish read whole (latent 1)
    x_train, g_train = data(40, 0)
    x_test, _ = data(25, 1)
    res = splitting.follow([a, b], x_train, np.char.startswith(g_train, "es"), x_test)
    assert res.splits == [] and res.flows[0][(0, 1)] == 50
    assert splitting.split_text(res, "Spanish") == "No split of a Spanish latent was detected over latent sizes 4, 5."


def test_sankey_links_conserve_counts_per_group():
    eye = np.eye(6)
    small = built(eye[[0, 3, 4, 5]], eye[[0, 3, 4, 5]])
    big = built(eye[[1, 3, 5, 4, 2]], [eye[0] + eye[1], eye[3], eye[5], eye[4], eye[0] + eye[2]])
    x_train, g_train = data(40, 0)
    x_test, g_test = data(25, 1)
    res = splitting.follow([small, big, big], x_train, np.char.startswith(g_train, "es"), x_test)
    links = splitting.sankey_links(res, g_test)
    assert set(links.step) == {0, 1}
    for step, part in links.groupby("step"):
        assert part["count"].sum() == len(x_test)  # every sample flows once per step
        for g in set(g_test):  # ... and so does every group
            assert part[part.group == g]["count"].sum() == (g_test == g).sum()
    # What flows into a node at one step flows out of it at the next.
    inflow = links[links.step == 0].groupby("target")["count"].sum()
    outflow = links[links.step == 1].groupby("source")["count"].sum()
    assert inflow.to_dict() == outflow.to_dict()
    spanish_f = links[(links.step == 0) & (links.group == "es_f")]
    assert spanish_f[["source", "target", "count"]].values.tolist() == [[0, 0, 25]]
    nodes = splitting.node_table(res, g_test)
    assert nodes.loc[(5, 4), "es_m"] == 25 and nodes.loc[(5, 4)].sum() == 25
    assert nodes.groupby(level="latent_dim").sum().sum(axis=1).eq(len(x_test)).all()
    table = splitting.split_table(res)
    assert sorted(table.child) == [0, 4] and (table.parent == 0).all()
    with pytest.raises(VoicesaeError, match="3 group labels for 100 test samples"):
        splitting.sankey_links(res, g_test[:3])


def test_hierarchy_specific_rule_finds_children_the_largest_activation_hides():
    # The big SAE keeps a whole-Spanish latent (0, reading axis 0 strongly) beside a Spanish-female
    # (1) and a Spanish-male (2) latent: the parent fires on every Spanish sample, each child on
    # one gender, with a smaller activation than the parent's.
    eye = np.eye(6)
    small = built(eye[[0, 3, 4, 5]], eye[[0, 3, 4, 5]])
    big = built([2 * eye[0], 0.5 * eye[1], 0.5 * eye[2], eye[3], eye[4], eye[5]],
                [eye[0], eye[0] + eye[1], eye[0] + eye[2], eye[3], eye[4], eye[5]])
    big.cfg = SAEConfig(6, 3, d_in=6)  # K = 3: parent and child both fire
    with torch.no_grad():
        big.b_lat.fill_(-0.2)  # and the small noise on other axes does not
    x_train, g_train = data(40, 0)
    x_test, g_test = data(25, 1)
    y_train = np.char.startswith(g_train, "es")
    specific = splitting.follow([small, big], x_train, y_train, x_test)
    assert sorted(specific.label_latents[1]) == [0, 1, 2]
    f = specific.flows[0]
    assert f[(0, 1)] == 25 and f[(0, 2)] == 25 and (0, 0) not in f  # each gender to its child
    assert [(s.parent, sorted(s.children)) for s in specific.splits] == [(0, [1, 2])]
    largest = splitting.follow([small, big], x_train, y_train, x_test, rule="activation")
    assert largest.flows[0][(0, 0)] == 50 and not largest.splits  # the parent's activation wins
    firing = splitting.firing_table(specific, g_test)
    assert firing.loc[(6, 0)].to_dict() == {"en_f": 0, "en_m": 0, "es_f": 25, "es_m": 25}  # co-firing kept
    assert firing.loc[(6, 2), "es_m"] == 25 and firing.loc[(6, 2), "es_f"] == 0
    with pytest.raises(VoicesaeError, match="rule must be"):
        splitting.follow([small, big], x_train, y_train, x_test, rule="biggest")
