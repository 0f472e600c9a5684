import pytest

from voicesae_core import SAEConfig, VoicesaeError, expand_grid


def test_paper_grid_and_names():
    grid = expand_grid(range(100, 700, 100), range(5, 40, 5))
    assert len(grid) == 42 and grid[0].name == "L100_k5_topk_s0"
    assert len(expand_grid([100, 200], [5, 10], ["topk", "relu"], seeds=[0, 1])) == 2 * 4 + 2 * 2  # relu ignores K


def test_resolved_defaults():
    c = SAEConfig(200, 20).resolved(192, 1_100_000)
    assert c.k_aux == 96 and c.dead_after_samples == 110_000 and c.d_in == 192
    assert c.lr == pytest.approx(2e-4 / (200 / 2**14) ** 0.5)
    assert SAEConfig.from_dict(c.to_dict()) == c
    with pytest.raises(VoicesaeError, match="unknown fields"):
        SAEConfig.from_dict({**c.to_dict(), "bogus": 1})
