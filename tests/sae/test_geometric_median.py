import torch

from voicesae_core.sae.geometric_median import geometric_median


def test_optimality_and_robustness():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 6, generator=g, dtype=torch.float64)
    x[:20] += 50.0  # outliers pull the mean, barely the median
    m = geometric_median(x).double()
    # First-order optimality: the unit vectors towards the points sum to ~0.
    u = (x - m) / (x - m).norm(dim=1, keepdim=True)
    assert u.sum(0).norm() < 1e-3 * len(x)
    assert m.norm() < 0.5 < x.mean(0).norm()


def test_symmetric_points():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]]) + torch.tensor([3.0, -1.0])
    assert torch.allclose(geometric_median(x), torch.tensor([3.0, -1.0]), atol=1e-5)
