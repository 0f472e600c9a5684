"""The sparse kernels against plain torch, and the sparse gradients against autograd on loss.sae_loss."""
import pytest
import torch

from voicesae_core import SAEConfig, TrainConfig
from voicesae_core.sae import kernels
from voicesae_core.sae.loss import sae_loss
from voicesae_core.sae.trainer import GridMember

BACKENDS = ["numba", "torch"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_matches_torch_topk(backend):
    z = torch.randn(257, 90)
    z[:5] = -z[:5].abs()  # rows with no positive entry: ReLU after TopK zeroes them
    code = kernels.topk(z, 7, backend)
    ref_vals, ref_idx = torch.topk(z, 7)
    assert torch.equal(code.idx.sort(1).values, ref_idx.sort(1).values)
    assert torch.allclose(code.act.sort(1).values, ref_vals.clamp(min=0).sort(1).values)
    assert (code.act >= 0).all() and (code.act[:5] == 0).all() and (code.act[5:] > 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_topk_keeps_k_per_sample_on_average(backend):
    z = torch.randn(64, 50) + 3.0  # all positive in practice: exactly k*n kept
    code, thr = kernels.batch_topk(z, 5, backend)
    kept = code.act > 0
    assert int(kept.sum()) == 5 * 64
    assert float(code.act[kept].min()) == pytest.approx(float(thr))
    assert kept.sum(1).max() > 5 and kept.sum(1).min() < 5  # rows differ: selection is over the batch


@pytest.mark.parametrize("backend", BACKENDS)
def test_decode_and_latent_grads_match_dense(backend):
    g = torch.Generator().manual_seed(1)
    n, L, d, k = 40, 30, 12, 4
    w = torch.randn(L, d, generator=g)
    code = kernels.topk(torch.randn(n, L, generator=g), k, backend)
    dense = torch.zeros(n, L).scatter(1, code.idx, code.act)
    assert torch.allclose(kernels.decode(code, w), dense @ w, atol=1e-5)
    grad_out, xc = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    ga = kernels.grad_act(code, w, grad_out, backend)
    assert torch.allclose(ga, (grad_out @ w.T).gather(1, code.idx) * (code.act > 0), atol=1e-5)
    gw_dec, gw_enc, gb = torch.zeros(L, d), torch.zeros(L, d), torch.zeros(L)
    fired = kernels.accumulate_latent_grads(code, ga, grad_out, xc, gw_dec, gw_enc, gb, backend)
    assert torch.equal(fired, (dense > 0).sum(0))
    dense_ga = torch.zeros(n, L).scatter(1, code.idx, ga)
    assert torch.allclose(gw_dec, dense.T @ grad_out, atol=1e-4)
    assert torch.allclose(gw_enc, dense_ga.T @ xc, atol=1e-4)
    assert torch.allclose(gb, dense_ga.sum(0), atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ["topk", "batchtopk"])
@pytest.mark.parametrize("with_dead", [False, True])
def test_sparse_gradients_equal_autograd(data, backend, activation, with_dead):
    x = torch.from_numpy(data[:512])
    cfg = SAEConfig(latent_dim=64, k=6, activation=activation, seed=3, aux_coef=0.5).resolved(x.shape[1], 10_000)
    mem = GridMember(cfg, x.mean(0), 1.0, TrainConfig(), torch.device("cpu"), backend)
    with torch.no_grad():  # move away from the symmetric init so every term is exercised
        mem.sae.b_lat.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
    if with_dead:
        mem.since_fired[:40] = 10**9  # these stay dead unless they fire in this batch
    mem.compute_grads(x)
    sparse = [p.grad.clone() for p in mem.params]
    dead = mem.dead()
    assert bool(dead.any()) == with_dead
    for p in mem.params:
        p.grad = None
    out = sae_loss(mem.sae, x, dead)
    assert (out.aux > 0) == with_dead
    out.loss.backward()
    for name, s, p in zip(("W_enc", "b_lat", "W_dec", "b_pre"), sparse, mem.params):
        scale = p.grad.abs().max()
        assert scale > 0, name
        assert torch.allclose(s, p.grad, atol=1e-5 * float(scale) + 1e-7, rtol=1e-4), name


@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_exact_on_ties_and_infinities(backend):
    g = torch.Generator().manual_seed(0)
    for trial in range(150):
        n, m = int(torch.randint(1, 80, (1,), generator=g)), int(torch.randint(1, 70, (1,), generator=g))
        k = int(torch.randint(1, m + 1, (1,), generator=g))
        if trial % 3 == 0:
            z = torch.randint(-3, 4, (n, m), generator=g).float()  # many ties
        else:
            z = torch.randn(n, m, generator=g)
            if trial % 3 == 2:
                z[:, ::2] = -torch.inf  # as BatchTopK's masking produces
        code = kernels.topk(z, k, backend)
        assert torch.equal(code.act.sort(1).values, torch.topk(z, k).values.clamp(min=0).sort(1).values)
        assert torch.equal(z.gather(1, code.idx).clamp(min=0), code.act)
        assert (code.idx.sort(1).values.diff(1) > 0).all()  # distinct latents


@pytest.mark.parametrize("rows", [300, 3000])  # below and above kernels.PARALLEL_MIN_WORK (latent_dim 96)
def test_the_fused_topk_backward_equals_autograd_at_any_thread_count(data, rows):
    import numba
    x = torch.from_numpy(data[:rows])
    cfg = SAEConfig(latent_dim=96, k=7, seed=5, aux_coef=0.5).resolved(x.shape[1], 10_000)
    assert (rows * 96 >= kernels.PARALLEL_MIN_WORK) == (rows == 3000)
    runs = []
    before = numba.get_num_threads()
    for threads in (2, 1):
        mem = GridMember(cfg, x.mean(0), 1.0, TrainConfig(), torch.device("cpu"), "numba")
        assert mem.fused_grads
        with torch.no_grad():
            mem.sae.b_lat.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
        mem.since_fired[:50] = 10**9  # dead unless they fire in this batch: AuxK runs
        numba.set_num_threads(threads)
        try:
            sq_err = mem.compute_grads(x)
        finally:
            numba.set_num_threads(before)
        runs.append((sq_err, [p.grad.clone() for p in mem.params], mem.since_fired.clone(), mem))
    (sq2, grads2, fired2, mem), (sq1, grads1, fired1, _) = runs
    assert sq2 == sq1 and torch.equal(fired2, fired1)
    for a, b in zip(grads2, grads1):
        assert torch.equal(a, b)
    for p in mem.params:
        p.grad = None
    out = sae_loss(mem.sae, x, mem.dead())
    assert out.aux > 0
    out.loss.backward()
    assert sq2 == pytest.approx(float(out.mse.detach()) * rows, rel=1e-5)
    for name, s, p in zip(("W_enc", "b_lat", "W_dec", "b_pre"), grads2, mem.params):
        scale = p.grad.abs().max()
        assert torch.allclose(s, p.grad, atol=1e-5 * float(scale) + 1e-7, rtol=1e-4), name
