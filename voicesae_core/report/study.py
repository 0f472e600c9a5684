"""The study file: everything a book run needs, in one YAML file.

    name: paper-quick
    sources: ..                         # the folder with notebooks/ and book/ (relative to this file)
    datasets: {sae_train: ../data_manifests/synthetic-quick/sae_train.json, language: ..., music: ...}
    features:
      language: {dataset: language, column: language, positive: es, negative: [en],
                 names: [Spanish, English], error_flags: [native_spanish, code_mixed],
                 paper: {grid: fig2, steering: table3, dataset: table1, single_model: language}}
    grid: {latent_dims: [100, 200], ks: [5, 20], activation: topk, seeds: [0]}
    single: {latent_dim: 200, k: 20}
    training: {steps: 162, batch_size: 1024}
    chapters: {identification: {bootstrap: 1000}, ...}
    device: auto

Every key is a field of a dataclass below, documented where it is declared (as sparsify documents
its configs); a key the study does not give takes the field's default, which is the paper's
setting. ``load`` checks every key and value (``checked.convert``) and stops at the first problem
with one line naming the file, the key and what was expected. Paths (datasets, sources,
chapters.audio.recordings_manifest and ``.nemo`` speaker models) are relative to the study file.

Command-line overrides (``-p name value``) go through ``override``: ``name`` is a dotted key
(``grid.ks``, ``chapters.identification.bootstrap``) or a field name. A field name of the grid, the
single model or the training (``ks``, ``k``, ``epochs``) sets that key only; any other sets the
option of that name in every chapter that has it (``-p bootstrap 0``: no intervals anywhere).
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Union

from ..errors import VoicesaeError
from . import checked

Scalar = Union[str, int, float, bool]
"""A metadata value a label compares against (compared as text: 1 and "1" are the same)."""


# ------------------------------------------------------------------------------- the schema

@dataclass
class PaperRef:
    """Which of the paper's published numbers a feature corresponds to (each optional)."""
    grid: Literal["fig2", "fig3"] | None = None
    """Figs. 2-3: precision and recall of the single latent over the latent_dim x K grid."""
    steering: Literal["table3", "table4"] | None = None
    """Tables III-IV: mean delta_s per class before and after steering."""
    dataset: Literal["table1", "table2"] | None = None
    """Tables I-II: the labelled set's sizes."""
    single_model: Literal["language", "music"] | None = None
    """The row of Section V-A's text on the latent 200, K 20 model (phi, precision, recall)."""


@dataclass
class Feature:
    """A binary label: rows of one dataset whose ``column`` is ``positive``, against ``negative``."""
    dataset: str
    """The dataset (a key of ``datasets``) holding the labelled rows; it needs a ``split`` column."""
    column: str
    """The metadata column the label is read from."""
    positive: Scalar
    """The value that makes a row positive."""
    names: tuple[str, str]
    """Display names of the positive and the negative class, e.g. [Spanish, English]."""
    negative: list[Scalar] = field(default_factory=list)
    """The values that make a row negative; empty: every other value. Rows with other values are left out."""
    error_flags: list[str] = field(default_factory=list)
    """0/1 metadata columns counted among the single latent's errors (chapter 3); absent ones are reported."""
    paper: PaperRef = field(default_factory=PaperRef)
    """The paper's numbers to show beside ours for this feature (nothing: no comparison)."""

    @property
    def label(self) -> str:
        """'Spanish vs English'."""
        return f"{self.names[0]} vs {self.names[1]}"


@dataclass
class Grid:
    """The latent_dim x K grid of SAEs trained in chapter 2 and analysed in the chapters after it."""
    latent_dims: list[int] = field(default_factory=lambda: [100, 200, 300, 400, 500, 600])
    """Latent sizes (the paper: 100-600)."""
    ks: list[int] = field(default_factory=lambda: [5, 10, 15, 20, 25, 30, 35])
    """TopK's K values (the paper: 5-35)."""
    activation: Literal["topk", "batchtopk", "relu"] = "topk"
    """The SAE's activation (the paper: topk)."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """Initialisation seeds trained; the analyses use the first."""


@dataclass
class Single:
    """The one SAE the paper's text discusses (Section V-A), used wherever one model is shown."""
    latent_dim: int = 200
    """Its latent size (the paper: 200)."""
    k: int = 20
    """Its K (the paper: 20)."""


