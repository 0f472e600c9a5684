"""Which torch device a run uses: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
from __future__ import annotations

import re

import torch

from .errors import VoicesaeError


def resolve(name: str, what: str = "device") -> torch.device:
    """The torch device ``name`` names, checked to exist here; ``what`` (the option or key) is named
    in the error, e.g. ``--device cuda: this machine has no CUDA device``."""
    name = str(name).strip()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
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
    return torch.device(name)
