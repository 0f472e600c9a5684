"""UnitNormAdam (one numba call) against its specification: torch.optim.Adam with the decoder's
gradient projected before the step and its rows renormalised after (model.py's two methods)."""
import numba
import pytest
import torch

from voicesae_core import SAEConfig
from voicesae_core.sae.model import PARAMS, SparseAutoencoder
from voicesae_core.sae.optim import UnitNormAdam


def _model_and_grads(seed, steps):
    cfg = SAEConfig(48, 5, seed=seed).resolved(24, 1000)
    sae = SparseAutoencoder.initialised(cfg, torch.randn(24, generator=torch.Generator().manual_seed(seed)))
    gen = torch.Generator().manual_seed(seed + 1)
    # Gradients of a few orders of magnitude, a row of zeros (a latent that never fired) included.
    grads = [[torch.randn(p.shape, generator=gen) * 10.0 ** float(torch.randint(-4, 2, (), generator=gen))
              for p in (getattr(sae, n) for n in PARAMS)] for _ in range(steps)]
    for g in grads:
        g[0][3] = 0.0
        g[2][3] = 0.0
    return sae, grads


@pytest.mark.parametrize("threads", [1, 2])
def test_steps_equal_torch_adam_with_the_unit_norm_decoder(threads):
    ours, grads = _model_and_grads(0, 30)
    ref, _ = _model_and_grads(0, 0)
    p_ours = [getattr(ours, n) for n in PARAMS]
    p_ref = [getattr(ref, n) for n in PARAMS]
    opt = UnitNormAdam(p_ours, 3e-3, (0.9, 0.999), 1e-8)
    torch_opt = torch.optim.Adam(p_ref, lr=3e-3, betas=(0.9, 0.999), eps=1e-8)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        for g in grads:
            for p, gi in zip(p_ours, g):
                p.grad = gi.clone()
            opt.step()
            for p, gi in zip(p_ref, g):
                p.grad = gi.clone()
            ref.project_decoder_grad()
            torch_opt.step()
            ref.normalize_decoder()
    finally:
        numba.set_num_threads(before)
    for name, a, b in zip(PARAMS, p_ours, p_ref):
        assert torch.allclose(a, b, atol=2e-6, rtol=1e-5), (name, float((a - b).abs().max()))
        st, st_ref = opt.state[a], torch_opt.state[b]
        assert float(st["step"]) == float(st_ref["step"]) == 30
        for key in ("exp_avg", "exp_avg_sq"):
            scale = float(st_ref[key].abs().max())
            assert torch.allclose(st[key], st_ref[key], atol=1e-6 * scale, rtol=1e-5), (name, key)
    norms = ours.W_dec.norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-6)


def test_the_thread_count_changes_nothing():
    results = []
    for threads in (1, 2):
        sae, grads = _model_and_grads(1, 5)
        params = [getattr(sae, n) for n in PARAMS]
        opt = UnitNormAdam(params, 1e-2, (0.9, 0.999), 1e-8)
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            for g in grads:
                for p, gi in zip(params, g):
                    p.grad = gi
                opt.step()
        finally:
            numba.set_num_threads(before)
        results.append([p.detach().clone() for p in params])
    for a, b in zip(*results):
        assert torch.equal(a, b)
