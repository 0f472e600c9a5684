"""Which torch device a run uses, and how data meet a model there.

``resolve`` turns a study's or option's ``device`` (``auto``: CUDA when present, else CPU;
``cpu``; ``cuda``; ``cuda:N``) into a checked ``torch.device``. Models live on that device; data
go to the model's device (``to_model``) and results come back to the host only at the edge
(``to_numpy``), so every analysis works whichever device its model was loaded or trained on.
``exact_float32`` keeps float32 products in full precision on a GPU (no TF32) and cuDNN's
convolutions deterministic, so CUDA results stay within float32 rounding of the CPU's.
"""
from __future__ import annotations

import contextlib
import os
import re

import numpy as np
import torch

from .errors import VoicesaeError


def resolve(name: str, what: str = "device") -> torch.device:
    """The torch device ``name`` names, checked to exist here; ``what`` (the option or key) is named
    in the error, e.g. ``--device cuda: this machine has no CUDA device``."""
    name = str(name).strip()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    m = re.fullmatch(r"cuda(?::(\d+))?", name)
    if not m:
        raise VoicesaeError(f"{what} {name!r}: expected auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise VoicesaeError(f"{what} {name}: this machine has no CUDA device (torch.cuda.is_available() is "
                            "False); use cpu or auto")
    if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
        raise VoicesaeError(f"{what} {name}: there are only {torch.cuda.device_count()} CUDA device(s)")
    # cuBLAS is bitwise reproducible on one stream only with a fixed workspace; it reads this when
    # its first handle is made, so it is set before any CUDA work (a user's own setting is kept).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.device(name)


def describe(device: torch.device) -> str:
    """``cpu``, or ``cuda`` with the GPU's name (``cuda (NVIDIA H200)``): what a result's numbers depend on."""
    device = torch.device(device)
    return "cpu" if device.type == "cpu" else (
        f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type)


def of(model: torch.nn.Module) -> torch.device:
    """The device a model's parameters are on."""
    return next(model.parameters()).device


def to_model(x, model: torch.nn.Module) -> torch.Tensor:
    """``x`` (an array or tensor) as float32 on ``model``'s device."""
    return torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x,
                           dtype=torch.float32, device=of(model))


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A result back on the host, as a numpy array (from any device)."""
    return t.detach().cpu().numpy()


@contextlib.contextmanager
def exact_float32():
    """For the duration: float32 matrix products and convolutions in full float32 (CUDA would use
    TF32 for convolutions by default, about 1e-3 relative error) and cuDNN's deterministic
    algorithms. Nothing changes on a CPU; the previous settings are restored after.

    PyTorch has two ways to set TF32 and refuses to read one after the other was used, so this
    uses whichever the process already uses (the older ``allow_tf32`` flags unless the newer
    ``fp32_precision`` ones were set)."""
    b = torch.backends
    try:
        before = b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32
    except RuntimeError:  # the process set the newer fp32_precision flags: keep to them
        before = None
    if before is not None:
        b.cuda.matmul.allow_tf32 = False
        try:
            with b.cudnn.flags(enabled=b.cudnn.enabled, benchmark=False, deterministic=True, allow_tf32=False):
                yield
        finally:
            b.cuda.matmul.allow_tf32 = before[0]
        return
    flags = (b.cuda.matmul, b.cudnn.conv, b.cudnn.rnn)
    precision = [f.fp32_precision for f in flags]
    deterministic, benchmark = b.cudnn.deterministic, b.cudnn.benchmark
    try:
        for f in flags:
            f.fp32_precision = "ieee"
        b.cudnn.deterministic, b.cudnn.benchmark = True, False
        yield
    finally:
        for f, p in zip(flags, precision):
            f.fp32_precision = p
        b.cudnn.deterministic, b.cudnn.benchmark = deterministic, benchmark