@dataclass
class Training:
    """How each SAE of the grid is trained (chapters 2 and 8): a number of optimizer steps, which
    means the same on 200 rows as on 1.1 M. The batch is capped at an eighth of the rows (so an epoch
    has at least 8 steps) and whole epochs are run, as many as the steps need (``plan``)."""
    steps: int = 538
    """Optimizer steps at least (the paper-scale default: 2 epochs of 1.1 M rows at batch 4096)."""
    batch_size: int = 4096
    """Rows per optimizer step, at most (capped at an eighth of the training rows)."""

    def plan(self, rows: int) -> tuple[int, int]:
        """(epochs, batch_size) for a training set of ``rows``."""
        import math
        batch = min(self.batch_size, max(1, rows // 8))
        return max(1, math.ceil(self.steps / math.ceil(rows / batch))), batch


@dataclass
class Identification:
    """Chapter 3: the single latent as a predictor (Figs. 2-3)."""
    bootstrap: int = 1000
    """Resamples of the test rows for the 95 % intervals under each value (0: no intervals)."""


@dataclass
class Splitting:
    """Chapter 4: a feature's latents followed across latent sizes (Fig. 4)."""
    feature: str = ""
    """The feature (a key of ``features``) whose latents are followed; empty: the first feature."""
    k: int = 20
    """The K at which latent sizes are compared (Fig. 4: 20)."""
    group_column: str = "gender"
    """Each flow is drawn per (class, value of this column)."""
    min_precision: float = 0.9
    """A label latent fires mostly on positive training samples ..."""
    min_share: float = 0.05
    """... and on at least this share of them."""
    min_child_share: float = 0.2
    """A split: each child takes at least this share of the parent's samples."""
    rule: Literal["specific", "activation"] = "specific"
    """Which firing label latent a sample is assigned to."""


@dataclass
class Steering:
    """Chapter 5: switching phi off and on (Eqs. 1-3, Figs. 5-6, Tables III-IV)."""
    a_phi: float = 1.0
    """The value phi is switched on to (the paper: 1)."""
    a_phi_sweep: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
    """Strengths of the sweep."""


@dataclass
class Audio:
    """Chapter 6: recordings -> 4-8 s segments -> speaker embeddings -> SAEs."""
    recordings_manifest: str = ""
    """A NeMo manifest of your recordings (relative to the study file); empty: the offline demo corpus."""
    demo_profile: Literal["quick", "full"] = "full"
    """The demo corpus's size when it is generated."""
    segment_method: Literal["energy", "silero"] = "energy"
    """energy: SoX's silence rule (keeps music); silero: silero-vad (speech only)."""
    models: list[str] = field(default_factory=lambda: ["random:titanet-small", "resemblyzer"])
    """Speaker models: a .nemo file (relative to the study file), a NeMo pretrained name,
    random:titanet-small|titanet-large, resemblyzer."""
    normalization: Literal["none", "l2", "nemo"] = "nemo"
    """Embedding normalisation after extraction."""
    latent_dims: list[int] = field(default_factory=lambda: [32, 64])
    """Latent sizes of the corpus's own SAE grid (a few hundred segments: small SAEs)."""
    ks: list[int] = field(default_factory=lambda: [4, 8])
    """K values of that grid."""
    latent_dim: int = 64
    """The SAE of that grid whose latents are analysed (and catalogued in chapter 11) ..."""
    k: int = 8
    """... and its K."""
    steps: int = 5000
    """Optimizer steps of each SAE of that grid (whole epochs, as many as the steps need; on a corpus
    of a few hundred segments, fewer steps left the loss still falling)."""
    batch_size: int = 64
    """Segments per step, at most (capped at an eighth of the training segments, as in ``training``)."""


@dataclass
class Stability:
    """Chapter 8: a few configurations trained with several seeds."""
    configs: list[list[int]] = field(default_factory=list)
    """[latent_dim, K] pairs, each trained with every seed; empty: the single model, the grid's
    smallest latent size at its smallest K and its largest at the single model's K."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    """Initialisation seeds (data and batch order are shared)."""
    thresholds: list[float] = field(default_factory=lambda: [0.7, 0.9])
    """Decoder cosine from which a matched latent counts as shared."""
    bootstrap: int = 1000
    """Resamples of the test rows for the 95 % intervals."""


@dataclass
class Verification:
    """Chapter 9: steering's cost to speaker verification."""
    feature: str = ""
    """The feature steered (a key of ``features``); its test split gives the trials; empty: the first feature."""
    speaker_column: str = "speaker"
    """Rows with the same value are one speaker; empty values are left out."""
    a_phi: float = 1.0
    """The latent's steering strength."""
    alpha: float = 1.0
    """The mean-difference vector's strength."""
    strengths: list[float] = field(default_factory=lambda: [0, 0.25, 0.5, 1, 2, 4, 8])
    """a_phi and alpha values of the trade-off curve."""
    p_target: float = 0.05
    """The prior of a target trial in minDCF."""
    max_rows: int = 2000
    """Test rows with a speaker that make the trials (every pair: 2,000 rows are 2 M trials); a seeded
    sample when there are more (0: all)."""


@dataclass
class SparseProbing:
    """Chapter 10: a probe on the top-k latents against PCA and the raw embedding."""
    probe_ks: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])
    """How many latents (or components) the probe gets."""


