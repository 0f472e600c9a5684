"""import_grid: SAEs from elsewhere become a grid folder the chapters read like a trained one;
written whole, checked against the data it was evaluated on."""
import csv

import pytest
import torch

from voicesae_core import VoicesaeError
from voicesae_core.formats import export_sae
from voicesae_core.formats.grid import import_grid
from voicesae_core.sae.metrics import evaluate
from voicesae_core.sae.trainer import load_grid


def test_an_imported_grid_is_evaluated_and_loads_like_a_trained_one(trained, tmp_path):
    models, x = trained
    folders = [export_sae(models["topk"], "sparsify", tmp_path / "sp"),
               export_sae(models["relu"], "saelens", tmp_path / "sl")]
    result = import_grid(folders, x.numpy(), tmp_path / "grid")
    rows = list(csv.DictReader(open(tmp_path / "grid" / "results.csv")))
    assert [r["name"] for r in rows] == ["L48_k6_topk_s0", "L48_relu_s0"]
    assert float(rows[0]["fvu"]) == pytest.approx(evaluate(models["topk"], x).fvu, abs=1e-7)
    # ours exported and imported keep their training record and verdict; the table says so
    assert rows[0]["converged"] in ("True", "False") and rows[0]["train_steps"] == str(models["topk"].info["train_steps"])
    loaded = load_grid(tmp_path / "grid", [m.cfg for m in result.models], x.numpy())
    assert loaded[0].info["imported"]["format"] == "sparsify"
    with torch.no_grad():
        assert torch.equal(loaded[0](x).x_hat, models["topk"](x).x_hat)
    with pytest.raises(VoicesaeError, match="imported and evaluated on other data"):
        load_grid(tmp_path / "grid", [m.cfg for m in result.models], x.numpy()[:-1])


def test_a_failed_import_leaves_the_previous_grid_as_it_was(trained, tmp_path):
    models, x = trained
    good = export_sae(models["topk"], "saelens", tmp_path / "good")
    import_grid([good], x.numpy(), tmp_path / "grid")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "grid").rglob("*"))
    with pytest.raises(VoicesaeError, match="an SAE of 24-dimensional inputs; the study's training set has 23"):
        import_grid([good], x.numpy()[:, :23], tmp_path / "grid")
    with pytest.raises(VoicesaeError, match="holds L48_k6_topk_s0, as .* does"):
        import_grid([good, good], x.numpy(), tmp_path / "grid")
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "grid").rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
