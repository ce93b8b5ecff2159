"""Staged outputs: written in workers, renamed together in order, or not at all."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from conda_wheel_bridge.staging import staged


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_files_are_renamed_in_the_order_staged(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    renamed: list[str] = []
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        renamed.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    workers: list[str] = []

    def compressed() -> bytes:
        workers.append(threading.current_thread().name)
        return b"zst"

    with staged() as out:
        out.put(tmp_path / "repodata.json.zst", compressed)
        out.put(tmp_path / "repodata.json", b"{}")
        out.put(tmp_path / "sub" / "channeldata.json", b"[]")
        assert not (tmp_path / "repodata.json").exists()  # nothing in place before the end
    assert renamed == ["repodata.json.zst", "repodata.json", "channeldata.json"]
    assert _listing(tmp_path)["repodata.json.zst"] == b"zst"
    assert (tmp_path / "sub" / "channeldata.json").read_bytes() == b"[]"
    assert workers and workers[0].startswith("cwb-stage")  # computed in a worker thread


def test_one_failed_write_puts_nothing_in_place(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"old a")

    def failing() -> bytes:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), staged() as out:
        out.put(tmp_path / "a.json", b"new a")
        out.put(tmp_path / "b.json", failing)
        out.put(tmp_path / "c.json", b"new c")
    assert _listing(tmp_path) == {"a.json": b"old a"}  # no temporary file left either


def test_an_error_in_the_block_discards_what_was_staged(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="killed"), staged() as out:
        out.put(tmp_path / "a.json", b"new a")
        raise RuntimeError("killed")
    assert _listing(tmp_path) == {}


def test_if_changed_leaves_an_identical_file_alone(tmp_path: Path) -> None:
    same, other = tmp_path / "same.json", tmp_path / "other.json"
    same.write_bytes(b"{}")
    other.write_bytes(b"{}")
    os.utime(same, ns=(1, 1))
    os.utime(other, ns=(1, 1))
    with staged() as out:
        out.put(same, b"{}", if_changed=True)
        out.put(other, b"{ }", if_changed=True)
    assert same.stat().st_mtime_ns == 1
    assert other.read_bytes() == b"{ }" and other.stat().st_mtime_ns != 1


def test_a_failed_rename_removes_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "b.json":
            raise PermissionError("read-only")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PermissionError), staged() as out:
        for name in ("a.json", "b.json", "c.json"):
            out.put(tmp_path / name, name.encode())
    assert _listing(tmp_path) == {"a.json": b"a.json"}


def test_an_interrupted_wait_still_removes_every_temporary(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import concurrent.futures

    real_result = concurrent.futures.Future.result
    interrupted: list[bool] = []

    def result(self: concurrent.futures.Future[object], timeout: float | None = None) -> object:
        if not interrupted:  # Ctrl-C while waiting for the first write
            interrupted.append(True)
            raise KeyboardInterrupt
        return real_result(self, timeout)

    monkeypatch.setattr(concurrent.futures.Future, "result", result)
    with pytest.raises(KeyboardInterrupt), staged() as out:
        out.put(tmp_path / "a.json", b"a")
        out.put(tmp_path / "b.json", b"b")
    assert _listing(tmp_path) == {}


def test_parallel_writes_keep_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    real_umask = os.umask

    def slow_umask(mask: int) -> int:  # widens any window in which the umask is not the user's
        old = real_umask(mask)
        time.sleep(0.002)
        return old

    previous = real_umask(0o077)
    monkeypatch.setattr(os, "umask", slow_umask)
    try:
        for _ in range(5):
            with staged() as out:
                for i in range(4):
                    out.put(tmp_path / f"f{i}.json", b"{}")
            assert real_umask(0o077) == 0o077  # still the user's
            assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {0o600}
    finally:
        real_umask(previous)
