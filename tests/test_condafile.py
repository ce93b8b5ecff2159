"""The streaming conda package writer (condafile.py), read back with conda-package-streaming."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import zstandard

from conda_wheel_bridge.condafile import conda_writer, package_stem

from tests.support.condaread import read_conda


class _Pattern(io.RawIOBase):
    """``size`` bytes of a repeating, mildly compressible pattern, produced on the fly."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = (bytes(range(256)) * 64 + os.urandom(4096)) * 16

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left, len(self.block))
        buffer[:n] = self.block[:n]
        self.left -= n
        return n


@pytest.mark.parametrize("suffix", [".conda", ".tar.bz2"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pkg-1.0-0{suffix}"
    with conda_writer(path, zstd_level=3) as w:
        w.add_info("index.json", b'{"name": "pkg"}')
        w.add_bytes("lib/a.py", b"print('a')\n")
        w.add_file("bin/tool", io.BytesIO(b"#!/bin/sh\n"), 10, mode=0o755)
    got = read_conda(path)
    assert got.info == {"index.json": b'{"name": "pkg"}'}
    assert got.payload["lib/a.py"].data == b"print('a')\n"
    assert got.payload["bin/tool"].mode & 0o777 == 0o755
    assert got.payload["lib/a.py"].mode & 0o777 == 0o644
    assert path.stat().st_mode & 0o044  # readable by others, unlike a bare mkstemp file


def test_conda_layout_info_before_pkg(tmp_path: Path) -> None:
    path = tmp_path / "x-1-0.conda"
    with conda_writer(path) as w:
        w.add_info("index.json", b"{}")
        w.add_bytes("a", b"a")
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["metadata.json", "info-x-1-0.tar.zst", "pkg-x-1-0.tar.zst"]
        assert zf.read("metadata.json") == b'{"conda_pkg_format_version": 2}'
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())


def test_info_added_after_payload_goes_last(tmp_path: Path) -> None:
    path = tmp_path / "x-1-0.conda"
    with conda_writer(path) as w:
        w.add_bytes("a", b"a")
        w.add_info("index.json", b"{}")
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist()[1:] == ["pkg-x-1-0.tar.zst", "info-x-1-0.tar.zst"]
    assert read_conda(path).info == {"index.json": b"{}"}


def test_empty_payload_still_has_pkg_member(tmp_path: Path) -> None:
    path = tmp_path / "meta-1-0.conda"
    with conda_writer(path) as w:
        w.add_info("index.json", b"{}")
    with zipfile.ZipFile(path) as zf:
        assert "pkg-meta-1-0.tar.zst" in zf.namelist()


def test_error_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x-1-0.conda"
    with pytest.raises(RuntimeError), conda_writer(path) as w:
        w.add_info("index.json", b"{}")
        w.add_bytes("a", b"a")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_short_stream_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x-1-0.tar.bz2"
    with pytest.raises(OSError), conda_writer(path) as w:
        w.add_file("a", io.BytesIO(b"abc"), 10)
    assert list(tmp_path.iterdir()) == []


def test_duplicates_and_info_paths_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="twice"), conda_writer(tmp_path / "x-1-0.conda") as w:
        w.add_bytes("a", b"1")
        w.add_bytes("a", b"2")
    with pytest.raises(ValueError, match="info/"), conda_writer(tmp_path / "x-1-0.conda") as w:
        w.add_bytes("info/index.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_zstd_level_is_used(tmp_path: Path) -> None:
    sizes = {}
    for level in (1, 19):
        path = tmp_path / f"lvl{level}-1-0.conda"
        with conda_writer(path, zstd_level=level, zstd_threads=1) as w:
            w.add_file("big", io.BufferedReader(_Pattern(4 << 20)), 4 << 20)
        with zipfile.ZipFile(path) as zf:
            data = zf.read(f"pkg-lvl{level}-1-0.tar.zst")
        params = zstandard.get_frame_parameters(data)
        assert params.window_size > 0
        sizes[level] = len(data)
    assert sizes[19] < sizes[1]


def test_payload_is_streamed_not_buffered(tmp_path: Path) -> None:
    """64 MiB through the writer allocate far less than 64 MiB of Python memory."""
    size = 64 << 20
    tracemalloc.start()
    try:
        with conda_writer(tmp_path / "big-1-0.conda", zstd_level=1, zstd_threads=1) as w:
            w.add_info("index.json", b"{}")
            w.add_file("big", io.BufferedReader(_Pattern(size)), size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert read_conda(tmp_path / "big-1-0.conda").payload["big"].data[:256] == bytes(range(256))


def test_package_stem() -> None:
    assert package_stem("a-1-0.conda") == ("a-1-0", "conda")
    assert package_stem("/x/a-1-0.tar.bz2") == ("a-1-0", "tar.bz2")
    with pytest.raises(ValueError):
        package_stem("a-1-0.zip")
