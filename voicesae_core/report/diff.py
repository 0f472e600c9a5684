"""What changed between two builds of the book: every number of the chapters' tables that moved.

    python -m voicesae_core book diff OLD_DIR NEW_DIR [--tolerance 1e-6] [--fail-on-change]

``OLD_DIR`` and ``NEW_DIR`` are build folders (``out/<study name>``, as ``make book`` writes them).
Every table (``tables/*.csv``) of either is compared cell by cell: a number moved when
|new - old| > tolerance x max(1, |old|); text cells are compared as text. A figure changed when a
table of its chapter changed (the chapter's ``notebooks/<name>.run.json`` lists what it wrote) or,
without that record, when a table of the same name did. The report is Markdown (CI prints it in
the job summary); ``--fail-on-change`` makes any change exit with status 1 (the nightly rebuild's
drift check).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ..errors import VoicesaeError


class Moved(NamedTuple):
    table: str
    row: str
    column: str
    old: object
    new: object


class Diff(NamedTuple):
    moved: list[Moved]
    """Each cell that moved beyond the tolerance (or whose text changed)."""
    added: list[str]
    removed: list[str]
    """Tables only in the new or only in the old build."""
    reshaped: list[str]
    """Tables whose rows or columns differ (compared on the cells both have)."""
    figures: list[str]
    """Figures whose underlying tables changed."""
    tables: int
    """How many tables both builds have."""

    @property
    def changed(self) -> bool:
        return bool(self.moved or self.added or self.removed or self.reshaped)


def _tables(build: Path) -> dict[str, Path]:
    folder = build / "tables"
    if not build.is_dir():
        raise VoicesaeError(f"{build}: no such build folder")
    if not folder.is_dir():
        raise VoicesaeError(f"{build}: no tables/ folder (not a book build: make book writes out/<study>/tables)")
    return {p.name: p for p in sorted(folder.glob("*.csv"))}


def _number(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f


def _same(a, b, tolerance: float) -> bool:
    fa, fb = _number(a), _number(b)
    if fa is None or fb is None:
        return bool(pd.isna(a) and pd.isna(b)) or str(a) == str(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    return abs(fb - fa) <= tolerance * max(1.0, abs(fa))


def _figures_of(build: Path, changed: set[str]) -> list[str]:
    """The figures written by a chapter that also wrote one of the ``changed`` tables."""
    figures = set()
    for run in sorted((build / "notebooks").glob("*.run.json")):
        files = json.loads(run.read_text()).get("files", [])
        if any(f.startswith("tables/") and Path(f).name in changed for f in files):
            figures |= {Path(f).name for f in files if f.startswith("figures/") and f.endswith(".png")}
    # Without a record: a figure named like a changed table (fig2a_language_precision.csv -> .png).
    figures |= {p.name for p in (build / "figures").glob("*.png") if f"{p.stem}.csv" in changed}
    return sorted(figures)


def compare(old: str | Path, new: str | Path, tolerance: float = 1e-6) -> Diff:
    """Every difference between the tables of builds ``old`` and ``new`` (see the module doc)."""
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise VoicesaeError(f"--tolerance: expected a non-negative number, got {tolerance!r}")
    old, new = Path(old), Path(new)
    a, b = _tables(old), _tables(new)
    moved, reshaped = [], []
    for name in sorted(set(a) & set(b)):
        # Row by row in order (a first column may repeat, e.g. one row per split), named by that column.
        ta, tb = (pd.read_csv(p, dtype=object, header=None) for p in (a[name], b[name]))
        if ta.shape != tb.shape or not ta.iloc[0].equals(tb.iloc[0]):
            reshaped.append(name)
        # A table with two column levels (ours / paper x before / after) has header rows that start empty.
        top = 1
        while top < len(ta) and pd.isna(ta.iat[top, 0]):
            top += 1
        header = [" / ".join(str(v) for v in dict.fromkeys(ta.iloc[:top, j]) if not pd.isna(v)) for j in range(ta.shape[1])]
        for i in range(1, min(len(ta), len(tb))):
            for j in range(min(ta.shape[1], tb.shape[1])):
                if not _same(ta.iat[i, j], tb.iat[i, j], tolerance):
                    moved.append(Moved(name, f"{ta.iat[i, 0]} (row {i})", header[j], ta.iat[i, j], tb.iat[i, j]))
    changed = {m.table for m in moved} | set(reshaped) | (set(a) ^ set(b))
    return Diff(moved, sorted(set(b) - set(a)), sorted(set(a) - set(b)), reshaped, _figures_of(new, changed),
                len(set(a) & set(b)))


def report(d: Diff, old: str | Path, new: str | Path, tolerance: float, limit: int = 50) -> str:
    """The Markdown report of ``compare``."""
    lines = [f"## What changed: `{old}` -> `{new}`", ""]
    if not d.changed:
        return "\n".join(lines + [f"No number moved: the {d.tables} tables of both builds agree "
                                  f"(tolerance {tolerance:g}, relative above 1)."]) + "\n"
    lines.append(f"{len(d.moved)} number(s) moved beyond {tolerance:g} in {len({m.table for m in d.moved})} of "
                 f"{d.tables} tables; {len(d.added)} table(s) added, {len(d.removed)} removed, "
                 f"{len(d.reshaped)} with other rows or columns.")
    for title, names in (("Added", d.added), ("Removed", d.removed), ("Other rows or columns", d.reshaped),
                         ("Figures whose tables changed", d.figures)):
        if names:
            lines += ["", f"**{title}:** " + ", ".join(f"`{n}`" for n in names)]
    if d.moved:
        lines += ["", "| table | row | column | old | new |", "| --- | --- | --- | ---: | ---: |"]
        lines += [f"| `{m.table}` | {m.row} | {m.column} | {m.old} | {m.new} |" for m in d.moved[:limit]]
        if len(d.moved) > limit:
            lines.append(f"\n... and {len(d.moved) - limit} more.")
    return "\n".join(lines) + "\n"
