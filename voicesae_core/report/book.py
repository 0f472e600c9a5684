"""Build the Jupyter Book from nothing: data -> notebooks (papermill) -> jupyter-book build.

    python -m voicesae_core book --study studies/paper-quick.yml   # what `make book PROFILE=quick` runs

Steps, each skipped when its inputs have not changed:

1. the study, with any overrides, checked and written to ``<output_dir>/study.yml``; its data:
   the synthetic default generated if absent, every dataset checked against its manifest's sha256s;
2. the notebooks, in order: a notebook is re-executed only when its *key* changed, the sha256 of
   its source, the study, the core package's source, the data manifests and the previous
   notebook's key (so a change upstream reruns everything after it). Training itself also
   resumes from / reuses its checkpoint;
3. the book sources (``_config.yml``, ``_toc.yml``, ``book/``, from the study's ``sources``) and the
   executed notebooks are staged into ``<output_dir>/book_src`` with a local MathJax (no CDN;
   plotly.js is inline in the one page with an interactive figure), and built with
   ``jupyter-book build --warningiserror`` into ``<output_dir>/_build/html``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import VoicesaeError
from ..files import atomic_path
from . import publish, scorecard, study as study_file
from .pipeline import ORDER, TEMPLATES, execute as execute_notebook, notebooks_dir, prepare


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


def core_hash() -> str:
    """sha256 of the core package's source: a change to the code reruns the notebooks."""
    package = Path(__file__).resolve().parent.parent  # the installed voicesae_core, wherever it is
    files = sorted(f for f in package.rglob("*") if f.suffix in (".py", ".json", ".csv") and "__pycache__" not in f.parts)
    return _sha(*[f.relative_to(package).as_posix() + "\n" + f.read_text() for f in files])


def notebook_keys(study: study_file.Study) -> dict[str, str]:
    """The key of every notebook (see the module doc), in order."""
    others = study.chapters.universality.models  # other speaker models' data (chapter 12)
    data = _sha(*[study.manifest_path(role).read_bytes() for role in sorted(study.datasets)],
                *[study.other_manifest_path(m, role).read_bytes() for m in sorted(others) for role in sorted(others[m])])
    # The study names imported SAEs by path: their files' contents are inputs too.
    models = _sha(*[f.read_bytes() for m in study.models for f in sorted(study.resolve(m).iterdir()) if f.is_file()])
    base = _sha(core_hash(), data, models, study.sha256())
    source_dir = notebooks_dir(study)
    keys, previous = {}, base
    for name in ORDER:
        sources = [name] + TEMPLATES.get(name, [])
        previous = keys[name] = _sha(previous, *[(source_dir / f"{n}.py").read_text() for n in sources])
    return keys


def execute(study_path: str | Path, output_dir: Path, overrides: dict | None = None, quiet: bool = False) -> list[str]:
    """Steps 1-2: returns the names of the notebooks that were (re)executed."""
    output_dir = Path(output_dir)
    study = prepare(study_path, overrides, output_dir, quiet)
    keys = notebook_keys(study)
    params = {"study": str(study.path), "output_dir": str(output_dir)}
    from ..device import describe, resolve
    device = describe(resolve(study.device, f"{study.path}: device"))
    written = [output_dir / "figures", output_dir / "tables"]
    ran = []
    for name in ORDER:
        stamp = output_dir / "notebooks" / f"{name}.key"
        done = output_dir / "notebooks" / f"{name}.ipynb"
        if done.is_file() and stamp.is_file() and stamp.read_text().strip() == keys[name]:
            if not quiet:
                print(f"{name}: unchanged, not re-executed", flush=True)
            continue
        stamp.unlink(missing_ok=True)
        t0 = time.perf_counter()
        if not quiet:
            print(f"{name}: executing ...", flush=True)
        before = publish.snapshot(written)
        execute_notebook(name, done, params, notebooks_dir(study), quiet=quiet)
        publish.record(output_dir / "notebooks" / f"{name}.run.json", time.perf_counter() - t0, before,
                       publish.snapshot(written), output_dir, device)
        with atomic_path(stamp) as tmp:
            tmp.write_text(keys[name] + "\n")
        ran.append(name)
        if not quiet:
            print(f"{name}: executed in {time.perf_counter() - t0:.0f} s", flush=True)
    return ran


def mathjax_folder() -> Path:
    """MathJax 3 (es5 build with its woff-v2 fonts), as the ``sphinx-mathjax-offline`` wheel
    carries it, to be served locally. Only its files are used, not the extension."""
    import importlib.util
    spec = importlib.util.find_spec("sphinx-mathjax-offline")  # the wheel's (hyphenated) package
    if spec is None or not spec.submodule_search_locations:
        raise VoicesaeError("sphinx-mathjax-offline is not installed (it is in the book extra: "
                            "pip install -e '.[book]')")
    folder = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"
    if not (folder / "tex-chtml.js").is_file():
        raise VoicesaeError(f"{folder}: no tex-chtml.js in the sphinx-mathjax-offline package")
    return folder


