"""Metric definitions on hand-made cases."""
import numpy as np
import pytest
import torch

from voicesae_core import SAEConfig, SparseAutoencoder, VoicesaeError, evaluate


def fixed_model(d=3, L=4, k=2):
    sae = SparseAutoencoder(SAEConfig(L, k, d_in=d))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(L, d))
        sae.W_dec.copy_(torch.eye(L, d))
    return sae.eval()


def test_mean_predictor_has_fvu_exactly_one():
    x = torch.tensor([[1.0, 2.0, 0.5], [3.0, -1.0, 0.0], [0.0, 0.0, 4.0], [2.0, 5.0, 1.0]])
    sae = fixed_model()
    with torch.no_grad():  # latents never fire (b_lat very negative): x_hat = b_pre = mean
        sae.b_lat.fill_(-1e6)
        sae.b_pre.copy_(x.mean(0))
    m = evaluate(sae, x)
    assert m.fvu == pytest.approx(1.0, abs=1e-12)
    assert m.l0 == 0 and m.dead_frac == 1.0


def test_hand_computed_case():
    # Identity encoder/decoder on 3 dims, 4 latents (latent 3 reads nothing), K = 2:
    # each row keeps its two largest positive coordinates.
    x = torch.tensor([[3.0, 1.0, 2.0], [0.0, 4.0, -1.0]])
    m = evaluate(fixed_model(), x, batch_size=1)  # streamed, one row at a time
    x_hat = np.array([[3.0, 0.0, 2.0], [0.0, 4.0, 0.0]])  # row 2: latents 1 and (0 or 3, both 0)
    err = ((x.numpy() - x_hat) ** 2).sum(1)
    assert m.fvu == pytest.approx(err.sum() / ((x.numpy() - x.numpy().mean(0)) ** 2).sum())
    assert m.nmse == pytest.approx(np.mean(err / (x.numpy() ** 2).sum(1)))
    assert m.l0 == pytest.approx(1.5)
    np.testing.assert_allclose(m.density, [0.5, 0.5, 0.5, 0.0])
    assert m.dead_frac == 0.25
    cos = (x.numpy() * x_hat).sum(1) / np.linalg.norm(x.numpy(), axis=1) / np.linalg.norm(x_hat, axis=1)
    assert m.cosine == pytest.approx(cos.mean())
    assert tuple(m.summary()) == type(m).SUMMARY  # the keys the trainer checks saved metrics against


def test_perfect_reconstruction_and_bad_input():
    sae = fixed_model(d=3, L=3, k=3)
    x = torch.rand(10, 3) + 0.1
    m = evaluate(sae, x)
    assert m.fvu == pytest.approx(0.0, abs=1e-12) and m.cosine == pytest.approx(1.0)
    with pytest.raises(VoicesaeError, match="dimension 5, but the SAE"):
        evaluate(sae, torch.rand(4, 5))


@pytest.mark.parametrize("activation", ["topk", "relu", "batchtopk"])
def test_the_one_pass_metrics_equal_the_dense_forward_in_float64(activation):
    # evaluate decodes TopK sparsely and sums in float64; here the model's own dense forward pass
    # (model.py), with every quantity in float64, on random weights and data.
    gen = torch.Generator().manual_seed(1)
    sae = SparseAutoencoder(SAEConfig(64, 6, activation, d_in=16))
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        sae.threshold.fill_(0.2)
    x = torch.randn(3000, 16, generator=gen)
    m = evaluate(sae.eval(), x, batch_size=700)
    with torch.no_grad():
        out = sae.double()(x.double())
    err = (x.double() - out.x_hat).pow(2).sum(1)
    assert m.fvu == pytest.approx(float(err.sum() / (x.double() - x.double().mean(0)).pow(2).sum()), rel=1e-5)
    assert m.nmse == pytest.approx(float((err / x.double().pow(2).sum(1)).mean()), rel=1e-5)
    assert m.cosine == pytest.approx(float(torch.nn.functional.cosine_similarity(x.double(), out.x_hat).mean()), rel=1e-5)
    assert m.l0 == pytest.approx(float((out.v > 0).sum(1).double().mean()))
    np.testing.assert_allclose(m.density, (out.v > 0).double().mean(0).numpy())
