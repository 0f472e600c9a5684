"""Configurations: one dataclass for a sparse autoencoder, one for how a grid of them is trained.

Every field is saved in ``cfg.json`` beside each model, so a model file says exactly how it
was made. Names follow the paper: ``latent_dim`` (L), ``k`` (the TopK value K).
"""
from __future__ import annotations

import dataclasses
import itertools
import typing
from dataclasses import dataclass
from typing import Literal

from ..errors import VoicesaeError

Activation = Literal["topk", "batchtopk", "relu"]
ACTIVATIONS = typing.get_args(Activation)


@dataclass(frozen=True)
class SAEConfig:
    """One sparse autoencoder: e (d_in) -> v (latent_dim) -> epsilon (d_in), as in Fig. 1."""

    latent_dim: int
    """L, the number of latents (the paper: 100 to 1,200)."""

    k: int = 20
    """K, latents kept per sample by TopK (per sample on average for BatchTopK). Ignored by relu."""

    activation: Activation = "topk"
    """"topk" (OpenAI's TopK then ReLU), "batchtopk" (top K*batch over the batch; a learned
    threshold at inference) or "relu" (ReLU + L1 penalty, the paper's dropped variant)."""

    seed: int = 0
    """Seeds the weight initialisation (batch order is the grid's ``TrainConfig.data_seed``)."""

    d_in: int | None = None
    """Input dimension (192 for TitaNet); filled in from the data when training."""

    l1_coef: float = 1e-3
    """relu only: weight of the L1 penalty sum_l |v_l| * ||W_dec[l]|| (per sample, averaged)."""

    aux_coef: float = 1 / 32
    """Weight of the AuxK loss that revives dead latents (Gao et al. 2024); 0 turns it off."""

    k_aux: int | None = None
    """Latents used by the AuxK reconstruction of the residual; None means d_in // 2."""

    dead_after_samples: int | None = None
    """A latent is dead when it has not fired on this many training samples; None means a
    tenth of an epoch (of the data the grid is trained on)."""

    normalize_input: bool = True
    """Scale inputs to unit mean squared norm while training; the scale is folded into the
    biases when saving, so a saved model takes raw inputs."""

    lr: float | None = None
    """Adam learning rate; None means 2e-4 / sqrt(latent_dim / 2**14), sparsify's rule."""

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise VoicesaeError(f"SAEConfig.activation: unknown activation {self.activation!r}; expected one of {ACTIVATIONS}")
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise VoicesaeError(f"SAEConfig.latent_dim: must be a positive integer, got {self.latent_dim!r}")
        if self.activation != "relu" and not (1 <= self.k <= self.latent_dim):
            raise VoicesaeError(f"SAEConfig.k: K={self.k} must be between 1 and latent_dim={self.latent_dim}")
        if self.d_in is not None and self.d_in < 1:
            raise VoicesaeError(f"SAEConfig.d_in: must be positive, got {self.d_in}")
        if self.k_aux is not None and self.k_aux < 1:
            raise VoicesaeError(f"SAEConfig.k_aux: must be positive, got {self.k_aux}")
        if self.aux_coef < 0 or self.l1_coef < 0:
            raise VoicesaeError("SAEConfig.aux_coef and l1_coef must be >= 0")

    @property
    def name(self) -> str:
        """A file-system friendly name, e.g. ``L200_k20_topk_s0``."""
        k = "" if self.activation == "relu" else f"_k{self.k}"
        return f"L{self.latent_dim}{k}_{self.activation}_s{self.seed}"

    def resolved(self, d_in: int, n_train: int) -> "SAEConfig":
        """This config with every None default made concrete for data of width d_in and n_train rows."""
        if self.d_in is not None and self.d_in != d_in:
            raise VoicesaeError(f"SAEConfig.d_in: config {self.name} expects inputs of dimension {self.d_in}, data has {d_in}")
        return dataclasses.replace(
            self,
            d_in=d_in,
            k_aux=self.k_aux if self.k_aux is not None else max(1, d_in // 2),
            dead_after_samples=self.dead_after_samples if self.dead_after_samples is not None else max(1, n_train // 10),
            lr=self.lr if self.lr is not None else 2e-4 / (self.latent_dim / 2**14) ** 0.5,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SAEConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise VoicesaeError(f"SAEConfig: unknown fields {sorted(unknown)}")
        for name, t in typing.get_type_hints(cls).items():  # a saved file may say "16" for 16
            if name in d and not _is(d[name], t):
                raise VoicesaeError(f"SAEConfig: field {name!r} is {d[name]!r}, expected {t}")
        return cls(**d)


def _is(value, t) -> bool:
    """Whether ``value`` has type ``t`` (int, float, bool, str, a Literal, or X | None), as JSON gives it."""
    args = typing.get_args(t)
    if typing.get_origin(t) is Literal:
        return value in args
    if args:  # X | None
        return any(_is(value, a) for a in args)
    if t is type(None):
        return value is None
    if t is bool:
        return isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, t)


@dataclass(frozen=True)
class TrainConfig:
    """How a grid is trained; shared by every model in it (one pass of the data serves all)."""

    epochs: int = 1
    """Passes over the training data."""

    batch_size: int = 4096
    """Samples per optimizer step."""

    data_seed: int = 0
    """Seeds the batch order (a fresh permutation each epoch) and the geometric-median sample."""

    beta1: float = 0.9
    """Adam's first-moment decay."""

    beta2: float = 0.999
    """Adam's second-moment decay."""

    eps: float = 1e-8
    """Adam's epsilon."""

    median_sample: int = 32768
    """Rows used to compute the geometric median that initialises b_pre."""

    checkpoint_every_steps: int | None = None
    """Also checkpoint every this many steps (always at each epoch's end)."""

    device: str = "auto"
    """"auto" (CUDA when present, else CPU), "cpu" or "cuda"."""

    backend: Literal["auto", "numba", "torch"] = "auto"
    """Sparse kernels: "numba" (CPU), "torch" (any device) or "auto" (numba on CPU)."""

    workers: int | None = None
    """CPU: threads that each train their share of the grid's models, every model single-threaded
    (measured faster on 2 cores than one model at a time on all cores). None: as many as torch
    has intra-op threads, at most the number of models; 1 on CUDA."""

    eval_batch_size: int = 16384
    """Rows per batch when computing the final metrics."""

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise VoicesaeError("TrainConfig: epochs and batch_size must be positive")
        if self.backend not in ("auto", "numba", "torch"):
            raise VoicesaeError(f"TrainConfig.backend: unknown backend {self.backend!r}")
        if self.workers is not None and self.workers < 1:
            raise VoicesaeError(f"TrainConfig.workers: must be positive, got {self.workers}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise VoicesaeError(f"TrainConfig.device: unknown device {self.device!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def expand_grid(latent_dims, ks=(20,), activations=("topk",), seeds=(0,), **common) -> list[SAEConfig]:
    """Every combination of latent_dims x ks x activations x seeds as SAEConfigs (relu ignores ks).

    ``common`` sets the other SAEConfig fields for all of them. Order: latent_dim, then K.
    """
    for what, values in (("latent_dims", latent_dims), ("ks", ks), ("activations", activations), ("seeds", seeds)):
        values = list(values)
        repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
        if repeated:  # the grid would hold one model for both, silently
            raise VoicesaeError(f"{what} {values}: {repeated} given more than once")
    out, seen = [], set()
    for act, seed, latent, k in itertools.product(activations, seeds, latent_dims, ks):
        cfg = SAEConfig(latent_dim=int(latent), k=int(k) if act != "relu" else 0, activation=act, seed=int(seed), **common)
        if cfg.name not in seen:
            seen.add(cfg.name)
            out.append(cfg)
    return out
