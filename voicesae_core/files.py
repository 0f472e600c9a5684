"""Small file helpers: atomic writes (temp file, then rename) and content hashes."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import VoicesaeError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or exception mid-write leaves the old file (or nothing) in place, never half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it private; give it a normal file's mode
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_json(path: str | os.PathLike):
    """Parse a JSON file; a file that is not JSON is a VoicesaeError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VoicesaeError(f"{path}: not valid JSON ({e})") from None


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(path: str | os.PathLike, table, index: bool = True) -> Path:
    """Write a pandas table as CSV, atomically; returns the path."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=index, lineterminator="\n")
    return Path(path)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_array(x) -> str:
    """Hex sha256 of an array's float32 C-order bytes and shape (identifies training data)."""
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    h = hashlib.sha256(repr(a.shape).encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()
