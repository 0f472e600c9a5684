"""Executed notebooks made into the book's pages: the argument and its figures first, the code one click away.

``page`` turns a chapter's executed notebook (papermill's output, kept untouched for download)
into the page the book shows:

* the ``parameters`` and papermill's ``injected-parameters`` cells are removed; in their place,
  under the title, a "Reproduce this chapter" box with the exact command;
* every other code cell is folded (Jupyter Book's ``hide-input``: a "Show code cell source" toggle);
* no absolute path of the build machine is left in an output: the repository's folder (and the
  study's) become relative paths;
* at the end, the chapter's downloads: its executed notebook, and the figures and tables it wrote.

``record`` and ``provenance`` keep and show what each chapter's run was: when, how long, whether
reused from cache, what it wrote, on which machine and with which packages.
"""
from __future__ import annotations

import copy
import html
import json
import platform
import re
import time
from pathlib import Path

READS_THE_GRID = {"03_identification", "04_splitting", "05_steering", "07_recovery", "09_verification",
                  "10_sparse_probing", "11_catalogue"}
"""The chapters that read the grid chapter 2 trains (so reproducing one runs chapter 2 first)."""
HIDDEN = ("parameters", "injected-parameters")
REMOVED = ("remove-cell", "remove-input")
PACKAGES = ("voicesae", "torch", "nemo_toolkit", "numpy", "scikit-learn", "pandas", "papermill", "jupyter-book")


def command(study_path: str, name: str, overrides: dict | None = None) -> str:
    """The shell command that reruns chapter ``name`` of the study (with the run's ``-p`` overrides)."""
    only = f"02_train_grid,{name}" if name in READS_THE_GRID else name
    extra = "".join(f" -p {k} '{json.dumps(v)}'" for k, v in (overrides or {}).items())
    return f".venv/bin/python -m voicesae_core notebooks --study {study_path} --only {only}{extra}"


def relative(text: str, roots: list[tuple[str, str]]) -> str:
    """``text`` with every absolute root (``(absolute, shown)`` pairs, longest first) replaced."""
    for absolute, shown in roots:
        text = text.replace(absolute.rstrip("/") + "/", shown)
    return text


def _relative_outputs(cell: dict, roots) -> None:
    for out in cell.get("outputs", []):
        if "text" in out:
            out["text"] = relative("".join(out["text"]), roots)
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/"):  # text only: a JSON bundle is a dict, and str() of it would corrupt it
                out["data"][mime] = relative("".join(value) if isinstance(value, list) else value, roots)


def with_alt_text(markdown: str) -> str:
    """Every ``{glue:figure}`` directive in ``markdown`` given an ``:alt:`` option (unless it has one):
    its caption without markup (at most about 250 characters), so a screen reader says what it shows."""
    lines, out = markdown.split("\n"), []
    for i, line in enumerate(lines):
        out.append(line)
        if not line.lstrip("`").startswith("{glue:figure}"):
            continue
        j = i + 1
        while j < len(lines) and lines[j].startswith(":"):
            j += 1
        end = next((k for k in range(j, len(lines)) if lines[k].startswith("```")), len(lines))
        text = re.sub(r"\s+", " ", re.sub(r"[`*$\\{}]", "", " ".join(lines[j:end]))).strip()
        if len(text) > 250:
            text = text[:250].rsplit(" ", 1)[0] + " ..."
        if text and not any(option.startswith(":alt:") for option in lines[i + 1:j]):
            out.append(f":alt: {text}")
    return "\n".join(out)