def _shown(path: Path) -> str:
    """``path`` relative to the current folder (the repository) where it is under it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def stage(output_dir: Path, sources: Path, study: study_file.Study, shown_study: str = "",
          overrides: dict | None = None, reused: set[str] = frozenset()) -> Path:
    """Step 3a: a fresh copy of the book sources (in ``sources``) with the executed notebooks made into
    pages (``publish.page``), each chapter's downloads, the provenance page and MathJax."""
    src = output_dir / "book_src"
    tmp = output_dir / "book_src.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in ("_config.yml", "_toc.yml", "references.bib"):
        shutil.copy2(sources / f, tmp / f)
    shutil.copytree(sources / "book", tmp / "book")
    (tmp / "book" / "notebooks").mkdir()
    shown_study = shown_study or _shown(study.path)
    # Absolute paths of this machine become relative ones (longest first): the repository, the study's folder.
    roots = sorted({(str(Path.cwd().resolve()), ""), (str(study.path.resolve().parent), "")}, key=lambda r: -len(r[0]))
    runs = {}
    for name in ORDER:
        nb = json.loads((output_dir / "notebooks" / f"{name}.ipynb").read_text())
        run_file = output_dir / "notebooks" / f"{name}.run.json"
        runs[name] = json.loads(run_file.read_text()) if run_file.is_file() else None
        folder = tmp / "_extra" / "downloads" / name
        folder.mkdir(parents=True)
        shutil.copy2(output_dir / "notebooks" / f"{name}.ipynb", folder / f"{name}.ipynb")
        downloads = [(f"the executed notebook ({name}.ipynb)", f"../../downloads/{name}/{name}.ipynb")]
        for f in (runs[name] or {}).get("files", []):
            if (output_dir / f).is_file():
                shutil.copy2(output_dir / f, folder / Path(f).name)
                downloads.append((f, f"../../downloads/{name}/{Path(f).name}"))
        page = publish.page(nb, name, publish.command(shown_study, name, overrides), roots, downloads)
        (tmp / "book" / "notebooks" / f"{name}.ipynb").write_text(json.dumps(page))
    # The per-latent pages of the catalogue chapter (_toc.yml lists them by a glob).
    pages = output_dir / "notebooks" / "latents"
    if pages.is_dir():
        (tmp / "book" / "notebooks" / "latents").mkdir()
        for f in sorted(pages.glob("*.ipynb")):
            if not f.name.endswith(".failed.ipynb"):
                page = publish.page(json.loads(f.read_text()), f.stem, None, roots, [])
                (tmp / "book" / "notebooks" / "latents" / f.name).write_text(json.dumps(page))
    (tmp / "book" / "scorecard.md").write_text(scorecard.markdown(study, output_dir / "tables"))  # the front page includes it
    (tmp / "book" / "provenance.md").write_text(
        publish.provenance(study, shown_study, runs, set(reused), output_dir / "grid" / "results.csv"))
    # html_extra_path, not _static: Jupyter Book adds a <script> for every .js in _static.
    shutil.copytree(mathjax_folder(), tmp / "_extra" / "mathjax", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.rmtree(src, ignore_errors=True)  # swap the fresh copy in whole: no stale pages
    tmp.rename(src)
    return src


def build_html(src: Path, output_dir: Path, quiet: bool = False) -> Path:
    """Step 3b: jupyter-book build, warnings as errors; returns index.html."""
    html = output_dir / "_build" / "html"
    shutil.rmtree(html, ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(src), "--path-output", str(output_dir), "--warningiserror", "--keep-going"]
    if quiet:
        cmd.append("--quiet")
    r = subprocess.run(cmd, capture_output=quiet, text=True, env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    if r.returncode != 0:
        tail = (r.stdout + r.stderr)[-3000:] if quiet else ""
        raise VoicesaeError(f"jupyter-book build of {src} failed (exit {r.returncode}){': ' + tail if tail else ''}")
    index = html / "index.html"
    if not index.is_file():
        raise VoicesaeError(f"jupyter-book build finished but {index} is missing")
    return index


def build(study_path: str | Path, output_dir: str | Path | None = None, overrides: dict | None = None,
          quiet: bool = False) -> Path:
    """The whole book for a study file (default output folder: out/<study name>); returns index.html."""
    if output_dir is None:
        output_dir = Path("out") / study_file.load(study_path).name
    output_dir = Path(output_dir).resolve()
    with contextlib.suppress(ValueError):  # relative to here where possible: the book shows the parameters
        output_dir = output_dir.relative_to(Path.cwd())
    t0 = time.perf_counter()
    ran = execute(study_path, output_dir, overrides, quiet=quiet)
    t1 = time.perf_counter()
    study = study_file.load(output_dir / "study.yml")
    src = stage(output_dir, study.resolve(study.sources), study, _shown(Path(study_path)), overrides,
                reused=set(ORDER) - set(ran))
    index = build_html(src, output_dir, quiet=quiet)
    if not quiet:
        print(f"notebooks {t1 - t0:.0f} s, jupyter-book {time.perf_counter() - t1:.0f} s", flush=True)
    return index.resolve()
