"""Package file stats: the same answer from one process or several, and no child left behind."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from conda_wheel_bridge.channel import filestats
from conda_wheel_bridge.channel.filestats import artifact_stats

SUFFIXES = (".conda", ".tar.bz2", ".whl")
# forks here may share the process with native threads earlier tests left (see _alone)
pytestmark = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
needs_fork = pytest.mark.skipif(sys.platform != "linux",
                                reason="stats are shared with forked children on Linux only")


@pytest.fixture(autouse=True)
def _alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let these tests fork as a fresh ``cwb index`` process would: earlier tests in this
    process may have left native threads (py-rattler's runtime), which would rule forks out.
    Their children only list and stat, so those threads' locks do not matter here."""
    monkeypatch.setattr(filestats, "_os_threads", lambda: 1)


def _channel(root: Path, per_subdir: int) -> list[Path]:
    folders = [root / "linux-64", root / "noarch"]
    for n, folder in enumerate(folders):
        folder.mkdir(parents=True)
        for i in range(per_subdir):
            (folder / f"p{i}-1.0-{n}.conda").write_bytes(b"x" * (i + n))
        (folder / "repodata.json").write_bytes(b"{}")  # not a package: not listed
    return folders


def _expected(folders: list[Path]) -> list[dict[str, tuple[int, int]]]:
    out = []
    for folder in folders:
        found = {}
        for path in folder.iterdir():
            if path.name.endswith(SUFFIXES) and path.is_file():
                st = path.stat()
                found[path.name] = (st.st_size, st.st_mtime_ns)
        out.append(found)
    return out


def _dicts(found: list[filestats.FileStats]) -> list[dict[str, tuple[int, int]]]:
    for one in found:  # the three columns line up
        assert len(one.names) == len(one.sizes) == len(one.mtimes)
    return [one.as_dict() for one in found]


def _counting_forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    forks: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return forks


