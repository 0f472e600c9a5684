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
