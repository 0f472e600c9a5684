"""Validated input arrays: every embedding matrix enters the package through ``as_data``."""
from __future__ import annotations

import numpy as np
import torch

from .errors import VoicesaeError


def as_data(x, what: str = "data") -> torch.Tensor:
    """Validate a 2-D float array of embeddings and return it as a float32 CPU tensor."""
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu", torch.float32)
    else:
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow becomes inf, named below
                t = torch.from_numpy(np.asarray(x, dtype=np.float32))
        except (TypeError, ValueError) as e:
            raise VoicesaeError(f"{what}: not a numeric array ({e})") from None
    if t.ndim != 2:
        raise VoicesaeError(f"{what}: expected a 2-D array (rows x dimensions), got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise VoicesaeError(f"{what}: empty (shape {tuple(t.shape)})")
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        row, col = (int(v) for v in bad.nonzero()[0])
        raise VoicesaeError(f"{what}: row {row}, dimension {col} is {t[row, col].item()} "
                            f"({int(bad.any(1).sum())} rows hold NaN or inf)")
    return t.contiguous()


def read_npy(path, what: str | None = None) -> np.ndarray:
    """A 2-D real-valued array from a .npy file, its header checked before any data is read.

    Never unpickles; a header that claims more data than the file holds (truncated, or a forged
    shape that would exhaust memory), an object, complex or text dtype, or a shape other than
    (rows >= 1, dimensions >= 1) is one VoicesaeError naming the file.
    """
    from pathlib import Path

    p = Path(path)
    name = what or str(p)
    if p.is_dir():
        raise VoicesaeError(f"{name}: is a folder, not a .npy file")
    if not p.is_file():
        raise VoicesaeError(f"{name}: no such file")
    try:
        with open(p, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(f)
            offset = f.tell()
    except (ValueError, OSError, SyntaxError, EOFError) as e:
        raise VoicesaeError(f"{name}: not a .npy array ({e})") from None
    if dtype.hasobject or dtype.kind not in "fiu":
        raise VoicesaeError(f"{name}: dtype {dtype} is not a real number type (expected float or int)")
    if len(shape) != 2:
        raise VoicesaeError(f"{name}: expected a 2-D array (rows x dimensions), got shape {shape}")
    if shape[0] == 0 or shape[1] == 0:
        raise VoicesaeError(f"{name}: empty (shape {shape})")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = p.stat().st_size - offset
    if have != need:
        raise VoicesaeError(f"{name}: the header says shape {shape} ({need:,} bytes of {dtype}) but the file "
                            f"holds {have:,} bytes ({'truncated' if have < need else 'trailing bytes'}: corrupt)")
    try:
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise VoicesaeError(f"{name}: not a readable .npy array ({e})") from None
