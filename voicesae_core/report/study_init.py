"""A starting study file from your data manifests (``python -m voicesae_core study init``).

``init(out, train, labelled)`` reads the SAE training set (role ``sae_train``) and the labelled sets
(roles named after their manifest files), proposes a study and writes it; every choice comes with
one line saying what was chosen and why (``Proposal.notes``). The rules:

* **Labelled sets.** Each ``--labelled`` manifest (its role: the file's stem, made unique) needs a
  ``split`` column with train and test rows. Without ``--labelled``, the training set is the
  labelled set when its ``split`` column has both train and test rows.
* **Features.** One per label-like column of each labelled set, named after the column (or
  ``<role>_<column>`` when an earlier set already gave that name). A column is label-like when it
  has 2-20 distinct non-empty values, is not id-, path- or split-like (``ID_COLUMNS``, or more
  distinct values than half its non-empty rows) and is not a measurement (numbers with fractions,
  such as a pitch). The binary label:
  - a 0/1 column (or true/false): positive ``1`` vs negative ``[0]``, named [column, not column]
    (``is_music`` reads "music vs not music");
  - any other column: its least frequent value (ties: the first in sorted order) vs the rest
    (negative ``[]``; the other values listed instead when some rows are empty, so that empty rows
    are left out), named [value, the other value] for two values, else [value, other] (a number
    named column=value);
  - a column is skipped, with the reason, when either class lacks train or test rows.
  A study with no feature is not written (chapters 3-5 and 8-10 need one): that is an error
  naming the sets searched.
* **Grid** from the training rows n and the dimension d: latent sizes d, 2d and 3d; when n < 2,000
  they are capped at n/2 (the same 1:2:3 ratios, up to n/2, when 3d exceeds it); K values 4, 8
  and 16, those below the smallest latent size (else half of it). The single model is the middle
  latent size at the middle K, which is in the grid; ``chapters.splitting.k`` is set to that K (and
  ``chapters.splitting.group_column`` to another label of the first feature's set when it has no
  ``gender`` column).
* **Training.** 5,000 optimizer steps when n < 2,000, 2,000 when n < 50,000 (small sets need many
  epochs: on a few hundred rows 2,000 steps left the loss still falling), else the paper's 538;
  batch 4,096 (the study caps it at n/8).
* **Wide dictionaries** (chapter 13): the expansions 4, 8, 16 and 32 x d that leave at least
  ``ROWS_PER_LATENT`` training rows per latent (none on a small set: the chapter then shows the grid's
  sizes and says why), at the single model's K only (one training pass per size; the paper-scale
  study trains all seven of the paper's).
* **Sources**: ``--sources``, else the current folder when it has notebooks/; **name**: ``--name``,
  else the study file's stem. Paths are written relative to the study file.

The file is written atomically, only after it loads with ``study.load``, and never over an existing
file without ``force``. Every bad input is one VoicesaeError naming the file, column or option.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from ..analysis.dictionary_size import ROWS_PER_LATENT
from ..errors import VoicesaeError

ID_COLUMNS = ("id", "audio_filepath", "speaker", "offset", "duration", "split", "source_row")
"""Columns that identify or locate a row, never labels."""
MAX_VALUES = 20
"""A label-like column has at most this many distinct values (and at least 2)."""
FLAGS = (("1", "0"), ("True", "False"), ("true", "false"))
"""(positive, negative) text of a flag column's two values."""
KS = (4, 8, 16)
"""The K values proposed (those below the smallest latent size)."""
SMALL_SET, TINY_SET = 50_000, 2_000
"""Training rows below which the steps are raised, and below which latent sizes are capped at n/2
(and the steps raised again)."""
STEPS_TINY, STEPS_SMALL, STEPS_PAPER, BATCH = 5000, 2000, 538, 4096
EXPANSIONS = (4, 8, 16, 32)
"""Chapter 13's dictionary sizes, as multiples of the embedding's dimension."""


@dataclass
class Proposal:
    """A study as plain data (what is written) and what was chosen, one line each."""
    study: dict
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------- features

def _text(column: pd.Series) -> pd.Series:
    """Values as the labels compare them (text), missing ones as ''."""
    return column.where(column.notna(), "").astype(str).str.strip()