def _markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def page(nb: dict, name: str, reproduce: str | None, roots: list[tuple[str, str]],
         downloads: list[tuple[str, str]]) -> dict:
    """The book's page for chapter ``name`` from its executed notebook ``nb`` (not modified): see the
    module doc. ``reproduce``: the command for the box (None: no box, as on the per-latent pages);
    ``downloads``: (label, link relative to the page) pairs."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if any(t in tags for t in HIDDEN):
            continue
        if cell["cell_type"] == "markdown":
            cell["source"] = with_alt_text("".join(cell["source"]))
        if cell["cell_type"] == "code":
            if not any(t in tags for t in REMOVED) and "hide-input" not in tags:
                tags.append("hide-input")
            _relative_outputs(cell, roots)
        cells.append(cell)
    shown = (reproduce or "").replace(" --study ", " \\\n        --study ")  # two lines: no sideways scroll
    box = ("```{admonition} Reproduce this chapter\n:class: tip\n\n"
           "In the repository, with the environment `make book` sets up:\n\n"
           f"    {shown}\n\n"
           "The code of each step is folded under its result: *Show code cell source* opens it.\n```\n")
    if reproduce is not None:
        title = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"), -1)
        cells.insert(title + 1, _markdown(box))
    if downloads:
        links = "\n".join(f'<li><a href="{html.escape(href)}" download>{html.escape(label)}</a></li>'
                          for label, href in downloads)
        cells.append(_markdown(f"## Downloads\n\n<ul class=\"voicesae-downloads\">\n{links}\n</ul>\n"))
    nb["cells"] = cells
    return nb


# ------------------------------------------------------------------------------------- provenance


def snapshot(folders: list[Path]) -> dict[str, int]:
    """{file: mtime_ns} of every file under ``folders`` (to see what a chapter wrote)."""
    return {str(f): f.stat().st_mtime_ns for d in folders if d.is_dir() for f in sorted(d.rglob("*")) if f.is_file()}


def record(path: Path, seconds: float, before: dict[str, int], after: dict[str, int], base: Path, device: str) -> dict:
    """Write ``path`` (a chapter's ``.run.json``): when it ran, how long, on what, the files it wrote."""
    from ..files import write_json
    wrote = sorted(Path(f).relative_to(base).as_posix() for f, t in after.items() if before.get(f) != t)
    run = {"finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "seconds": round(seconds, 1), "device": device,
           "files": wrote}
    write_json(path, run)
    return run


def versions() -> dict[str, str]:
    """The versions of the packages a result depends on ('-' where one is not installed)."""
    from importlib import metadata
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "-"
    return out


def machine() -> str:
    """This machine in one line: CPU, cores, memory, GPU."""
    import os

    import torch
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB memory"
    except (ValueError, OSError, AttributeError):
        memory = ""
    gpu = (", GPU " + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
           if torch.cuda.is_available() else ", no GPU")
    return f"{cpu}, {os.cpu_count()} cores{memory}{gpu}; {platform.system()} {platform.release()}"


def provenance(study, shown_study: str, runs: dict[str, dict | None], reused: set[str], grid_table: Path) -> str:
    """The provenance page (MyST markdown): the study and its data by hash, per chapter its run,
    the packages, the machine, and whether the grid's models converged."""
    import pandas as pd
    from ..files import sha256_file
    lines = ["# Provenance", "",
             "What this build ran, on what, and from which inputs; every number in the book comes from these runs.",
             "A chapter *reused from cache* was not executed by this build: its inputs (its source, the study, the",
             "data manifests, the core package and the chapters before it) were unchanged since the run shown.", "",
             "## Inputs", "", "| input | file | sha256 |", "| --- | --- | --- |",
             f"| study file | `{shown_study}` | `{sha256_file(shown_study)[:16] if Path(shown_study).is_file() else '-'}` |",
             f"| the study as the chapters read it (overrides applied) | `study.yml` of the build | `{study.sha256()[:16]}` |"]
    for role in sorted(study.datasets):
        path = study.manifest_path(role)
        lines.append(f"| data manifest `{role}` | `{path.name}` | `{sha256_file(path)[:16]}` |")
    lines += ["", "## Chapters", "", "| chapter | finished | seconds | reused from cache | device | files written |",
              "| --- | --- | ---: | --- | --- | ---: |"]
    for name, run in runs.items():
        if run is None:
            lines.append(f"| {{doc}}`notebooks/{name}` | - | - | {'yes' if name in reused else 'no'} | - | - |")
        else:
            lines.append(f"| {{doc}}`notebooks/{name}` | {run['finished']} | {run['seconds']:.0f} | "
                         f"{'yes' if name in reused else 'no'} | {run['device']} | {len(run['files'])} |")
    lines += ["", "## Packages", "", "| package | version |", "| --- | --- |"]
    lines += [f"| {p} | {v} |" for p, v in versions().items()]
    lines += ["", "## Machine", "", f"This build: {machine()}. The study's device: `{study.device}`.", ""]
    lines += ["## Convergence of the grid", ""]
    if grid_table.is_file():
        t = pd.read_csv(grid_table)
        imported = t["converged"].isna()  # imported without a training curve: not judged
        bad = t.loc[~imported & (t["converged"].astype(str) != "True"), "name"].tolist()
        judged = int((~imported).sum())
        if judged:
            lines.append(f"{judged - len(bad)} of {judged} SAEs of the grid converged (chapter 2 draws every "
                         "training curve)" + (f"; not converged: {', '.join(bad)}." if bad else "."))
        if imported.any():
            lines.append(f"{int(imported.sum())} of the grid's {len(t)} SAEs were imported (the study's `models`), "
                         f"trained elsewhere with no training curve; their convergence is not judged: "
                         f"{', '.join(t.loc[imported, 'name'])}.")
    else:
        lines.append("No grid results (chapter 2 has not run).")
    return "\n".join(lines) + "\n"