@dataclass
class Catalogue:
    """Chapter 11: one row per latent of the single model, and a page per top latent."""
    rows: int = 20000
    """A seeded sample of the SAE training set (0: all rows)."""
    labels: list[str] = field(default_factory=list)
    """Metadata columns to score; empty: every column with 2-20 values."""
    centroid_columns: list[str] = field(default_factory=lambda: ["language", "gender"])
    """Columns whose class-centroid offsets each decoder row is compared with."""
    pages: int = 6
    """Per-latent pages for this many latents, by best AUC."""
    top_samples: int = 10
    """Rows listed on a latent's page."""
    audio: bool = True
    """Also catalogue chapter 6's SAE (with playable clips) when its outputs exist."""
    audio_pages: int = 3
    """Per-latent pages (with clips) for chapter 6's SAE."""


@dataclass
class Universality:
    """Chapter 12: the same segments embedded by other speaker models. Do their SAEs find the same
    features (the paper's future work, point 5: "relatively universal features")?"""
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    """Other speaker models, by display name: their data manifests by role, as ``datasets`` gives the
    study's own (paths relative to this file). Segments are joined to the study's by ``id``. Each
    needs ``sae_train``; a feature's dataset role, where given, lets its latent be followed there.
    Empty: nothing to compare (the chapter says so)."""
    own_name: str = "this study's model"
    """How the study's own embeddings (``datasets``) are named beside the others."""
    latent_dim: int = 0
    """The latent size of each model's SAE (0: the single model's)."""
    k: int = 0
    """Their K (0: the single model's)."""
    rows: int = 20000
    """A seeded sample of the shared SAE training segments over which activations are correlated (0: all)."""
    thresholds: list[float] = field(default_factory=lambda: [0.5, 0.7, 0.9])
    """Activation correlation from which a latent counts as having a counterpart in the other model."""


@dataclass
class Wide:
    """Chapter 13: dictionaries far wider than the embedding (the paper's largest was about 3x;
    its future work, point 6: "a small embedding can represent thousands of features")."""
    expansions: list[int] = field(default_factory=lambda: [4, 8, 16, 32])
    """Latent sizes as multiples of the embedding's dimension (192: 768, 1,536, 3,072, 6,144)."""
    ks: list[int] = field(default_factory=list)
    """Their K values (empty: the grid's)."""
    follow_k: int = 0
    """The K at which the first feature's latents are followed across sizes (0: chapter 4's ``k``)."""
    recovered_at: float = 0.9
    """Decoder cosine to a planted direction from which that feature counts as recovered (synthetic data)."""
    steps: int = 0
    """Optimizer steps of every SAE of this chapter (0: the study's ``training.steps``). Wider
    dictionaries may need more than the grid's budget; a size trained differently from the grid is
    trained here rather than loaded from it."""


