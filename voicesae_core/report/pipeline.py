"""Run the chapters' notebooks: jupytext source (notebooks/*.py) -> .ipynb -> papermill, in order.

A run is given a study file (``study.py``) and an output folder. The study, with any command-line
overrides applied and checked, is written to ``output_dir/study.yml``; every notebook receives that
file and the output folder, nothing else. What they write goes under ``output_dir``::

    output_dir/figures/*.png|svg   output_dir/tables/*.csv   output_dir/grid/ (the trained SAEs)
    output_dir/notebooks/*.ipynb   (executed notebooks, with their outputs)

The notebooks' sources are found through the study's ``sources`` key, never through this
package's location, so an installed (non-editable) package runs a checkout's notebooks.
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from tqdm import tqdm

from ..errors import VoicesaeError
from ..files import atomic_path, check_output
from . import study as study_file

ORDER = ["01_data", "02_train_grid", "03_identification", "04_splitting", "05_steering", "06_audio", "07_recovery",
         "08_stability", "09_verification", "10_sparse_probing", "11_catalogue", "12_universality", "13_wide"]
CHAPTERS = {"03_identification": "identification", "04_splitting": "splitting", "05_steering": "steering",
            "06_audio": "audio", "08_stability": "stability", "09_verification": "verification",
            "10_sparse_probing": "sparse_probing", "11_catalogue": "catalogue", "12_universality": "universality",
            "13_wide": "wide"}
"""The notebooks with options of their own: the field of ``study.Chapters`` each reads."""
TEMPLATES = {"11_catalogue": ["latent_page"]}
"""Notebook templates a chapter executes itself (one page per latent): their source is part of its key."""
STUDY_FILE = "study.yml"
"""The checked study (overrides applied) that every notebook of a run reads, in its output folder."""


def notebooks_dir(study: study_file.Study) -> Path:
    """The folder of the chapters' jupytext sources (``<sources>/notebooks``)."""
    folder = study.resolve(study.sources) / "notebooks"
    if not (folder / f"{ORDER[0]}.py").is_file():
        raise VoicesaeError(f"{study.path}: sources: {folder} has no {ORDER[0]}.py; point 'sources' at a voicesae "
                            "checkout (the folder with notebooks/ and book/)")
    return folder


def check_data(study: study_file.Study) -> None:
    """What a study says of its data, checked against the manifests (read, not their data files):
    every dataset's manifest is one, every feature's column is in its dataset and its values
    among the column's labels (where the manifest lists them); and ``sources`` has the notebooks."""
    from ..data import manifest

    notebooks_dir(study)
    manifests = {role: manifest.read_manifest(study.manifest_path(role)) for role in study.datasets}
    for model, roles in study.chapters.universality.models.items():
        for role in roles:
            manifest.read_manifest(study.other_manifest_path(model, role))
    for name, f in study.features.items():
        m = manifests[f.dataset]
        if f.column not in m["columns"]:
            raise VoicesaeError(f"{study.path}: features.{name}.column: {f.column!r} is not a column of dataset "
                                f"{f.dataset!r} ({study.manifest_path(f.dataset)}: {sorted(m['columns'])})")
        allowed = {**m.get("labels", {}), **manifest.FIXED_LABELS}.get(f.column)
        for key, values in (("positive", [f.positive]), ("negative", f.negative)):
            for v in values:
                if allowed is not None and v not in allowed and str(v) not in map(str, allowed):
                    raise VoicesaeError(f"{study.path}: features.{name}.{key}: {v!r} is not a value of column "
                                        f"{f.column!r} (its labels: {allowed})")


def prepare(study_path: str | Path, overrides: dict | None, output_dir: str | Path,
            quiet: bool = True) -> study_file.Study:
    """Load and check the study with ``overrides`` and its data (``ensure_data``): a bad key, value or
    dataset stops here, before anything is written. Then write it to ``output_dir/study.yml`` and
    return it as read from there."""
    s = study_file.load(study_path, overrides or {})
    check_output(output_dir, (), "--output-dir", kind="folder")
    from ..device import resolve as resolve_device
    resolve_device(s.device, f"{s.path}: device")  # a study for a GPU machine stops here on one without
    check_data(s)
    ensure_data(s, quiet=quiet)
    written = s.write(Path(output_dir) / STUDY_FILE)
    return study_file.load(written)


def ensure_data(study: study_file.Study, quiet: bool = True) -> None:
    """Make sure every dataset of the study is there and matches its manifest's sha256. A dataset
    of the synthetic default (its manifest's provenance names the generator) is generated when its
    files are absent (deterministic); any other missing or changed file is an error naming it."""
    from ..data import manifest, synthetic
    others = study.chapters.universality.models
    paths = [study.manifest_path(role) for role in study.datasets]
    paths += [study.other_manifest_path(m, role) for m in others for role in others[m]]
    for path in paths:
        try:  # the hashes only: whoever uses the data loads (and so validates) it anyway
            manifest.check_files(path)
        except VoicesaeError:
            m = manifest.read_manifest(path)
            prov = m.get("provenance", {})
            if prov.get("generator") != "voicesae_core.synthetic":
                raise
            synthetic.regenerate(path, quiet=quiet)
            manifest.load(path)  # the fresh files must match what the committed manifest records


