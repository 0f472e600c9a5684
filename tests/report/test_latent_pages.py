"""The catalogue's per-latent pages: the template executed for the chosen latents, the folder
swapped in whole, and chapter 6's SAE found where it writes it."""
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from conftest import planted
from voicesae_core import SAEConfig, SparseAutoencoder, VoicesaeError
from voicesae_core.analysis import catalogue
from voicesae_core.data import manifest
from voicesae_core.report import latent_pages

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def small(tmp_path):
    """A tiny SAE (16 latents, K 4) saved to disk, a data manifest of 200 rows and its catalogue."""
    x = planted(200, d=16, n_features=24)
    meta = pd.DataFrame({"id": [f"r{i}" for i in range(200)], "language": np.where(np.arange(200) % 3, "en", "es"),
                         "split": np.where(np.arange(200) % 4, "train", "test")})
    np.save(tmp_path / "x.npy", x)
    meta.to_csv(tmp_path / "x.csv", index=False)
    data = manifest.write_manifest(tmp_path / "x.json", tmp_path / "x.npy", tmp_path / "x.csv", name="small")
    sae = SparseAutoencoder.initialised(SAEConfig(16, 4, d_in=16))
    model_dir = sae.save(tmp_path / "grid" / "models" / sae.cfg.name)
    table = catalogue.catalogue(sae, x, meta, ["language"])
    csv = tmp_path / "catalogue.csv"
    table.to_csv(csv)
    return table, csv, model_dir, data


def test_a_page_per_chosen_latent_swapped_in_whole(small, tmp_path):
    table, csv, model_dir, data = small
    folder = tmp_path / "notebooks" / "latents"
    folder.mkdir(parents=True)
    (folder / "stale_0001.ipynb").write_text("{}")  # a page of an earlier run
    pages = latent_pages.LatentPages(folder, NOTEBOOKS, tmp_path, sample_rows=0, sample_seed=0, top_samples=3)
    links = pages.make(table, csv, model_dir, data, "small", 1)
    best = catalogue.top_latents(table, 1)[0]
    assert links == {best: f"latents/small_{best:04d}.html"}
    assert (folder / "stale_0001.ipynb").exists()  # untouched until published
    assert pages.publish() == 1
    assert sorted(p.name for p in folder.glob("*.ipynb")) == [f"small_{best:04d}.ipynb"]
    assert not pages.fresh.exists()
    page = nbformat.read(folder / f"small_{best:04d}.ipynb", as_version=4)
    assert page.cells[0].source == f"# Latent {best} of small"  # its title, put first
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
                   for c in page.cells for o in c.get("outputs", []))
    assert f"Latent {best} of L16_k4_topk_s0" in text
    with pytest.raises(VoicesaeError, match="no pages to publish"):
        pages.publish()


def test_a_run_that_failed_half_way_leaves_the_last_pages(tmp_path):
    folder = tmp_path / "latents"
    folder.mkdir()
    (folder / "good_0000.ipynb").write_text("{}")
    (tmp_path / "latents.new").mkdir()
    (tmp_path / "latents.new" / "half_0000.ipynb").write_text("{}")  # what a failed run left
    pages = latent_pages.LatentPages(folder, NOTEBOOKS, tmp_path, sample_rows=0, sample_seed=0, top_samples=3)
    assert list(pages.fresh.iterdir()) == [] and (folder / "good_0000.ipynb").exists()
    with pytest.raises(VoicesaeError, match="no latent_page.py"):
        latent_pages.LatentPages(folder, tmp_path, tmp_path, sample_rows=0, sample_seed=0, top_samples=3)


def test_the_template_refuses_a_parameter_it_does_not_declare(small, tmp_path):
    table, csv, model_dir, data = small
    pages = latent_pages.LatentPages(tmp_path / "latents", NOTEBOOKS, tmp_path, sample_rows=0, sample_seed=0, top_samples=3)
    pages.settings["no_such_option"] = 1
    with pytest.raises(VoicesaeError, match="notebook latent_page: no parameter 'no_such_option'"):
        pages.make(table, csv, model_dir, data, "small", 1)


def test_audio_sae_is_found_where_chapter_6_writes_it(small, tmp_path):
    _, _, model_dir, _ = small
    audio = tmp_path / "audio"
    assert latent_pages.audio_sae(audio, "random:titanet-small", 16, 4, 0) is None  # chapter 6 has not run
    sae = SparseAutoencoder.load(model_dir)
    sae.save(audio / "grid" / "random-titanet-small" / "models" / "L16_k4_topk_s0")
    assert latent_pages.audio_sae(audio, "random:titanet-small", 16, 4, 0) is None  # no embeddings yet
    (audio / "embeddings" / "random-titanet-small").mkdir(parents=True)
    (audio / "embeddings" / "random-titanet-small" / "manifest.json").write_text("{}")
    found = latent_pages.audio_sae(audio, "random:titanet-small", 16, 4, 0)
    assert found.folder == "random-titanet-small" and found.config.name == "L16_k4_topk_s0"
    assert found.model_dir == audio / "grid" / "random-titanet-small" / "models" / "L16_k4_topk_s0"
    assert found.data_manifest == audio / "embeddings" / "random-titanet-small" / "manifest.json"
    assert found.prefix == "audio_random-titanet-small_L16_k4_topk_s0"
    assert latent_pages.audio_sae(audio, "random:titanet-small", 16, 8, 0) is None  # another K: not trained


def test_pages_in_a_shared_kernel_see_only_their_own_parameters(tmp_path):
    from voicesae_core.report import pipeline
    (tmp_path / "page.py").write_text(
        "# %% tags=['parameters']\nvalue = 0\n\n"
        "# %%\nimport os\nassert 'left_over' not in globals(), 'a page saw the last page'\n"
        "left_over = value\nprint(os.getpid())\n")
    pages = []
    with pipeline.shared_kernel() as kernel:
        for v in (1, 2):
            pages.append(nbformat.read(pipeline.execute("page", tmp_path / f"page_{v}.ipynb", {"value": v}, tmp_path,
                                                        work_dir=tmp_path / "src", kernel=kernel), as_version=4))
        with pytest.raises(VoicesaeError, match="no parameter 'nope'"):
            pipeline.execute("page", tmp_path / "bad.ipynb", {"nope": 1}, tmp_path, work_dir=tmp_path / "src", kernel=kernel)
    assert not kernel.is_alive()  # shut down on leaving
    code = [[c for c in nb.cells if c.cell_type == "code"] for nb in pages]
    assert [cells[0].execution_count for cells in code] == [1, 1]  # each page counts its cells from 1
    pids = {cells[-1].outputs[0]["text"] for cells in code}
    assert len(pids) == 1  # one kernel ran both
