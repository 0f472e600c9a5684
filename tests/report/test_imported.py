"""A study of SAEs trained elsewhere (its ``models``): four SAEs trained in SAELens's, sparsify's and
dictionary_learning's own classes on the quick default, imported by chapter 2 and analysed by the
chapters after it, which say they were imported; and the study's checks on such a list."""
import csv
import json
import shutil

import pytest
import torch
import yaml

from conftest import QUICK_STUDY, REPO
from foreign_saes import foreign_grid
from voicesae_core import VoicesaeError
from voicesae_core.report import book, pipeline, study


@pytest.fixture(scope="module")
def theirs(tmp_path_factory):
    """(study path, {(latent_dim, k): folder}): the foreign grid and a study naming it, grid left out."""
    root = tmp_path_factory.mktemp("imported")
    quick = study.load(QUICK_STUDY)
    made = foreign_grid(quick.dataset("sae_train").embeddings, root / "theirs", steps=200)
    raw = yaml.safe_load(QUICK_STUDY.read_text())
    raw.pop("grid")
    raw.update(name="imported", sources=str(REPO), datasets={k: str(quick.manifest_path(k)) for k in raw["datasets"]},
               models=[str(p.relative_to(root)) for p in made.values()])
    others = raw["chapters"]["universality"]["models"]  # absolute, as the datasets: the study is elsewhere
    raw["chapters"]["universality"]["models"] = {m: {r: str(quick.other_manifest_path(m, r)) for r in others[m]}
                                                 for m in others}
    (root / "study.yml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return root / "study.yml", made


def test_the_grid_is_the_imported_saes_and_their_files_are_the_books_inputs(theirs, tmp_path):
    path, made = theirs
    s = study.load(path)
    assert (s.grid.latent_dims, s.grid.ks, s.grid.activation, s.grid.seeds) == ([100, 200], [5, 20], "topk", [0])
    assert s.single_name() == "L200_k20_topk_s0"
    # a copy of the study elsewhere, with one model's weights changed: every chapter's key changes
    copy = tmp_path / "copy"
    shutil.copytree(path.parent, copy)
    before = book.notebook_keys(study.load(copy / "study.yml"))
    weights = copy / "theirs" / "sparsify_L100_k20" / "sae.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    after = book.notebook_keys(study.load(copy / "study.yml"))
    assert all(before[n] != after[n] for n in before)


def test_chapters_2_to_5_analyse_the_imported_saes_and_say_so(theirs, tmp_path):
    path, made = theirs
    out = tmp_path / "out"
    pipeline.run(path, out, names=["02_train_grid", "03_identification", "04_splitting", "05_steering"], quiet=True)
    rows = {r["name"]: r for r in csv.DictReader(open(out / "grid" / "results.csv"))}
    assert set(rows) == {"L100_k5_topk_s0", "L100_k20_topk_s0", "L200_k5_topk_s0", "L200_k20_topk_s0"}
    assert rows["L100_k20_topk_s0"]["convergence"].startswith("imported (sparsify)")
    assert rows["L200_k5_topk_s0"]["convergence"].startswith("imported (dictionary_learning)")
    # chapter 2's FVU is the one SAELens's own forward pass gives on the same data
    from sae_lens import SAE
    x = torch.from_numpy(study.load(path).dataset("sae_train").embeddings)
    with torch.no_grad():
        x_hat = SAE.load_from_disk(str(made[(200, 20)]))(x)
    fvu = float((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
    assert abs(float(rows["L200_k20_topk_s0"]["fvu"]) - fvu) < 1e-5, (rows["L200_k20_topk_s0"]["fvu"], fvu)
    for name in ("03_identification", "04_splitting", "05_steering"):
        text = json.dumps(json.loads((out / "notebooks" / f"{name}.ipynb").read_text())["cells"])
        assert "SAEs used here were imported" in text, name
    grid = list(csv.DictReader(open(out / "tables" / "identification_language.csv")))
    assert {(int(r["latent_dim"]), int(r["k"])) for r in grid} == {(100, 5), (100, 20), (200, 5), (200, 20)}


def _with(path, tmp_path, **changes):
    raw = yaml.safe_load(path.read_text())
    raw.update(changes)
    raw = {k: v for k, v in raw.items() if v is not None}  # a change to None leaves the key out
    raw["models"] = [str(path.parent / m) for m in raw["models"]]
    out = tmp_path / "s.yml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def test_a_models_list_that_is_not_one_full_grid_is_one_line_naming_it(theirs, tmp_path):
    path, made = theirs
    models = yaml.safe_load(path.read_text())["models"]
    with pytest.raises(VoicesaeError, match=r"models: the SAEs do not fill a latent size x K grid \(1 missing: "
                                            r"L200_k5_topk_s0\)"):
        study.load(_with(path, tmp_path, models=[m for m in models if "dictionary" not in m]))
    with pytest.raises(VoicesaeError, match=r"models\[1\] .*holds L100_k5_topk_s0, as models\[0\] does"):
        study.load(_with(path, tmp_path, models=[models[0], models[0]]))
    with pytest.raises(VoicesaeError, match=r"grid: .* is not the grid of the SAEs in models"):
        study.load(_with(path, tmp_path, grid={"latent_dims": [100, 200], "ks": [5, 10]}))
    with pytest.raises(VoicesaeError, match=r"s.yml: models\[0\]: \S*/nowhere: not a folder"):
        study.load(_with(path, tmp_path, models=["nowhere"]))
    with pytest.raises(VoicesaeError, match=r"single: latent_dim 200, k 20 is not a model of the grid"):
        study.load(_with(path, tmp_path, models=[models[0]]))
    one = study.load(_with(path, tmp_path, models=[models[0]], single=None))  # one SAE: the grid and the single model
    assert one.single_name() == "L100_k5_topk_s0"