def to_ipynb(name: str, out: Path, source_dir: Path) -> Path:
    """``source_dir/<name>.py`` (jupytext percent format) -> ``out`` as .ipynb, with a python3 kernelspec."""
    import jupytext
    import nbformat
    src = Path(source_dir) / f"{name}.py"
    if not src.is_file():
        raise VoicesaeError(f"{src}: no such notebook source (have {sorted(p.stem for p in Path(source_dir).glob('*.py'))})")
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with atomic_path(out) as tmp:
        nbformat.write(nb, str(tmp))
    return out


@contextlib.contextmanager
def shared_kernel():
    """One Python kernel for several pages made from one template (``execute(..., kernel=)``): each
    page then skips a kernel's start and the package's imports (about 8 s a page here). Before each
    page the kernel's namespace is emptied and its cell count set back to 1, so a page sees only its
    own parameters, as in a kernel of its own. Shut down on leaving, also after a failure."""
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(Path.cwd()))
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


def _reset(kernel) -> None:
    """Empty a shared kernel's namespace (imported modules stay loaded) and restart its cell count."""
    kc = kernel.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        reply = kc.execute_interactive("get_ipython().reset(new_session=True)\nimport matplotlib.pyplot\n"
                                       "matplotlib.pyplot.close('all')", silent=True, timeout=60)
        if reply["content"]["status"] != "ok":
            raise VoicesaeError(f"the shared kernel could not be reset: {reply['content'].get('evalue')}")
    finally:
        kc.stop_channels()


def execute(name: str, target: Path, parameters: dict, source_dir: Path, quiet: bool = True,
            work_dir: Path | None = None, title: str = "", kernel=None) -> Path:
    """Execute one notebook source into ``target`` with ``parameters``, each of which the notebook
    must declare (an undeclared one is an error, never silently dropped). A failure raises a
    VoicesaeError naming the notebook and its error; the executed copy (with the failing cell's
    output) is kept beside, as <target stem>.failed.ipynb. ``title``: a heading put first (a page
    made from a template needs its own title in the book). ``kernel``: a ``shared_kernel()`` to run
    in (reset first), instead of a kernel of its own."""
    import nbformat
    import papermill as pm
    target = Path(target)
    src = to_ipynb(name, (work_dir or target.parent / "src") / f"{target.stem}.ipynb", source_dir)
    if title:
        nb = nbformat.read(str(src), as_version=4)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {title}"))
        nbformat.write(nb, str(src))
    declared = set(pm.inspect_notebook(str(src)))
    undeclared = sorted(set(parameters) - declared)
    if undeclared:
        raise VoicesaeError(f"notebook {name}: no parameter {', '.join(map(repr, undeclared))} "
                            f"(its parameters: {', '.join(sorted(declared))})")
    failed = target.with_name(f"{target.stem}.failed.ipynb")
    with atomic_path(target, suffix=".tmp.ipynb") as tmp:  # a failed run never replaces a good one
        try:
            if kernel is not None:
                _reset(kernel)
            # Not quiet: the kernel's stderr (the chapters' progress bars, which the book leaves out)
            # streams to this terminal while the notebook runs. papermill hands ``km`` to nbclient,
            # which then neither starts nor shuts down a kernel.
            pm.execute_notebook(str(src), str(tmp), parameters=parameters, kernel_name="python3", cwd=str(Path.cwd()),
                                progress_bar=False, log_output=False, stderr_file=None if quiet else sys.stderr,
                                **({"km": kernel} if kernel is not None else {}))
        except pm.PapermillExecutionError as e:
            tmp.replace(failed)
            raise VoicesaeError(f"notebook {name} failed in cell {e.exec_count}: {e.ename}: {e.evalue} "
                                f"(the executed copy with the error: {failed})") from None
    failed.unlink(missing_ok=True)
    return target


def check_names(names: list[str] | None) -> list[str]:
    """The chapters to run, in the book's order; an unknown name is an error naming it."""
    if not names:
        return list(ORDER)
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        raise VoicesaeError(f"--only: no chapter {', '.join(map(repr, unknown))} (chapters: {', '.join(ORDER)})")
    return [n for n in ORDER if n in names]


def run(study_path: str | Path, output_dir: str | Path, overrides: dict | None = None,
        names: list[str] | None = None, quiet: bool = False) -> list[Path]:
    """Execute the chapters ``names`` (default: all, in order) of the study with papermill into
    ``output_dir/notebooks/``; returns the executed .ipynb paths. The study and ``overrides`` are
    checked before anything runs."""
    names = check_names(names)
    output_dir = Path(output_dir)
    s = prepare(study_path, overrides, output_dir, quiet)
    source_dir = notebooks_dir(s)
    params = {"study": str(s.path), "output_dir": str(output_dir)}
    return [execute(name, output_dir / "notebooks" / f"{name}.ipynb", params, source_dir, quiet)
            for name in tqdm(names, desc="notebooks", unit="notebook", disable=quiet)]


def parse_parameters(pairs: list[tuple[str, str]]) -> dict:
    """``-p name value`` pairs from the command line: values are JSON where they parse, else text."""
    out = {}
    for k, v in pairs:
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out
