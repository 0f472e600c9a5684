"""Per-latent pages of the latent catalogue (chapter 11), made from one papermill template.

The template ``<sources>/notebooks/latent_page.py`` is executed once per chosen latent (the
catalogue's best by AUC, ``catalogue.top_latents``) into ``<output_dir>/notebooks/latents/``,
which the book copies (``book.py``) and its table of contents lists by a glob. The pages of a run
are made in a fresh folder beside it, ``latents.new``, and swapped in whole by ``publish``: no
stale page of a latent that is no longer among the chosen survives, and a run that fails half way
leaves the last complete set in place.

``audio_sae`` finds chapter 6's analysed SAE (and the embeddings it was trained on), whose pages
also play the segments on which a latent fires most.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..analysis import catalogue
from ..audio import extract
from ..errors import VoicesaeError
from ..sae.config import SAEConfig, expand_grid
from . import pipeline

TEMPLATE = pipeline.TEMPLATES["11_catalogue"][0]
"""The template's name, ``latent_page`` (``<sources>/notebooks/latent_page.py``); part of chapter 11's key."""


class LatentPages:
    """The per-latent pages of one run of chapter 11: made into ``<folder>.new`` by ``make``, then
    swapped in over ``folder`` by ``publish``."""

    def __init__(self, folder: str | Path, source_dir: str | Path, output_dir: str | Path, sample_rows: int,
                 sample_seed: int, top_samples: int, quiet: bool = True):
        self.folder = Path(folder)
        self.fresh = self.folder.with_name(f"{self.folder.name}.new")
        self.work_dir = self.folder.with_name(f"{self.folder.name}_src")
        """Where the template's .ipynb copies are written before execution."""
        self.source_dir = Path(source_dir)
        self.settings = {"output_dir": str(output_dir), "sample_rows": int(sample_rows),
                         "sample_seed": int(sample_seed), "top_samples": int(top_samples)}
        self.quiet = quiet
        if not (self.source_dir / f"{TEMPLATE}.py").is_file():
            raise VoicesaeError(f"{self.source_dir}: no {TEMPLATE}.py, the per-latent template")
        shutil.rmtree(self.fresh, ignore_errors=True)  # what a failed run left
        self.fresh.mkdir(parents=True)

    def make(self, table: pd.DataFrame, catalogue_csv: str | Path, model_dir: str | Path, data_manifest: str | Path,
             prefix: str, n: int) -> dict[int, str]:
        """Execute the template for the ``n`` latents of ``table`` with the best AUC (the SAE in
        ``model_dir``, looked at on ``data_manifest``; ``catalogue_csv``: the table as written),
        as ``<prefix>_<latent:04d>.ipynb``. Returns {latent: the page's link from the chapter's page}."""
        links = {}
        latents = catalogue.top_latents(table, n)
        if not latents:
            return links
        with pipeline.shared_kernel() as kernel:  # one kernel for all of them: its start and imports once
            for latent in latents:
                target = self.fresh / f"{prefix}_{latent:04d}.ipynb"
                pipeline.execute(TEMPLATE, target, {**self.settings, "model_dir": str(model_dir), "latent": latent,
                                                    "data_manifest": str(data_manifest),
                                                    "catalogue_csv": str(catalogue_csv)},
                                 self.source_dir, quiet=self.quiet, work_dir=self.work_dir,
                                 title=f"Latent {latent} of {prefix.removeprefix('audio_')}", kernel=kernel)
                links[latent] = f"{self.folder.name}/{target.stem}.html"
        return links

    def publish(self) -> int:
        """Replace ``folder`` by the pages made in this run; returns how many there are."""
        if not self.fresh.is_dir():
            raise VoicesaeError(f"{self.fresh}: no pages to publish (already published?)")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.fresh.rename(self.folder)
        return len(list(self.folder.glob("*.ipynb")))


@dataclass
class AudioSAE:
    """Chapter 6's analysed SAE on one speaker model's embeddings."""
    speaker_model: str
    """The speaker model as the study names it, e.g. random:titanet-small."""
    folder: str
    """Its folder name (``extract.model_folder``), e.g. random-titanet-small."""
    config: SAEConfig
    grid_dir: Path
    """The folder ``train_grid`` wrote (``load_grid(grid_dir, [config])``)."""
    data_manifest: Path
    """The data manifest of the embeddings it was trained on."""

    @property
    def model_dir(self) -> Path:
        return self.grid_dir / "models" / self.config.name

    @property
    def prefix(self) -> str:
        """Names its catalogue table and pages: audio_<folder>_<config name>."""
        return f"audio_{self.folder}_{self.config.name}"


def audio_sae(audio_dir: str | Path, speaker_model: str, latent_dim: int, k: int, seed: int) -> AudioSAE | None:
    """The SAE (TopK, ``latent_dim``, ``k``, ``seed``) that chapter 6 trained on ``speaker_model``'s
    embeddings under ``audio_dir`` (``<output_dir>/audio``: ``embeddings/<folder>/manifest.json`` and
    ``grid/<folder>/models/<name>``), or None when chapter 6 has not written both."""
    folder = extract.model_folder(speaker_model)
    config = expand_grid([latent_dim], [k], ["topk"], [seed])[0]
    found = AudioSAE(speaker_model, folder, config, Path(audio_dir) / "grid" / folder,
                     Path(audio_dir) / "embeddings" / folder / "manifest.json")
    if not (found.model_dir / "model.safetensors").is_file() or not found.data_manifest.is_file():
        return None
    return found