def _scalar(text: str):
    """'3' -> 3 (written as a number), anything else as text; both compare as text."""
    return int(text) if re.fullmatch(r"-?[1-9]\d*|0", text) else text


def label_rule(meta: pd.DataFrame, column: str) -> tuple[dict | None, str]:
    """(the feature's positive/negative/names, or None; why), for one metadata column."""
    if column in ID_COLUMNS:
        return None, "id-like"
    values = _text(meta[column])
    filled = values[values != ""]
    counts = filled.value_counts()
    if len(counts) < 2:
        return None, "one value" if len(counts) else "empty"
    if len(counts) > len(filled) / 2:
        return None, "mostly unique values"
    if len(counts) > MAX_VALUES:
        return None, f"{len(counts)} values, over {MAX_VALUES}"
    if all(re.fullmatch(r"-?\d*\.?\d+(e-?\d+)?", v) for v in counts.index) and not all(
            re.fullmatch(r"-?\d+(\.0*)?", v) for v in counts.index):
        return None, "fractional numbers: a measurement"
    flag = next((f for f in FLAGS if set(counts.index) == set(f)), None)
    if flag:
        readable = re.sub(r"^is_", "", column).replace("_", " ")
        positive, negative, names = flag[0], [flag[1]], [readable, f"not {readable}"]
    else:
        smallest = counts.min()
        positive = sorted(v for v, c in counts.items() if c == smallest)[0]
        others = sorted(v for v in counts.index if v != positive)
        negative = others if (values == "").any() else []
        def named(v):
            return f"{column}={v}" if re.fullmatch(r"-?[\d.]+", v) else v
        names = [named(positive), named(others[0]) if len(others) == 1 else "other"]
        if names[1] == names[0]:
            names[1] = "rest"
    lacking = _lacking(meta, values, positive, negative)
    if lacking:
        return None, lacking
    return {"column": column, "positive": _scalar(positive), "negative": [_scalar(v) for v in negative],
            "names": names}, ""


def _lacking(meta: pd.DataFrame, values: pd.Series, positive: str, negative: list[str]) -> str:
    """Why the label cannot be a task ('' when both classes have train and test rows)."""
    is_pos = values == positive
    is_neg = values.isin(negative) if negative else ~is_pos
    split = meta["split"].astype(str)
    for cls, rows in ((f"positive value {positive!r}", is_pos), ("the negative class", is_neg)):
        n = {s: int((rows & (split == s)).sum()) for s in ("train", "test")}
        missing = [s for s in ("train", "test") if not n[s]]
        if missing:
            return f"{cls} has no {' or '.join(missing)} rows ({n['train']} train, {n['test']} test)"
    return ""


def _has_both_splits(meta: pd.DataFrame) -> bool:
    return "split" in meta.columns and {"train", "test"} <= set(meta["split"].astype(str))


# ------------------------------------------------------------------------------- grid