@dataclass
class Chapters:
    """Per-chapter options (chapters 1, 2 and 7 have none beyond the study's grid and training)."""
    identification: Identification = field(default_factory=Identification)
    splitting: Splitting = field(default_factory=Splitting)
    steering: Steering = field(default_factory=Steering)
    audio: Audio = field(default_factory=Audio)
    stability: Stability = field(default_factory=Stability)
    verification: Verification = field(default_factory=Verification)
    sparse_probing: SparseProbing = field(default_factory=SparseProbing)
    catalogue: Catalogue = field(default_factory=Catalogue)
    universality: Universality = field(default_factory=Universality)
    wide: Wide = field(default_factory=Wide)


@dataclass
class Study:
    """A study: the data, the labels, the SAEs and every chapter's options."""
    name: str
    """Names the study in the book and its default output folder (out/<name>)."""
    datasets: dict[str, str]
    """Data manifests by role: ``sae_train`` (the SAE training set) and one per labelled set."""
    features: dict[str, Feature]
    """The labels analysed, by name; chapters 3, 5, 8 and 10 take every one, in order."""
    grid: Grid = field(default_factory=Grid)
    single: Single = field(default_factory=Single)
    training: Training = field(default_factory=Training)
    chapters: Chapters = field(default_factory=Chapters)
    models: list[str] = field(default_factory=list)
    """SAE folders to analyse instead of training the grid (relative to this file), each ours or from
    SAELens, sparsify or dictionary_learning (what ``python -m voicesae_core sae import`` reads).
    Chapter 2 imports and evaluates them; the grid is theirs (leave ``grid`` out, or give exactly their
    latent sizes, Ks, activation and seeds; they must fill it), and ``single`` must be one of them."""
    device: str = "auto"
    """Where every chapter's SAEs train and run and chapter 6 extracts embeddings: auto (CUDA when
    present), cpu, cuda or cuda:N. A notebook's ``device`` parameter replaces it for one run."""
    sources: str = "."
    """The folder holding notebooks/ and the book's sources (_config.yml, _toc.yml, book/)."""
    path: Path = field(default=Path("study.yml"), repr=False, compare=False)
    """The study file (not a key: set by ``load``); relative paths in it are taken from its folder."""

    # -- reading the study -------------------------------------------------------------------
    def resolve(self, relative: str | Path) -> Path:
        """A path of the study file, as a path from the current directory (or absolute)."""
        p = Path(relative)
        return p if p.is_absolute() else Path(os.path.normpath(self.path.parent / p))

    def speaker_model(self, model: str) -> str:
        """A speaker model of ``chapters.audio.models`` as ``speaker_model.load`` takes it: a ``.nemo``
        file relative to the study file is resolved; a name (resemblyzer, random:..., a NeMo pretrained
        name) is returned as it is."""
        return str(self.resolve(model)) if str(model).endswith(".nemo") else model

    def manifest_path(self, role: str) -> Path:
        """The data manifest of dataset ``role``."""
        if role not in self.datasets:
            raise VoicesaeError(f"{self.path}: no dataset {role!r} under 'datasets' (have {sorted(self.datasets)})")
        return self.resolve(self.datasets[role])

    def other_manifest_path(self, model: str, role: str) -> Path:
        """The data manifest of dataset ``role`` as speaker model ``model`` of
        ``chapters.universality.models`` embedded it."""
        models = self.chapters.universality.models
        if model not in models:
            raise VoicesaeError(f"{self.path}: chapters.universality.models: no model {model!r} (have {sorted(models)})")
        if role not in models[model]:
            raise VoicesaeError(f"{self.path}: chapters.universality.models.{model}: no dataset {role!r} "
                                f"(have {sorted(models[model])})")
        return self.resolve(models[model][role])

    def dataset(self, role: str):
        """The dataset ``role``, loaded and validated (``manifest.load``)."""
        from ..data import manifest
        return manifest.load(self.manifest_path(role))

    def task(self, feature: str = ""):
        """The feature's train/test task (``labels.task``) on its dataset (empty: the first feature)."""
        from ..data import labels
        f = self.feature(feature)
        return labels.task(self.dataset(f.dataset), f.column, f.positive, f.negative or None, name=f.label)

    def tasks(self) -> dict:
        """Every feature's task, in the study's order: {feature name: Task}."""
        return {name: self.task(name) for name in self.features}

    def feature_name(self, name: str = "") -> str:
        """``name``, or the registry's first feature when empty."""
        if not name:
            if not self.features:
                raise VoicesaeError(f"{self.path}: features: the study names no feature")
            return next(iter(self.features))
        self.feature(name)
        return name

    def feature(self, name: str = "") -> Feature:
        """The feature ``name`` of the registry (empty: the first)."""
        name = name or self.feature_name()
        if name not in self.features:
            raise VoicesaeError(f"{self.path}: no feature {name!r} under 'features' (have {sorted(self.features)})")
        return self.features[name]

    def configs(self, latent_dims=None, ks=None):
        """The SAE configurations of the grid (first seed), optionally restricted."""
        from ..sae.config import expand_grid
        return expand_grid(latent_dims or self.grid.latent_dims, ks or self.grid.ks, [self.grid.activation],
                           [self.grid.seeds[0]])

    def single_name(self) -> str:
        """The single model's name, e.g. 'L200_k20_topk_s0' (a model of the grid: checked on loading)."""
        return self.configs([self.single.latent_dim], [self.single.k])[0].name

    def stability_configs(self, configs: list[list[int]]) -> list[list[int]]:
        """``configs`` ([latent_dim, K] pairs), or when empty the default of ``Stability.configs``."""
        if configs:
            return [list(c) for c in configs]
        g, one = self.grid, [self.single.latent_dim, self.single.k]
        out = []
        for c in (one, [min(g.latent_dims), min(g.ks)], [max(g.latent_dims), self.single.k]):
            if c not in out:
                out.append(c)
        return out

    def chapter(self, name: str, **given):
        """The options of chapter ``name`` (a field of ``Chapters``). ``given``: the notebook's
        parameters; one that differs from the field's default was set on purpose (papermill
        ``-p``) and wins over the study; one left at the default takes the study's value."""
        options = getattr(self.chapters, name)
        defaults = type(options)()
        changed = {}
        for key, value in given.items():
            if not hasattr(options, key):
                raise VoicesaeError(f"chapter {name!r} has no option {key!r} (have {[f.name for f in dataclasses.fields(options)]})")
            if value != getattr(defaults, key):
                changed[key] = checked.convert(value, checked.hints(type(options))[key], f"{name}.{key}")
        return dataclasses.replace(options, **changed)

    # -- writing it ------------------------------------------------------------------------
    def to_dict(self, relative_to: Path | None = None) -> dict:
        """The study as plain data; paths rewritten relative to ``relative_to`` (a folder) when given."""
        d = checked.plain(self)
        d.pop("path")
        if relative_to is not None:
            def rel(p):
                return p if not p or Path(p).is_absolute() else os.path.relpath(self.path.parent / p, relative_to)
            d["datasets"] = {k: rel(v) for k, v in d["datasets"].items()}
            d["sources"] = rel(d["sources"])
            d["chapters"]["audio"]["recordings_manifest"] = rel(d["chapters"]["audio"]["recordings_manifest"])
            d["chapters"]["audio"]["models"] = [rel(m) if m.endswith(".nemo") else m
                                                for m in d["chapters"]["audio"]["models"]]
            d["models"] = [rel(m) for m in d["models"]]
            d["chapters"]["universality"]["models"] = {
                name: {role: rel(p) for role, p in roles.items()}
                for name, roles in d["chapters"]["universality"]["models"].items()}
        return d

    def write(self, path: str | Path) -> Path:
        """Write the (overridden) study as YAML at ``path``, its paths rewritten to stay valid there."""
        import yaml

        from ..files import atomic_path
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(yaml.safe_dump(self.to_dict(path.parent), sort_keys=False))
        return path

    def sha256(self) -> str:
        """A hash of what the study says (paths as written relative to the current directory)."""
        return hashlib.sha256(json.dumps(self.to_dict(Path.cwd()), sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------------------- loading

def _unique_keys_loader():
    import yaml

    class UniqueKeys(yaml.SafeLoader):
        """YAML's safe loader, refusing a key given twice (plain YAML keeps the last, silently)."""

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)
    return UniqueKeys


def load(path: str | Path, overrides: dict | None = None, device: str = "") -> Study:
    """Read and check a study file; apply ``overrides`` ({name: value}, see ``override``) and
    ``device`` (a notebook's ``device`` parameter: replaces the study's device key unless empty)."""
    import yaml
    path = Path(path)
    if not path.is_file():
        raise VoicesaeError(f"{path}: no such study file")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_unique_keys_loader())
    except UnicodeDecodeError as e:
        raise VoicesaeError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise VoicesaeError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(raw, dict):
        raise VoicesaeError(f"{path}: a study file is a mapping of keys (name, datasets, features, ...)")
    study = from_dict(raw, path)
    if str(device).strip():  # checked here, so the error names the parameter, not a later caller
        from ..device import resolve
        resolve(device, "parameter device")
    overrides = {**(overrides or {}), **({"device": device} if str(device).strip() else {})}
    return override(study, overrides) if overrides else study


IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
"""Names IPython itself puts in a notebook's namespace (beside the underscored ones)."""


def check_parameters(namespace: dict, chapter: str | None = None, known: dict | None = None) -> None:
    """Check a notebook's parameters as papermill left them in ``namespace`` (its ``globals()``),
    before anything runs: every plain value there must be a parameter the notebook declares
    (``study``, ``output_dir``, ``device`` and chapter ``chapter``'s options, or ``known``: {name: type}),
    of its type. Papermill itself passes an unknown ``-p`` name without a word, and a wrong type
    would fail deep inside a cell; here either is one error naming the parameter."""
    import types

    known = dict(known) if known is not None else {"study": str, "output_dir": str, "device": str}
    if chapter is not None:
        options = getattr(Chapters(), chapter)
        known.update(checked.hints(type(options)))
    for name, value in namespace.items():
        if (name.startswith("_") or name in IPYTHON_NAMES or callable(value)
                or isinstance(value, types.ModuleType)):
            continue
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise VoicesaeError(f"parameter {name!r}: this notebook has no such parameter{hint}; it takes "
                                f"{', '.join(known)}")
        checked.convert(value, known[name], f"parameter {name}")
    for name in ("study", "output_dir"):
        if name in known and name in namespace and not str(namespace[name]).strip():
            raise VoicesaeError(f"parameter {name}: empty; expected a path")


