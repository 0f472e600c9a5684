"""Shared by the format tests: a small trained grid of ours (one SAE per activation) and its data."""
import pytest
import torch

from voicesae_core import TrainConfig, expand_grid, train_grid


@pytest.fixture(scope="package")
def trained(tmp_path_factory):
    """(models by activation, x): a TopK, a ReLU and a BatchTopK SAE trained on 1,200 random 24-d rows,
    with the input scale folded into the biases as every saved model of ours has it."""
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(1200, 24, generator=g) @ torch.randn(24, 24, generator=g) + 2.0).numpy()
    configs = expand_grid([48], [6], ["topk", "relu", "batchtopk"])
    result = train_grid(x, configs, TrainConfig(epochs=3, batch_size=100), out_dir=tmp_path_factory.mktemp("grid"),
                        quiet=True)
    return {m.cfg.activation: m for m in result.models}, torch.from_numpy(x)


def close(a, b, tol=1e-5):
    """The largest difference between a and b, asserted within ``tol`` of b's scale (max |b|, at
    least 1): float32 sums in another order differ by about 1e-7 of the values they add."""
    a, b = a.detach(), b.detach()
    diff = float((a - b).abs().max())
    assert diff <= tol * max(1.0, float(b.abs().max())), (diff, float(b.abs().max()))
    return diff
