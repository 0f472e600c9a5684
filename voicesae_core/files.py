"""Small file helpers: atomic writes (temp file, then rename) and content hashes."""
from __future__ import annotations

import contextlib
import glob
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
    _remove_orphans(path, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix, dir=path.parent)
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


def _remove_orphans(path: Path, suffix: str) -> None:
    """Delete the temporary files of earlier writes of ``path`` whose process is gone (a SIGKILL
    skips the cleanup above); a temporary file names its writer's PID."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*{suffix}"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_json(path: str | os.PathLike):
    """Parse a JSON file; a file that is not JSON is a VoicesaeError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VoicesaeError(f"{path}: not valid JSON ({e})") from None
    except OSError as e:  # missing, a folder, unreadable
        raise VoicesaeError(f"{path}: cannot be read ({e.strerror or e})") from None


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


def check_output(out: str | os.PathLike, inputs=(), what: str = "--out", kind: str = "file",
                 ours=None) -> Path:
    """Refuse, before any work, an output path that would destroy something the command did not make.

    ``out`` may not be (or, for a folder, contain) one of ``inputs``; a ``kind="file"`` output may
    not be an existing folder, nor a ``kind="folder"`` output an existing file; an existing file is
    replaced only when ``ours(path)`` says it is one this command writes (e.g. a data manifest).
    Returns ``out`` as a Path. The error names the option (``what``) and the path.
    """
    out = Path(out)
    target = out.resolve()
    for src in inputs:
        if src is None:
            continue
        src = Path(src).resolve()
        if target == src or (kind == "folder" and target in src.parents):
            where = "is" if target == src else "holds"
            raise VoicesaeError(f"{what} {out}: {where} the input {src}; writing there would destroy it "
                                "(choose another path)")
    if kind == "file" and out.is_dir():
        raise VoicesaeError(f"{what} {out}: is a folder; expected a file path")
    if kind == "folder" and out.exists() and not out.is_dir():
        raise VoicesaeError(f"{what} {out}: is an existing file; expected a folder (a new or earlier output folder)")
    if kind == "file" and out.is_file() and ours is not None and not ours(out):
        raise VoicesaeError(f"{what} {out}: exists and is not a file this command wrote; "
                            "refusing to overwrite it (move it, or choose another path)")
    parent = out.parent if kind == "file" else out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise VoicesaeError(f"{what} {out}: {parent} is a file, not a folder")
    if parent.exists():
        try:  # a real write, not os.access: root passes access() on /proc and some read-only mounts
            with tempfile.TemporaryFile(dir=parent):
                pass
        except OSError as e:
            raise VoicesaeError(f"{what} {out}: folder {parent} is not writable ({e.strerror})") from None
    return out