def from_dict(raw: dict, path: str | Path = "study.yml") -> Study:
    """A checked Study from plain data (what ``load`` reads from YAML)."""
    study = checked.convert(raw, Study, "", str(path))
    study.path = Path(path)
    if study.models:
        _grid_from_models(study, grid_given="grid" in raw, single_given="single" in raw)
    _check(study)
    return study


def _grid_from_models(study: Study, grid_given: bool, single_given: bool) -> None:
    """Set the grid (and, with one model and no ``single``, the single model) from the SAEs of
    ``models``, after checking they make one full grid; a ``grid`` the study gives must be theirs."""
    from ..formats import read_sae
    from ..sae.config import expand_grid
    where, configs = study.path, {}
    for i, rel in enumerate(study.models):
        try:
            cfg = read_sae(study.resolve(rel)).cfg
        except VoicesaeError as e:
            raise VoicesaeError(f"{where}: models[{i}]: {e}".replace(" give --k", " import it first with "
                                "python -m voicesae_core sae import --k K, and list the imported folder")) from None
        if cfg.name in configs:
            raise VoicesaeError(f"{where}: models[{i}] {rel}: holds {cfg.name}, as models[{configs[cfg.name][0]}] "
                                "does; the SAEs of a grid need different latent sizes, Ks or seeds")
        configs[cfg.name] = (i, cfg)
    cfgs = [c for _, c in configs.values()]
    acts = sorted({c.activation for c in cfgs})
    if len(acts) > 1:
        raise VoicesaeError(f"{where}: models: the SAEs mix activations {acts}; a grid has one")
    theirs = Grid(latent_dims=sorted({c.latent_dim for c in cfgs}),
                  ks=sorted({c.k for c in cfgs}) if acts[0] != "relu" else study.grid.ks,  # relu ignores K
                  activation=acts[0], seeds=sorted({c.seed for c in cfgs}))
    missing = [c.name for c in expand_grid(theirs.latent_dims, theirs.ks, [theirs.activation], theirs.seeds)
               if c.name not in configs]
    if missing:
        raise VoicesaeError(f"{where}: models: the SAEs do not fill a latent size x K grid ({len(missing)} missing: "
                            f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}); the chapters compare "
                            "every latent size at every K, so list SAEs that make a full grid")
    if grid_given and checked.plain(study.grid) != checked.plain(theirs):
        raise VoicesaeError(f"{where}: grid: {checked.plain(study.grid)} is not the grid of the SAEs in models "
                            f"({checked.plain(theirs)}); leave grid out to take theirs")
    study.grid = theirs
    if not single_given and len(cfgs) == 1:
        study.single = Single(latent_dim=cfgs[0].latent_dim, k=cfgs[0].k if acts[0] != "relu" else study.single.k)