@needs_fork
def test_shared_out_stats_are_the_serial_ones(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    folders = _channel(tmp_path, 7)
    (folders[1] / "dangling-1-0.conda").symlink_to(tmp_path / "nowhere")
    (folders[1] / "dir-1-0.conda").mkdir()
    (folders[1] / "linked-1-0.conda").symlink_to(folders[0] / "p3-1.0-0.conda")
    expected = _expected(folders)
    assert "linked-1-0.conda" in expected[1] and "dir-1-0.conda" not in expected[1]
    monkeypatch.setattr(filestats, "_PER_PROCESS", 3)
    monkeypatch.setattr(filestats, "_cpus", lambda: 4)
    forks = _counting_forks(monkeypatch)
    assert _dicts(artifact_stats(folders, SUFFIXES)) == expected
    assert len(forks) == 3  # 17 names in four shares, the first one stat-ed here
    monkeypatch.setattr(filestats, "fork_is_safe", lambda: False)
    assert _dicts(artifact_stats(folders, SUFFIXES)) == expected
    assert len(forks) == 3


def _stats_failing(monkeypatch: pytest.MonkeyPatch, *, in_child: bool, error: OSError) -> None:
    """Make every stat share fail with ``error``, in the children or in this process only."""
    parent, real_share = os.getpid(), filestats._stat_share

    def share(work: filestats._Work) -> object:
        if (os.getpid() != parent) == in_child:
            raise error
        return real_share(work)

    monkeypatch.setattr(filestats, "_stat_share", share)


@needs_fork
def test_a_failed_child_share_is_stat_ed_here(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folders = _channel(tmp_path, 5)
    _stats_failing(monkeypatch, in_child=True, error=OSError("stat failed in the child"))
    monkeypatch.setattr(filestats, "_PER_PROCESS", 2)
    monkeypatch.setattr(filestats, "_cpus", lambda: 2)
    forks = _counting_forks(monkeypatch)
    assert _dicts(artifact_stats(folders, SUFFIXES)) == _expected(folders)
    assert len(forks) == 1


@needs_fork
@pytest.mark.parametrize(("expected", "children"), [((), 2), ((5, 5), 1)],
                         ids=["names-split", "whole-folders"])
def test_an_error_here_leaves_no_child_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              expected: tuple[int, ...], children: int) -> None:
    folders = _channel(tmp_path, 5)
    _stats_failing(monkeypatch, in_child=False, error=PermissionError("denied"))
    monkeypatch.setattr(filestats, "_PER_PROCESS", 2)
    monkeypatch.setattr(filestats, "_cpus", lambda: 3)
    forks = _counting_forks(monkeypatch)
    with pytest.raises(PermissionError):
        artifact_stats(folders, SUFFIXES, expected)
    assert len(forks) == children
    for pid in forks:  # every child was waited for already
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_small_channels_and_threaded_processes_are_not_forked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folders = _channel(tmp_path, 3)
    forks = _counting_forks(monkeypatch)
    assert _dicts(artifact_stats(folders, SUFFIXES)) == _expected(folders)  # 6 files: below the bar
    monkeypatch.setattr(filestats, "_PER_PROCESS", 1)
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    assert _dicts(artifact_stats(folders, SUFFIXES)) == _expected(folders)
    assert forks == []


@needs_fork
def test_a_thread_python_does_not_know_of_rules_forks_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import _thread

    monkeypatch.undo()  # the real count of the kernel's threads
    folders = _channel(tmp_path, 3)
    monkeypatch.setattr(filestats, "_PER_PROCESS", 1)
    monkeypatch.setattr(filestats, "_cpus", lambda: 2)
    forks = _counting_forks(monkeypatch)
    release, started = _thread.allocate_lock(), _thread.allocate_lock()
    release.acquire()
    started.acquire()

    def native_like() -> None:  # started below threading's notice, as a library's thread is
        started.release()
        release.acquire()

    before, python_threads = filestats._os_threads(), threading.active_count()
    _thread.start_new_thread(native_like, ())
    started.acquire()
    try:
        assert filestats._os_threads() == before + 1
        assert threading.active_count() == python_threads  # threading does not see it
        assert not filestats.fork_is_safe()
        assert _dicts(artifact_stats(folders, SUFFIXES)) == _expected(folders)
        assert forks == []
    finally:
        release.release()


def test_split_keeps_order_and_share_sizes() -> None:
    work: filestats._Work = [(1, ["a", "b", "c"]), (2, []), (3, ["d", "e", "f", "g", "h"])]
    shares = filestats._split(work, 3)
    assert [[n for _, names in share for n in names] for share in shares] == [
        ["a", "b", "c"], ["d", "e", "f"], ["g", "h"]]
    assert [[where for where, _ in share] for share in shares] == [[1], [3], [3]]


def test_leftover_part_files_are_removed(tmp_path: Path) -> None:
    folders = _channel(tmp_path, 1)
    left = folders[1] / ".repodata.json.x1.part"
    left.write_bytes(b"half")
    artifact_stats(folders, SUFFIXES)
    assert not left.exists()


def _stats(pairs: list[tuple[str, int, int]]) -> filestats.FileStats:
    import array

    return filestats.FileStats([n for n, _, _ in pairs], array.array("q", [s for _, s, _ in pairs]),
                               array.array("q", [m for _, _, m in pairs]))


def _brute(before: filestats.FileStats, now: filestats.FileStats
           ) -> tuple[list[str], list[str]]:
    old, new = before.as_dict(), now.as_dict()
    return (sorted(n for n, p in new.items() if old.get(n) != p),
            sorted(old.keys() - new.keys()))


def test_differences_are_the_name_by_name_ones() -> None:
    import random

    rng = random.Random(3)
    base = [(f"p{i}-1-0.conda", i, 10 * i) for i in range(300)]
    rng.shuffle(base)  # a hash order, as listings come
    cases: list[list[tuple[str, int, int]]] = [
        base,
        [*base[:40], ("new-1-0.conda", 1, 1), *base[40:]],  # one came, the rest keeps order
        base[:10] + base[11:200] + base[201:],  # two went
        [*base[:5], ("x-1-0.conda", 2, 2), *base[5:50], ("y-1-0.conda", 3, 3), *base[51:]],
        [(n, s, m + 1) if i == 7 else (n, s, m) for i, (n, s, m) in enumerate(base)],  # touched
        [(n, s + 1, m) if i == 9 else (n, s, m) for i, (n, s, m) in enumerate(base)],  # grew
        list(reversed(base)),  # listed in a new order only
        base + [(f"more{i}-1-0.conda", i, i) for i in range(100)],  # many came
        base[150:],  # many went
        [],
    ]
    for now in cases:
        before, after = _stats(base), _stats(now)
        assert filestats.differences(before, after) == _brute(before, after)
        todo = filestats.differences(before, after)[0]
        assert filestats.stats_of(after, todo) == [after.as_dict()[n] for n in todo]
    many = [n for n, _, _ in base[:100]]
    assert filestats.stats_of(_stats(base), many) == [_stats(base).as_dict()[n] for n in many]


@needs_fork
@pytest.mark.parametrize("child_fails", [False, True])
def test_whole_folders_shared_out_give_the_serial_stats(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child_fails: bool) -> None:
    folders = _channel(tmp_path, 6)
    (folders[1] / "dangling-1-0.conda").symlink_to(tmp_path / "nowhere")
    (folders[1] / ".repodata.json.x.part").write_bytes(b"half")
    expected = _expected(folders)
    monkeypatch.setattr(filestats, "_PER_PROCESS", 3)
    monkeypatch.setattr(filestats, "_cpus", lambda: 2)
    if child_fails:
        parent, real_list = os.getpid(), filestats._list_and_stat

        def list_and_stat(job: filestats._Folder) -> filestats._Raw:
            if os.getpid() != parent:
                raise OSError("listing failed in the child")
            return real_list(job)

        monkeypatch.setattr(filestats, "_list_and_stat", list_and_stat)
    forks = _counting_forks(monkeypatch)
    assert _dicts(artifact_stats(folders, SUFFIXES, [6, 6])) == expected
    assert len(forks) == 1
    assert not (folders[1] / ".repodata.json.x.part").exists()


def test_folders_are_shared_out_whole_only_when_about_even(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filestats, "_PER_PROCESS", 10)
    monkeypatch.setattr(filestats, "_cpus", lambda: 2)
    monkeypatch.setattr(filestats, "fork_is_safe", lambda: True)
    assert filestats._whole_folders([50, 50]) == [[0], [1]]
    assert filestats._whole_folders([40, 10, 30, 20]) == [[0, 1], [2, 3]]
    assert filestats._whole_folders([90, 10]) is None  # one folder is most of the work
    assert filestats._whole_folders([15]) is None  # one folder: the names are split instead
    assert filestats._whole_folders([5, 5]) is None  # too few files to be worth a fork
    monkeypatch.setattr(filestats, "_cpus", lambda: 3)
    assert filestats._whole_folders([30, 30, 30, 5]) == [[0, 3], [1], [2]]


def test_folder_results_round_trip_and_damage_is_refused() -> None:
    import array

    raw = [filestats.FileStats(["a.conda", "é.conda"], array.array("q", [1, -1]),
                               array.array("q", [3, 0])),
           filestats.FileStats([], array.array("q"), array.array("q"))]
    data = filestats._packed_folders(lambda share: [raw[i] for i in share], [0, 1])
    assert filestats._unpacked_folders(data, 2) == raw
    assert filestats._unpacked_folders(data[:-1], 2) is None
    assert filestats._unpacked_folders(data + b"x", 2) is None
    assert filestats._unpacked_folders(None, 2) is None


@needs_fork
def test_children_stuck_on_a_full_pipe_are_reaped_without_a_hang() -> None:
    import signal

    def big() -> bytes:
        return b"x" * (1 << 20)  # far more than a pipe holds: the child blocks until read

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("reaping the children hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        children = filestats._started([big, big, big])
        pids = [pid for pid, _ in children]
        filestats._reap(children)  # as after an error here: nothing was read
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert children == []
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@needs_fork
def test_a_failed_fork_leaves_no_pipe_open(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise BlockingIOError("fork: resource temporarily unavailable")

    before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", no_fork)
    with pytest.raises(BlockingIOError):
        filestats._started([bytes, bytes])
    assert len(os.listdir("/proc/self/fd")) == before