def grid_rule(n: int, d: int) -> tuple[dict, dict, dict, list[str]]:
    """(grid, single, training, lines saying why) for n training rows of dimension d."""
    from .study import Training
    sizes, why = [d, 2 * d, 3 * d], f"1-3x the {d}-d embedding"
    cap = n // 2
    if n < TINY_SET and 3 * d > cap:
        sizes = [round(cap * m / 3) for m in (1, 2, 3)]
        why = f"a third, two thirds and all of n/2 = {cap}: 3x the {d}-d embedding would exceed it on {n:,} rows"
    sizes = sorted({max(1, s) for s in sizes})
    ks = [k for k in KS if k < sizes[0]] or [max(1, sizes[0] // 2)]
    single = {"latent_dim": sizes[len(sizes) // 2], "k": ks[len(ks) // 2]}
    below, steps = (TINY_SET, STEPS_TINY) if n < TINY_SET else (SMALL_SET, STEPS_SMALL) if n < SMALL_SET \
        else (None, STEPS_PAPER)
    epochs, batch = Training(steps, BATCH).plan(n)
    lines = [f"grid: latent {', '.join(map(str, sizes))} ({why}), K {', '.join(map(str, ks))} (those of "
             f"{', '.join(map(str, KS))} below the smallest latent size)",
             f"single model: latent {single['latent_dim']}, K {single['k']} (the middle of each)",
             f"training: {steps} optimizer steps "
             + (f"(n < {below:,}: a small set needs many epochs)" if below else "(the paper's budget)")
             + f" at batch {batch}" + (" (capped at n/8)" if batch < BATCH else "")
             + f": {epochs} epochs of the {n:,} rows"]
    return ({"latent_dims": sizes, "ks": ks, "activation": "topk", "seeds": [0]}, single,
            {"steps": steps, "batch_size": BATCH}, lines)


def wide_rule(n: int, d: int, k: int) -> tuple[dict, str]:
    """(chapters.wide, a line saying why) for n training rows of dimension d and the single model's K."""
    kept = [e for e in EXPANSIONS if e * d * ROWS_PER_LATENT <= n]
    if kept:
        why = (f"chapters.wide: {', '.join(f'{e * d:,}' for e in kept)} latents ({', '.join(map(str, kept))} x {d}) "
               f"at K {k}: at least {ROWS_PER_LATENT} training rows per latent on {n:,} rows")
    else:
        why = (f"chapters.wide: no dictionary wider than the grid ({EXPANSIONS[0]} x {d} = {EXPANSIONS[0] * d:,} latents "
               f"would have fewer than {ROWS_PER_LATENT} of the {n:,} training rows per latent); set "
               "chapters.wide.expansions to train them anyway (chapter 13 flags them)")
    return {"expansions": kept, "ks": [k]}, why


# ------------------------------------------------------------------------------- the study

def _role(stem: str, taken) -> str:
    base = re.sub(r"\W+", "_", stem).strip("_") or "labelled"
    role, i = base, 2
    while role in taken:
        role, i = f"{base}_{i}", i + 1
    return role


def _load(path, option: str):
    from ..data import manifest
    if not Path(path).is_file():
        raise VoicesaeError(f"{option} {path}: no such manifest")
    return manifest.load(path)


def _relative(path, folder: Path) -> str:
    return os.path.relpath(Path(path).resolve(), folder)


def propose(out: str | Path, train: str | Path, labelled=(), sources: str | Path | None = None,
            name: str | None = None) -> Proposal:
    """The study for ``out`` (not written): see the module docstring for the rules."""
    out = Path(out)
    folder = out.resolve().parent
    notes = []
    train_ds = _load(train, "--train")
    n, d = train_ds.embeddings.shape
    notes.append(f"sae_train: {train} ({n:,} rows, dimension {d})")
    datasets = {"sae_train": _relative(train, folder)}

    sets = []  # (role, Dataset) of the labelled sets
    seen = {Path(train).resolve(): "sae_train"}
    for path in labelled:
        if Path(path).resolve() in seen:
            role = seen[Path(path).resolve()]
            if any(r == role for r, _ in sets):
                continue
            ds = train_ds if role == "sae_train" else _load(path, "--labelled")
        else:
            ds = _load(path, "--labelled")
            role = _role(Path(path).stem, datasets)
            seen[Path(path).resolve()] = role
            datasets[role] = _relative(path, folder)
        if not _has_both_splits(ds.metadata):
            what = "no 'split' column" if "split" not in ds.metadata.columns else "a 'split' without train and test rows"
            raise VoicesaeError(f"--labelled {path}: has {what}; a labelled set needs a split column "
                                "with train and test rows")
        sets.append((role, ds))
        notes.append(f"{role}: {path} ({len(ds.metadata):,} rows, labelled)")
    if not labelled:
        if not _has_both_splits(train_ds.metadata):
            raise VoicesaeError(f"--train {train}: no --labelled set was given and the training set has no split "
                                "column with train and test rows, so there is nothing to label; pass --labelled "
                                "MANIFEST (a set with a split column and label columns)")
        sets.append(("sae_train", train_ds))
        notes.append("labelled set: the training set itself (no --labelled given; its split column has train and test rows)")

    notes.append("features: one per column with 2-20 values; 0/1 columns: 1 vs [0]; others: the least "
                 "frequent value vs the rest")
    features = {}
    for role, ds in sets:
        not_labels = []
        for column in ds.metadata.columns:
            rule, why = label_rule(ds.metadata, column)
            if rule is None:
                if why.startswith(("positive", "the negative")):
                    notes.append(f"  skipped {role}.{column}: {why}")
                else:
                    not_labels.append(f"{column} ({why})")
                continue
            key = _role(column if column not in features else f"{role}_{column}", features)
            features[key] = {"dataset": role, **rule}
            negative = rule["negative"] or "the rest"
            notes.append(f"  {key}: {role}.{column} = {rule['positive']!r} vs {negative} "
                         f"(names: {rule['names'][0]} vs {rule['names'][1]})")
        if not_labels:
            notes.append(f"  not labels in {role}: {', '.join(not_labels)}")
    if not features:
        raise VoicesaeError(f"no label-like column in {', '.join(r for r, _ in sets)} (a label has 2-{MAX_VALUES} "
                            "values, both classes in train and test); a study needs at least one feature: "
                            "pass --labelled MANIFEST of a labelled set")

    grid, single, training, lines = grid_rule(n, d)
    notes += lines
    wide, line = wide_rule(n, d, single["k"])
    notes.append(line)
    first = next(iter(features.values()))
    first_meta = dict(sets)[first["dataset"]].metadata
    splitting = {"k": single["k"]}
    if "gender" not in first_meta.columns:
        others = [f["column"] for f in features.values() if f["dataset"] == first["dataset"]
                  and f["column"] != first["column"]]
        splitting["group_column"] = others[0] if others else first["column"]
        notes.append(f"chapters.splitting.group_column: {splitting['group_column']} (no gender column in "
                     f"{first['dataset']})")
    if "speaker" not in first_meta.columns:
        notes.append(f"note: chapter 9 (verification) needs a speaker column in {first['dataset']}; "
                     "set chapters.verification.speaker_column")

    if sources is not None:
        if not (Path(sources) / "notebooks").is_dir():
            raise VoicesaeError(f"--sources {sources}: no notebooks/ folder there (the voicesae checkout has one)")
        where = _relative(sources, folder)
    elif Path("notebooks").is_dir():
        where = _relative(".", folder)
        notes.append(f"sources: {where} (the current folder, which has notebooks/)")
    else:
        where = "."
        notes.append("sources: . (no notebooks/ here; set sources to your voicesae checkout)")
    study = {"name": name or out.stem, "sources": where, "datasets": datasets, "features": features,
             "grid": grid, "single": single, "training": training, "chapters": {"splitting": splitting, "wide": wide},
             "device": "auto"}
    return Proposal(study, notes)


HEADER = """\
# Written by `python -m voicesae_core study init`: a starting point, edit it freely.
# Every key: `python -m voicesae_core study keys`; check it: `python -m voicesae_core study check {path}`.
# Paths are relative to this file. Features: one per label-like column (the rules are in
# voicesae_core/report/study_init.py); give them readable names and keep those you want.
"""


class _Dumper(yaml.SafeDumper):
    """Mappings as blocks, lists on one line ([es, en])."""


_Dumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))


def write(proposal: Proposal, out: str | Path, force: bool = False) -> Path:
    """Write the proposed study at ``out`` atomically, once it loads with ``study.load``."""
    from ..files import atomic_path
    from . import study
    out = Path(out)
    if out.exists() and not force:
        raise VoicesaeError(f"{out}: exists; pass --force to replace it")
    text = HEADER.format(path=out) + yaml.dump(proposal.study, Dumper=_Dumper, sort_keys=False, width=110)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
        study.load(tmp)
    return out


def _is_study(path: Path) -> bool:
    """Whether ``path`` holds a study file (YAML with ``datasets``), which --force may replace."""
    try:
        d = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return isinstance(d, dict) and "datasets" in d


def init(out: str | Path, train: str | Path, labelled=(), sources: str | Path | None = None,
         name: str | None = None, force: bool = False) -> Proposal:
    """Propose a study from the manifests and write it at ``out`` (see the module docstring)."""
    from ..data import manifest
    from ..files import check_output

    inputs = []
    for m in (train, *labelled):
        inputs.append(m)
        if Path(m).is_file():
            inputs.extend(manifest.check_files(m, check_hashes=False).values())
    check_output(out, inputs, "--out", ours=_is_study)  # --force replaces a study file, nothing else
    if Path(out).exists() and not force:  # before reading any data
        raise VoicesaeError(f"{out}: exists; pass --force to replace it")
    proposal = propose(out, train, labelled, sources, name)
    write(proposal, out, force)
    return proposal
