"""All-or-nothing output: files are written under a temporary name and renamed into place.

A reader (or a crash) never sees a half-written file, and a failed command leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "commit",
    "holds",
    "settle",
    "temporary_beside",
    "write_if_changed",
]


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path`` for binary writing; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    fh, tmp = temporary_beside(target)
    try:
        with fh:
            yield fh
            commit(fh, tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def temporary_beside(path: Path, mode: str = "wb") -> tuple[IO[bytes], Path]:
    """A new, private temporary file in ``path``'s folder (made if missing), opened in ``mode``:
    what will become ``path`` once :func:`commit` renames it (same folder, so same filesystem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    return os.fdopen(fd, mode), Path(tmp)


def commit(fh: IO[bytes], tmp: Path, target: Path) -> None:
    """:func:`settle` ``fh`` (open on ``tmp``) and rename it onto ``target``."""
    settle(fh, tmp)
    os.replace(tmp, target)


def settle(fh: IO[bytes], tmp: Path) -> None:
    """Flush and fsync ``fh`` (open on ``tmp``) and give it the usual ``0666 & ~umask`` mode
    (mkstemp makes files owner-only): ready to be renamed into place."""
    fh.flush()
    os.chmod(tmp, 0o666 & ~_umask())
    os.fsync(fh.fileno())


def _umask() -> int:
    """The process umask. Linux reports it; elsewhere reading it means setting it and setting it
    straight back, which a lock keeps this module's threads (staged outputs) from interleaving."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as fh:
        fh.write(data)


def write_if_changed(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless it already holds exactly that; True if written.

    Unchanged files keep their mtime, so HTTP caches (ETag, If-Modified-Since) stay valid.
    """
    if holds(path, data):
        return False
    atomic_write_bytes(path, data)
    return True


def holds(path: str | os.PathLike[str], data: bytes) -> bool:
    """Whether ``path`` exists and holds exactly ``data`` (its size is compared first)."""
    target = Path(path)
    try:
        return target.stat().st_size == len(data) and target.read_bytes() == data
    except FileNotFoundError:
        return False