PROBABILITIES = ("min_precision", "min_share", "min_child_share", "p_target", "thresholds", "recovered_at")
"""Chapter options that are shares or probabilities, so between 0 and 1."""


def _check(study: Study) -> None:
    """What the types cannot say: features name existing datasets, the grid is not empty."""
    where = study.path
    for name, f in study.features.items():
        if f.dataset not in study.datasets:
            raise VoicesaeError(f"{where}: features.{name}.dataset: {f.dataset!r} is not a dataset "
                                f"(datasets: {sorted(study.datasets)})")
    for key in ("latent_dims", "ks", "seeds"):
        values = getattr(study.grid, key)
        if not values:
            raise VoicesaeError(f"{where}: grid.{key}: expected at least one value")
        if key != "seeds" and min(values) < 1:
            raise VoicesaeError(f"{where}: grid.{key}: expected positive integers, got {values}")
    for key in ("splitting", "verification"):
        feature = getattr(study.chapters, key).feature
        if feature and feature not in study.features:
            raise VoicesaeError(f"{where}: chapters.{key}.feature: {feature!r} is not a feature "
                                f"(features: {sorted(study.features)})")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", study.name):  # it names the output folder
        raise VoicesaeError(f"{where}: name: {study.name!r} is not a plain folder name (letters, digits, . _ -)")
    g, one = study.grid, study.single
    if max(g.ks) > min(g.latent_dims):
        raise VoicesaeError(f"{where}: grid.ks: K {max(g.ks)} exceeds the smallest latent size {min(g.latent_dims)}")
    if one.latent_dim not in g.latent_dims or one.k not in g.ks:
        raise VoicesaeError(f"{where}: single: latent_dim {one.latent_dim}, k {one.k} is not a model of the grid "
                            f"(latent_dims {g.latent_dims}, ks {g.ks})")
    lists = {"grid.latent_dims": g.latent_dims, "grid.ks": g.ks, "grid.seeds": g.seeds,
             "chapters.audio.latent_dims": study.chapters.audio.latent_dims, "chapters.audio.ks": study.chapters.audio.ks,
             "chapters.stability.seeds": study.chapters.stability.seeds,
             "chapters.sparse_probing.probe_ks": study.chapters.sparse_probing.probe_ks,
             "chapters.wide.expansions": study.chapters.wide.expansions, "chapters.wide.ks": study.chapters.wide.ks}
    for key, values in lists.items():
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise VoicesaeError(f"{where}: {key}: {repeated} given more than once")
    for chapter in dataclasses.fields(study.chapters):
        options = getattr(study.chapters, chapter.name)
        for key in PROBABILITIES:
            values = getattr(options, key, None)
            for v in values if isinstance(values, list) else [] if values is None else [values]:
                if not 0 <= v <= 1:
                    raise VoicesaeError(f"{where}: chapters.{chapter.name}.{key}: expected a share between 0 and 1, "
                                        f"got {v}")
    u, w = study.chapters.universality, study.chapters.wide
    for name, roles in u.models.items():
        if "sae_train" not in roles:
            raise VoicesaeError(f"{where}: chapters.universality.models.{name}: no sae_train dataset (its SAE is "
                                f"trained on it; have {sorted(roles)})")
        unknown = sorted(set(roles) - set(study.datasets))
        if unknown:
            raise VoicesaeError(f"{where}: chapters.universality.models.{name}: {unknown}: not among the study's "
                                f"datasets ({sorted(study.datasets)}); each role holds the same segments as the study's")
    for key, values in (("universality.latent_dim", [u.latent_dim]), ("universality.k", [u.k]),
                        ("universality.rows", [u.rows]), ("wide.follow_k", [w.follow_k]), ("wide.steps", [w.steps])):
        if min(values) < 0:
            raise VoicesaeError(f"{where}: chapters.{key}: expected 0 or a positive integer, got {values[0]}")
    if u.latent_dim and u.k > u.latent_dim:
        raise VoicesaeError(f"{where}: chapters.universality.k: K {u.k} exceeds latent_dim {u.latent_dim}")
    for key, values in (("wide.expansions", w.expansions), ("wide.ks", w.ks)):
        if values and min(values) < 1:
            raise VoicesaeError(f"{where}: chapters.{key}: expected positive integers, got {values}")
    if study.training.steps < 1 or study.training.batch_size < 1:
        raise VoicesaeError(f"{where}: training: steps and batch_size must be positive integers")
    if not (study.device in ("auto", "cpu", "cuda") or study.device.startswith("cuda:")
            and study.device[5:].isdigit()):
        raise VoicesaeError(f"{where}: device: expected auto, cpu, cuda or cuda:N, got {study.device!r}")


