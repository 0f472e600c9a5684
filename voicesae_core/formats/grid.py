"""A grid made of SAEs brought from elsewhere (a study's ``models:``), in place of one trained here.

``import_grid`` reads each folder (any format), evaluates it on the study's SAE training set and
writes the same grid folder ``train_grid`` writes (``models/<name>/`` and ``results.csv``), so
every chapter after chapter 2 reads it as it reads a trained grid. The folder is written whole and
then swapped in: a failure leaves the previous grid as it was. Each model's ``info`` keeps what it
came with (our training record, for a model exported by voicesae) and gains ``imported`` (where it
came from) and the metrics with the hash of the data they were computed on; a model without a
training curve is reported as "imported, not judged" wherever convergence is shown.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..arrays import as_data
from ..device import resolve as resolve_device
from ..errors import VoicesaeError
from ..files import sha256_array
from ..sae.metrics import evaluate_checked
from ..sae.model import SparseAutoencoder
from ..sae.trainer import GridResult, write_table
from .folder import detect, read_sae, write_folder


def import_grid(paths: list[str | os.PathLike], train_data, out_dir: str | os.PathLike,
                device: str | torch.device = "cpu", eval_batch_size: int = 16384) -> GridResult:
    """The SAEs in ``paths`` as a grid folder ``out_dir`` (replacing what was there), evaluated on
    ``train_data`` (n, d_in). Returns the models and their table in the order given."""
    if not paths:
        raise VoicesaeError("import_grid: no SAE folders given")
    x = as_data(train_data, "training data")
    digest = sha256_array(x)
    dev = device if isinstance(device, torch.device) else resolve_device(device, "import_grid: device")
    models: list[SparseAutoencoder] = []
    seen: dict[str, str] = {}
    for p in map(Path, paths):
        sae = read_sae(p)
        name = sae.cfg.name
        if name in seen:
            raise VoicesaeError(f"{p}: holds {name}, as {seen[name]} does; two SAEs of one grid need different "
                                "latent sizes, Ks or seeds")
        seen[name] = str(p)
        if sae.cfg.d_in != x.shape[1]:
            raise VoicesaeError(f"{p}: an SAE of {sae.cfg.d_in}-dimensional inputs; the study's training set "
                                f"has {x.shape[1]} dimensions")
        info = dict(sae.info)
        info.setdefault("imported", {"format": detect(p), "from": str(p.resolve())})
        info["eval_data_sha256"] = digest
        sae.info = info
        models.append(sae.to(dev))
    table = []
    for sae in models:
        summary = evaluate_checked(sae, x.to(dev) if dev.type != "cpu" else x, eval_batch_size).summary()
        sae.info["metrics"] = summary
        table.append(row(sae, summary))
    _write_whole(Path(out_dir), models, table)
    return GridResult(models, table, Path(out_dir))


def row(sae: SparseAutoencoder, summary: dict) -> dict:
    """The model's row of results.csv, with the columns ``train_grid`` writes."""
    info, verdict = sae.info, sae.info.get("convergence")
    imported = info.get("imported") or {}
    return {"name": sae.cfg.name, **{k: v for k, v in sae.cfg.to_dict().items() if k != "d_in"}, **summary,
            "dead_frac_train": info.get("dead_frac_train", float("nan")),
            "dead_frac_epoch": info.get("dead_frac_epoch", float("nan")), "eval_set": "training data",
            "train_steps": info.get("train_steps", ""),
            "converged": verdict["converged"] if verdict else "",
            "convergence": ("; ".join(verdict["reasons"]) if verdict else
                            f"imported ({imported.get('format', '?')}): trained elsewhere, no training curve, not judged")}


def _write_whole(out: Path, models: list[SparseAutoencoder], table: list[dict]) -> None:
    """models/<name>/ and results.csv in a fresh folder beside ``out``, then swapped in for ``out``."""
    def fill(tmp: Path) -> None:
        for sae in models:
            sae.save(tmp / "models" / sae.cfg.name)
        write_table(tmp / "results.csv", table)

    write_folder(out, fill, replace=True)
