"""The size and mtime of every package file of a channel: the incremental index's cache key.

One ``stat`` per file is unavoidable (a package copied over in place changes no directory), and
on a channel of 10,000 files those stats are most of a run that adds one package. Python threads
cannot overlap them: each stat hands the GIL back and forth, which costs more than the call. So on
Linux, with more than one CPU and no other thread running, the names are split between this
process and forked children, each stat-ing its share and sending back two integer arrays.
"""

from __future__ import annotations

import array
import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from stat import S_ISREG
from typing import NamedTuple

__all__ = ["FileStats", "artifact_stats", "differences", "stats_of"]

#: below this many files per process, a fork costs more than the stats it takes over
_PER_PROCESS = 2000
#: at most this many files come and go for :func:`differences` to compare the rest in one go
_FEW = 64
#: a stat result meaning "not listed": gone since the listing, a dangling link, not a file
_SKIP = -1


class FileStats(NamedTuple):
    """One folder's package files in listing order, with their sizes and mtimes (ns)."""

    names: list[str]
    sizes: array.array[int]
    mtimes: array.array[int]

    def as_dict(self) -> dict[str, tuple[int, int]]:
        """``name -> (size, mtime_ns)``."""
        return dict(zip(self.names, zip(self.sizes, self.mtimes, strict=True), strict=True))


def differences(before: FileStats, now: FileStats) -> tuple[list[str], list[str]]:
    """``(new or changed, removed)`` file names between two listings of a folder, sorted.

    A folder's listing order only moves where files came or went, so after setting those aside
    the rest is compared in one go; any other difference is found name by name.
    """
    old_names, new_names = set(before.names), set(now.names)
    added, gone = new_names - old_names, old_names - new_names
    if len(added) + len(gone) <= _FEW and _without(now, added) == _without(before, gone):
        return sorted(added), sorted(gone)
    old = before.as_dict()
    changed = [name for name, pair in now.as_dict().items() if old.get(name) != pair]
    return sorted(changed), sorted(gone)


def stats_of(found: FileStats, names: Sequence[str]) -> list[tuple[int, int]]:
    """``(size, mtime_ns)`` of each of ``names``, all listed in ``found``."""
    if len(names) > _FEW:
        every = found.as_dict()
        return [every[name] for name in names]
    at = [found.names.index(name) for name in names]
    return [(found.sizes[i], found.mtimes[i]) for i in at]


def _without(found: FileStats, names: set[str]) -> FileStats:
    """``found`` less ``names`` (each listed in it)."""
    if not names:
        return found
    cuts = sorted(found.names.index(name) for name in names)
    kept, sizes, mtimes = [], array.array("q"), array.array("q")
    for start, end in zip([-1, *cuts], [*cuts, len(found.names)], strict=True):
        kept += found.names[start + 1:end]
        sizes += found.sizes[start + 1:end]
        mtimes += found.mtimes[start + 1:end]
    return FileStats(kept, sizes, mtimes)


def artifact_stats(folders: Sequence[Path], suffixes: tuple[str, ...]) -> list[FileStats]:
    """For each folder, the regular files ending in ``suffixes``, with their sizes and mtimes.

    Links are followed; a dangling one, or a directory named like a package, is left out. The
    ``.part`` files a killed indexer left are removed (the caller holds the channel lock).
    """
    with contextlib.ExitStack() as stack:
        dirs = [stack.enter_context(_opened(folder)) for folder in folders]
        names = [_listed(folder, where, suffixes)
                 for folder, where in zip(folders, dirs, strict=True)]
        sizes, mtimes = _stat_all(list(zip(dirs, names, strict=True)))
    found: list[FileStats] = []
    at = 0
    for listed in names:
        end = at + len(listed)
        one = FileStats(listed, sizes[at:end], mtimes[at:end])
        if _SKIP in one.sizes:
            keep = [i for i, size in enumerate(one.sizes) if size != _SKIP]
            one = FileStats([listed[i] for i in keep],
                            array.array("q", [one.sizes[i] for i in keep]),
                            array.array("q", [one.mtimes[i] for i in keep]))
        found.append(one)
        at = end
    return found