def keys() -> list[checked.Key]:
    """Every dotted key a study file or an override may set (the feature registry's keys under
    ``features.<name>.``), with its type, default and docstring: the study file's reference."""
    return checked.keys(Study)


def override(study: Study, overrides: dict) -> Study:
    """A copy of ``study`` with ``overrides`` applied: {dotted key or field name: value}. An unknown
    name or a value of the wrong type is one VoicesaeError naming it; nothing is half-applied."""
    d = checked.plain(study)
    d.pop("path")
    known = [k.name for k in keys() if "<name>" not in k.name]
    for name, value in overrides.items():
        if name in known or name.split(".")[0] in ("datasets", "features"):
            targets = [name]
        else:  # a field name: the grid's, single model's or training's if it is one, else every chapter's
            targets = [k for k in known if k.rsplit(".", 1)[-1] == name]
            targets = [k for k in targets if not k.startswith("chapters.")] or targets
        if not targets:
            close = difflib.get_close_matches(name, list(known) + sorted({k.rsplit(".", 1)[-1] for k in known}), 3)
            raise VoicesaeError(f"parameter {name!r}: no study key or chapter parameter of that name"
                                + (f" (did you mean {', '.join(close)}?)" if close else
                                   " (python -m voicesae_core study keys lists them)"))
        for target in targets:
            node = d
            *parents, leaf = target.split(".")
            for p in parents:
                if not isinstance(node.get(p), dict):
                    raise VoicesaeError(f"parameter {name!r}: {'.'.join(parents)} is not a mapping in the study")
                node = node[p]
            node[leaf] = value
    try:
        out = from_dict(d, study.path)
    except VoicesaeError as e:
        raise VoicesaeError(f"parameter override: {e}".replace(f"{study.path}: ", "")) from None
    return out
