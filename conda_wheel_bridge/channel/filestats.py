"""The size and mtime of every package file of a channel: the incremental index's cache key.

One ``stat`` per file is unavoidable (a package copied over in place changes no directory), and
on a channel of 10,000 files those stats are most of a run that adds one package. Python threads
cannot overlap them: each stat hands the GIL back and forth, which costs more than the call. So on
Linux, with more than one CPU and no other thread running, the work is shared with forked
children: whole folders, listing included, when the folders' sizes (as last seen) divide about
evenly; else the listed names, split in equal shares.
"""

from __future__ import annotations

import array
import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from stat import S_ISREG
from typing import NamedTuple

__all__ = ["FileStats", "artifact_stats", "differences", "fork_is_safe", "packed", "stats_of",
           "unpacked"]

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


def packed(found: FileStats) -> tuple[bytes, bytes, bytes]:
    """``found`` as three blobs: the names (UTF-8, NUL-separated) and both arrays (signed 64-bit
    integers, native order): how the cache stores a snapshot and a child sends a folder back."""
    return "\0".join(found.names).encode(), found.sizes.tobytes(), found.mtimes.tobytes()


def unpacked(names: bytes, sizes: bytes, mtimes: bytes) -> FileStats | None:
    """:func:`packed`'s blobs back; ``None`` when they do not hang together."""
    found = FileStats(names.decode().split("\0") if names else [], array.array("q"),
                      array.array("q"))
    try:
        found.sizes.frombytes(sizes)
        found.mtimes.frombytes(mtimes)
    except ValueError:  # not a whole number of integers
        return None
    if not len(found.names) == len(found.sizes) == len(found.mtimes):
        return None
    return found


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


def artifact_stats(folders: Sequence[Path], suffixes: tuple[str, ...],
                   expected: Sequence[int] = ()) -> list[FileStats]:
    """For each folder, the regular files ending in ``suffixes``, with their sizes and mtimes.

    Links are followed; a dangling one, or a directory named like a package, is left out. The
    ``.part`` files a killed indexer left are removed (the caller holds the channel lock).
    ``expected`` (each folder's file count when last seen) lets whole folders be shared out.
    """
    with contextlib.ExitStack() as stack:
        dirs = [stack.enter_context(_opened(folder)) for folder in folders]
        jobs = [_Folder(folder, where, suffixes) for folder, where in zip(folders, dirs,
                                                                          strict=True)]
        plan = _whole_folders(expected) if len(expected) == len(folders) else None
        raw = _by_folders(jobs, plan) if plan is not None else _by_names(jobs)
    return [_kept(one) for one in raw]


class _Folder(NamedTuple):
    """One folder to list and stat: its path, and how to reach its files."""

    path: Path
    where: int | Path  # an open directory descriptor, or the path where there are none
    suffixes: tuple[str, ...]

    def listed(self) -> list[str]:
        return _listed(self.path, self.where, self.suffixes)


#: what one folder gives before the files not to list (:data:`_SKIP`) are dropped
_Raw = FileStats


def _kept(raw: _Raw) -> FileStats:
    """The listing less the files marked :data:`_SKIP`."""
    if _SKIP not in raw.sizes:
        return raw
    keep = [i for i, size in enumerate(raw.sizes) if size != _SKIP]
    return FileStats([raw.names[i] for i in keep], array.array("q", [raw.sizes[i] for i in keep]),
                     array.array("q", [raw.mtimes[i] for i in keep]))


