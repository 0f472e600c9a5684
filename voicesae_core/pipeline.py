"""Run the paper's notebooks: jupytext source (notebooks/*.py) -> .ipynb -> papermill, in order.

The notebooks share one set of parameter names (see any notebook's ``parameters`` cell); each
receives the ones it declares. What they write goes under ``output_dir``::

    output_dir/figures/*.png|svg   output_dir/tables/*.csv   output_dir/grid/ (the trained SAEs)
    output_dir/notebooks/*.ipynb   (executed notebooks, with their outputs)

The embedded default is the synthetic benchmark: ``profile`` 'full' (the paper's scale) or
'quick' (5 %); a user points the ``*_manifest`` parameters at their own data instead.
"""
from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from .errors import VoicesaeError
from .files import atomic_path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ORDER = ["01_data", "02_train_grid", "03_identification", "04_splitting", "05_steering", "06_audio", "07_recovery",
         "08_stability", "09_verification",
         "10_sparse_probing", "11_catalogue"]
TEMPLATES = {"11_catalogue": ["latent_page"]}
"""Notebook templates a chapter executes itself (one page per latent): their source is part of its key."""
DATASETS = ("sae_train", "language", "music")

TRAINING = {"full": {"epochs": 2, "batch_size": 4096}, "quick": {"epochs": 3, "batch_size": 1024}}
"""Per profile, the training budget when the notebook's ``epochs``/``batch_size`` are left at 0."""


def manifest_path(dataset: str, profile: str, given: str = "") -> Path:
    """The manifest to use: ``given`` when set, else the embedded default for ``profile``."""
    if given:
        return Path(given)
    if dataset not in DATASETS:
        raise VoicesaeError(f"no embedded dataset {dataset!r} (have {list(DATASETS)})")
    if profile not in TRAINING:
        raise VoicesaeError(f"unknown profile {profile!r} (have {list(TRAINING)})")
    return REPO / "data_manifests" / f"synthetic-{profile}" / f"{dataset}.json"


def ensure_synthetic(profile: str, quiet: bool = True) -> list[Path]:
    """Make sure the embedded default's files exist and match the committed manifests' hashes:
    generate them (deterministic) when absent. Returns the committed manifest paths."""
    from . import manifest, synthetic
    committed = [manifest_path(d, profile) for d in DATASETS]
    try:  # the hashes only: whoever uses the data loads (and so validates) it anyway
        for m in committed:
            manifest.check_files(m)
        return committed
    except VoicesaeError:
        pass
    data_dir = REPO / "data" / "synthetic" / profile
    synthetic.build(data_dir, data_dir / "manifests", scale=synthetic.PROFILES[profile], seed=0, quiet=quiet,
                    command=f"python -m voicesae_core data generate --profile {profile}")
    for m in committed:
        manifest.load(m)  # the fresh files must match what git records
    return committed


def training_budget(profile: str, epochs: int = 0, batch_size: int = 0) -> tuple[int, int]:
    """(epochs, batch_size): the given values, or the profile's defaults where 0."""
    d = TRAINING.get(profile, TRAINING["full"])
    return int(epochs or d["epochs"]), int(batch_size or d["batch_size"])


def to_ipynb(name: str, out: Path, source_dir: Path = NOTEBOOKS) -> Path:
    """notebooks/<name>.py (jupytext percent format) -> ``out`` as .ipynb, with a python3 kernelspec."""
    import jupytext
    import nbformat
    src = source_dir / f"{name}.py"
    if not src.is_file():
        raise VoicesaeError(f"{src}: no such notebook source (have {sorted(p.stem for p in source_dir.glob('*.py'))})")
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with atomic_path(out) as tmp:
        nbformat.write(nb, str(tmp))
    return out


def execute(name: str, target: Path, parameters: dict, quiet: bool = True, source_dir: Path = NOTEBOOKS,
            work_dir: Path | None = None, title: str = "") -> Path:
    """Execute one notebook source into ``target`` with the parameters it declares (others are
    dropped). A failure raises a VoicesaeError naming the notebook and its error; the executed copy
    (with the failing cell's output) is kept beside, as <target stem>.failed.ipynb. ``title``: a
    heading put first (a page made from a template needs its own title in the book)."""
    import nbformat
    import papermill as pm
    target = Path(target)
    src = to_ipynb(name, (work_dir or target.parent / "src") / f"{target.stem}.ipynb", source_dir)
    if title:
        nb = nbformat.read(str(src), as_version=4)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {title}"))
        nbformat.write(nb, str(src))
    declared = set(pm.inspect_notebook(str(src)))
    params = {k: v for k, v in parameters.items() if k in declared}
    failed = target.with_name(f"{target.stem}.failed.ipynb")
    with atomic_path(target, suffix=".tmp.ipynb") as tmp:  # a failed run never replaces a good one
        try:
            pm.execute_notebook(str(src), str(tmp), parameters=params, kernel_name="python3", cwd=str(Path.cwd()),
                                progress_bar=not quiet, log_output=False)
        except pm.PapermillExecutionError as e:
            tmp.replace(failed)
            raise VoicesaeError(f"notebook {name} failed in cell {e.exec_count}: {e.ename}: {e.evalue} "
                                f"(the executed copy with the error: {failed})") from None
    failed.unlink(missing_ok=True)
    return target


def run(parameters: dict, output_dir: str | Path, names: list[str] | None = None, quiet: bool = False,
        source_dir: Path = NOTEBOOKS) -> list[Path]:
    """Execute the notebooks ``names`` (default: all, in order) with papermill into
    ``output_dir/notebooks/``; returns the executed .ipynb paths (see ``execute``)."""
    output_dir = Path(output_dir)
    run_dir = output_dir / "notebooks"
    return [execute(name, run_dir / f"{name}.ipynb", {**parameters, "output_dir": str(output_dir)}, quiet, source_dir)
            for name in tqdm(names or ORDER, desc="notebooks", unit="notebook", disable=quiet)]


def parse_parameters(pairs: list[tuple[str, str]]) -> dict:
    """``-p name value`` pairs from the command line: values are JSON where they parse, else text."""
    out = {}
    for k, v in pairs:
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out