@contextlib.contextmanager
def _opened(folder: Path) -> Iterator[int | Path]:
    """The folder as an open directory descriptor (stat-ing relative to it resolves no path
    again per file), or as its path where there are none (Windows)."""
    if os.listdir not in os.supports_fd:
        yield folder
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


def _listed(folder: Path, where: int | Path, suffixes: tuple[str, ...]) -> list[str]:
    names = os.listdir(where)  # names only: cheaper than scandir's entries, whose types go unused
    for name in names:
        if name.startswith(".") and name.endswith(".part"):
            (folder / name).unlink(missing_ok=True)
    return [name for name in names if name.endswith(suffixes)]


#: files to stat: runs of names, each in one folder (a directory descriptor, or a path)
_Work = list[tuple["int | Path", list[str]]]


def _stat_all(work: _Work) -> tuple[array.array[int], array.array[int]]:
    """Sizes and mtimes of every name in ``work``, in order; :data:`_SKIP` for files not to list."""
    total = sum(len(names) for _, names in work)
    processes = min(_cpus(), total // _PER_PROCESS)
    if processes < 2 or not _can_fork():
        return _stat_share(work)
    shares = _split(work, -(-total // processes))
    children: list[tuple[int, int]] = []
    try:
        for share in shares[1:]:
            children.append(_forked(share))
        sizes, mtimes = _stat_share(shares[0])
        for share in shares[1:]:
            pid, reader = children.pop(0)
            got = _collect(pid, reader, sum(len(names) for _, names in share))
            more_sizes, more_mtimes = got if got is not None else _stat_share(share)
            sizes += more_sizes
            mtimes += more_mtimes
    finally:  # on an error here, no child is left a zombie nor a pipe open
        for pid, reader in children:
            os.close(reader)
            os.waitpid(pid, 0)
    return sizes, mtimes


def _split(work: _Work, step: int) -> list[_Work]:
    """``work`` cut into consecutive shares of ``step`` names (the last may be smaller)."""
    shares: list[_Work] = [[]]
    room = step
    for where, names in work:
        at = 0
        while at < len(names):
            if not room:
                shares.append([])
                room = step
            part = names[at:at + room]
            shares[-1].append((where, part))
            at += len(part)
            room -= len(part)
    return shares


def _stat_share(work: _Work) -> tuple[array.array[int], array.array[int]]:
    sizes, mtimes = array.array("q"), array.array("q")
    stat = os.stat
    for where, names in work:
        for name in names:
            try:
                st = stat(name, dir_fd=where) if isinstance(where, int) else stat(where / name)
            except FileNotFoundError:  # removed since the listing, or a dangling link
                sizes.append(_SKIP)
                mtimes.append(0)
                continue
            sizes.append(st.st_size if S_ISREG(st.st_mode) else _SKIP)
            mtimes.append(st.st_mtime_ns)
    return sizes, mtimes


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _can_fork() -> bool:
    # a forked child of a process with other threads may inherit a lock one of them held
    return sys.platform == "linux" and threading.active_count() == 1


def _forked(share: _Work) -> tuple[int, int]:
    """Start a child that stats ``share`` and writes both arrays to a pipe; (pid, read end)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's cleanup
        status = 1
        try:
            os.close(reader)
            sizes, mtimes = _stat_share(share)
            with open(writer, "wb") as pipe:
                pipe.write(sizes.tobytes())
                pipe.write(mtimes.tobytes())
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    return pid, reader


def _collect(pid: int, reader: int, count: int
             ) -> tuple[array.array[int], array.array[int]] | None:
    """A child's two arrays, or ``None`` when it failed (its share is then stat-ed here, so
    that a real error is raised in this process, naming the file)."""
    with open(reader, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or len(data) != 16 * count:
        return None
    sizes, mtimes = array.array("q"), array.array("q")
    sizes.frombytes(data[:8 * count])
    mtimes.frombytes(data[8 * count:])
    return sizes, mtimes