def _whole_folders(expected: Sequence[int]) -> list[list[int]] | None:
    """Folder indexes shared out whole, one list per process (this one first), when the
    expected counts divide about evenly; ``None`` when they do not or one process does."""
    processes = min(_cpus(), sum(expected) // _PER_PROCESS, len(expected))
    if processes < 2 or not fork_is_safe():
        return None
    shares: list[list[int]] = [[] for _ in range(processes)]
    loads = [0] * processes
    for i in sorted(range(len(expected)), key=lambda i: -expected[i]):
        lightest = loads.index(min(loads))
        shares[lightest].append(i)
        loads[lightest] += expected[i]
    if max(loads) > 1.25 * sum(expected) / processes:
        return None
    return shares


def _by_folders(jobs: list[_Folder], plan: list[list[int]]) -> list[_Raw]:
    """List and stat the folders, each share of ``plan`` in its own process."""
    found: dict[int, _Raw] = {}

    def work(share: list[int]) -> list[_Raw]:
        return [_list_and_stat(jobs[i]) for i in share]

    children = _started([functools.partial(_packed_folders, work, share) for share in plan[1:]])
    try:
        for i, one in zip(plan[0], work(plan[0]), strict=True):
            found[i] = one
        for share in plan[1:]:
            got = _unpacked_folders(_result(*children.pop(0)), len(share))
            for i, one in zip(share, got if got is not None else work(share), strict=True):
                found[i] = one
    finally:
        _reap(children)
    return [found[i] for i in range(len(jobs))]


def _by_names(jobs: list[_Folder]) -> list[_Raw]:
    """List every folder here, then stat the names in equal shares (a channel with one big
    folder, or folders too uneven to share out whole)."""
    names = [job.listed() for job in jobs]
    sizes, mtimes = _stat_all([(job.where, listed) for job, listed in zip(jobs, names,
                                                                           strict=True)])
    raw: list[_Raw] = []
    at = 0
    for listed in names:
        end = at + len(listed)
        raw.append(FileStats(listed, sizes[at:end], mtimes[at:end]))
        at = end
    return raw


def _list_and_stat(job: _Folder) -> _Raw:
    names = job.listed()
    return FileStats(names, *_stat_share([(job.where, names)]))


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
    if processes < 2 or not fork_is_safe():
        return _stat_share(work)
    shares = _split(work, -(-total // processes))
    children = _started([functools.partial(_packed_stats, share) for share in shares[1:]])
    try:
        sizes, mtimes = _stat_share(shares[0])
        for share in shares[1:]:
            got = _unpacked_stats(_result(*children.pop(0)),
                                  sum(len(names) for _, names in share))
            more_sizes, more_mtimes = got if got is not None else _stat_share(share)
            sizes += more_sizes
            mtimes += more_mtimes
    finally:
        _reap(children)
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


def fork_is_safe() -> bool:
    """Whether this process may fork: on Linux, with no other thread of any kind alive."""
    # a forked child of a process with other threads may inherit a lock one of them held: not
    # only Python's threads, but native ones too (a Rust runtime's, a compressor's pool), which
    # only the kernel lists (Python 3.12+ warns of such forks)
    return sys.platform == "linux" and threading.active_count() == 1 and _os_threads() == 1


def _os_threads() -> int:
    """How many threads this process has, as the kernel counts them (2 when it cannot say)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 2


# --- children: each runs one job and sends its bytes back through a pipe ------------------------

def _started(jobs: list[Callable[[], bytes]]) -> list[tuple[int, int]]:
    """Fork one child per job; their ``(pid, read end)``. On an error, those started are reaped."""
    children: list[tuple[int, int]] = []
    try:
        for job in jobs:
            children.append(_forked(job, [reader for _, reader in children]))
    except BaseException:
        _reap(children)
        raise
    return children


def _forked(job: Callable[[], bytes], inherited: list[int]) -> tuple[int, int]:
    """Start a child running ``job``; ``inherited``: the read ends of earlier children's pipes,
    which it closes, so that only this process holds them (closing one then stops its writer)."""
    reader, writer = os.pipe()
    try:
        pid = os.fork()
    except BaseException:
        os.close(reader)
        os.close(writer)
        raise
    if pid == 0:  # the child: never returns, never runs the parent's cleanup
        status = 1
        try:
            for fd in (reader, *inherited):
                os.close(fd)
            data = job()
            with open(writer, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    return pid, reader


def _result(pid: int, reader: int) -> bytes | None:
    """What a child sent, or ``None`` when it failed (its work is then done here, so that a real
    error is raised in this process, naming the file)."""
    with open(reader, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    return data if status == 0 else None


def _reap(children: list[tuple[int, int]]) -> None:
    """Close and wait for children not collected (after an error here): no zombie, no open pipe.

    Every read end is closed first: a child still writing then fails at once (EPIPE) instead of
    waiting for a reader that will never come.
    """
    for _, reader in children:
        os.close(reader)
    for pid, _ in children:
        os.waitpid(pid, 0)
    children.clear()


def _packed_stats(share: _Work) -> bytes:
    sizes, mtimes = _stat_share(share)
    return sizes.tobytes() + mtimes.tobytes()


def _unpacked_stats(data: bytes | None, count: int
                    ) -> tuple[array.array[int], array.array[int]] | None:
    if data is None or len(data) != 16 * count:
        return None
    sizes, mtimes = array.array("q"), array.array("q")
    sizes.frombytes(data[:8 * count])
    mtimes.frombytes(data[8 * count:])
    return sizes, mtimes


def _packed_folders(work: Callable[[list[int]], list[_Raw]], share: list[int]) -> bytes:
    """Each folder's :func:`packed` blobs, each after its byte length."""
    parts = []
    for one in work(share):
        for blob in packed(one):
            parts += [len(blob).to_bytes(8, "little"), blob]
    return b"".join(parts)


def _unpacked_folders(data: bytes | None, folders: int) -> list[_Raw] | None:
    if data is None:
        return None
    raw: list[_Raw] = []
    at = 0
    for _ in range(folders):
        blobs = []
        for _ in range(3):
            size = int.from_bytes(data[at:at + 8], "little")
            blobs.append(data[at + 8:at + 8 + size])
            at += 8 + size
        one = unpacked(*blobs)
        if one is None:
            return None
        raw.append(one)
    return raw if at == len(data) else None
