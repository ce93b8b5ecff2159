"""Tests for the streaming wheel writer: round trips through our reader, pip and twine."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tracemalloc
import venv
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conda_wheel_bridge.errors import BadArchive, BadMetadata, UnsafePath
from conda_wheel_bridge.wheelfile import open_wheel
from conda_wheel_bridge.wheelwriter import WheelWriter, wheel_filename

DI = "hello_cwb-1.2.dist-info"
METADATA = (
    b"Metadata-Version: 2.4\nName: hello-cwb\nVersion: 1.2\nSummary: a test wheel\n"
    b"License-Expression: MIT\nDescription-Content-Type: text/plain\n\nHello.\n"
)
WHEEL = b"Wheel-Version: 1.0\nGenerator: cwb-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
ENTRY_POINTS = b"[console_scripts]\nhello-cwb = hello_cwb:main\n"
MODULE = b'def main():\n    print("hello from cwb")\n'


def write_hello(directory: Path) -> Path:
    path = directory / wheel_filename("hello-cwb", "1.2", "py3-none-any")
    with WheelWriter(path) as ww:
        ww.add_stream("hello_cwb/__init__.py", io.BytesIO(MODULE))
        ww.add_bytes("hello_cwb/tool.sh", b"#!/bin/sh\necho hi\n", mode=0o755)
        ww.add_bytes('hello_cwb/odd, "name".txt', b"commas and quotes are legal in paths\n")
        ww.add_bytes(f"{DI}/METADATA", METADATA)
        ww.add_bytes(f"{DI}/WHEEL", WHEEL)
        ww.add_bytes(f"{DI}/entry_points.txt", ENTRY_POINTS)
        ww.finish(DI)
    return path


def test_round_trip_through_reader(tmp_path: Path) -> None:
    path = write_hello(tmp_path)
    assert path.name == "hello_cwb-1.2-py3-none-any.whl"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left
    with open_wheel(path) as wr:
        names = [m.name for m in wr.members]
        assert names[-1] == f"{DI}/RECORD"  # RECORD is written last
        assert wr.read("hello_cwb/__init__.py") == MODULE
        assert wr.info.metadata_bytes == METADATA
        assert wr.info.entry_points["console_scripts"]["hello-cwb"] == "hello_cwb:main"
        modes = {m.name: m.mode for m in wr.members}
        assert modes["hello_cwb/tool.sh"] == 0o755 and modes["hello_cwb/__init__.py"] == 0o644
        assert set(wr.info.record) == set(names)
        assert wr.read('hello_cwb/odd, "name".txt').startswith(b"commas")
        wr.verify()


@pytest.mark.parametrize("level", [0, 9])
def test_compresslevel_applies_to_streamed_members(tmp_path: Path, level: int) -> None:
    data = b"compressible line of text\n" * 40000
    path = tmp_path / "x-1-py3-none-any.whl"
    with WheelWriter(path, compresslevel=level) as ww:
        ww.add_stream("x/streamed.txt", io.BytesIO(data))
        ww.add_bytes("x/small.txt", data)
        ww.add_bytes("x-1.dist-info/METADATA", b"Metadata-Version: 2.1\nName: x\nVersion: 1\n\n")
        ww.add_bytes("x-1.dist-info/WHEEL", WHEEL)
        ww.finish("x-1.dist-info")
    with zipfile.ZipFile(path) as zf:
        sizes = [zf.getinfo(n).compress_size for n in ("x/streamed.txt", "x/small.txt")]
    for size in sizes:
        # level 0 stores deflate blocks verbatim; level 9 shrinks this text more than 50-fold
        assert size >= len(data) if level == 0 else size < len(data) // 50


def test_writer_rejects_bad_names_and_duplicates(tmp_path: Path) -> None:
    with WheelWriter(tmp_path / "x-1-py3-none-any.whl") as ww:
        with pytest.raises(UnsafePath):
            ww.add_bytes("../evil.py", b"")
        with pytest.raises(UnsafePath):
            ww.add_bytes("/abs.py", b"")
        ww.add_bytes("x/a.py", b"")
        with pytest.raises(BadArchive, match=r"duplicate member x/a\.py"):
            ww.add_bytes("x/a.py", b"")
        ww.add_bytes("x-1.dist-info/METADATA", b"Metadata-Version: 2.1\nName: x\nVersion: 1\n\n")
        ww.add_bytes("x-1.dist-info/WHEEL", WHEEL)
        ww.finish("x-1.dist-info")
    with open_wheel(tmp_path / "x-1-py3-none-any.whl") as wr:
        assert wr.members[0].name == "x/a.py"


def test_nothing_left_on_error(tmp_path: Path) -> None:
    target = tmp_path / "x-1-py3-none-any.whl"

    class Boom(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"), WheelWriter(target) as ww:
        ww.add_bytes("x/a.py", b"a")
        ww.add_stream("x/b.py", io.BufferedReader(Boom()))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("declared", "reason"), [(10, "more than the 10 bytes"), (30, "20 of the 30 bytes")]
)
def test_stream_of_the_wrong_size_is_refused(tmp_path: Path, declared: int, reason: str) -> None:
    target = tmp_path / "x-1-py3-none-any.whl"
    with pytest.raises(BadArchive) as info, WheelWriter(target) as ww:
        ww.add_stream("x/a.bin", io.BytesIO(b"y" * 20), size=declared)
    assert str(info.value) == f"{target}: x/a.bin: the source gave {reason} it declared"
    assert list(tmp_path.iterdir()) == []


def test_record_cannot_be_added_by_hand(tmp_path: Path) -> None:
    with WheelWriter(tmp_path / "x-1-py3-none-any.whl") as ww:
        with pytest.raises(BadArchive, match=r"is written by finish\(\)"):
            ww.add_bytes("x-1.dist-info/RECORD", b"")
        ww.add_bytes("x-1.dist-info/METADATA", b"Metadata-Version: 2.1\nName: x\nVersion: 1\n\n")
        ww.add_bytes("x-1.dist-info/WHEEL", WHEEL)
        ww.finish("x-1.dist-info")


def test_output_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = write_hello(tmp_path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by a web server, like any built file


def test_finish_requires_metadata_and_wheel(tmp_path: Path) -> None:
    target = tmp_path / "x-1-py3-none-any.whl"
    with (
        pytest.raises(BadMetadata, match=r"x-1\.dist-info/WHEEL was not written"),
        WheelWriter(target) as ww,
    ):
        ww.add_bytes("x-1.dist-info/METADATA", b"Metadata-Version: 2.1\nName: x\nVersion: 1\n\n")
        ww.finish("x-1.dist-info")
    assert list(tmp_path.iterdir()) == []


def test_missing_finish_leaves_nothing(tmp_path: Path) -> None:
    with (
        pytest.raises(BadArchive, match="without finish"),
        WheelWriter(tmp_path / "x-1-py3-none-any.whl") as ww,
    ):
        ww.add_bytes("x/a.py", b"a")
    assert list(tmp_path.iterdir()) == []


def test_large_member_streams_in_bounded_memory(tmp_path: Path) -> None:
    size = 256 * 1024 * 1024
    block = os.urandom(1024 * 1024)

    class Blocks(io.RawIOBase):
        """``size`` bytes of a repeated block, produced on demand (never held whole)."""

        left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            n = min(len(buffer), self.left, len(block))
            buffer[:n] = block[:n]
            self.left -= n
            return n

    path = tmp_path / "big-1-py3-none-any.whl"
    tracemalloc.start()
    try:
        with WheelWriter(path, compresslevel=0) as ww:
            ww.add_stream("big/blob.bin", io.BufferedReader(Blocks()))
            ww.add_bytes(
                "big-1.dist-info/METADATA", b"Metadata-Version: 2.1\nName: big\nVersion: 1\n\n"
            )
            ww.add_bytes("big-1.dist-info/WHEEL", WHEEL)
            ww.finish("big-1.dist-info")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size // 20, f"traced peak {peak} bytes while writing a {size}-byte member"
    with open_wheel(path) as wr:
        assert wr.info.record["big/blob.bin"][1] == size
        with zipfile.ZipFile(path) as zf:
            assert zf.getinfo("big/blob.bin").file_size == size
        wr.verify()


def _rewrite(source: Path, directory: Path) -> Path:
    """Copy a wheel member by member through WheelWriter (streamed both ways, RECORD rebuilt)."""
    with open_wheel(source) as wr:
        info = wr.info
        target = directory / source.name
        with WheelWriter(target) as ww:
            for member in wr.members:
                if member.name == f"{info.dist_info}/RECORD":
                    continue
                with wr.open(member) as fh:
                    ww.add_stream(member.name, fh, mode=member.mode, size=member.size)
            ww.finish(info.dist_info)
    return target


def _good_fixture_wheels() -> list[Path]:
    from tests.conftest import FIXTURES
    from tests.test_wheelfile import REFUSED

    return [p for p in sorted((FIXTURES / "wheels").rglob("*.whl")) if p.name not in REFUSED]


@pytest.mark.parametrize("source", _good_fixture_wheels(), ids=lambda p: p.name)
def test_rewriting_real_wheels_keeps_every_byte(
    source: Path, fixtures_dir: Path, tmp_path: Path
) -> None:
    target = _rewrite(source, tmp_path)
    with open_wheel(source) as old, open_wheel(target) as new:
        assert new.info.metadata_bytes == old.info.metadata_bytes
        assert new.info.entry_points == old.info.entry_points
        assert new.info.filename == old.info.filename
        rec = f"{old.info.dist_info}/RECORD"
        assert [m.name for m in new.members] == [m.name for m in old.members if m.name != rec] + [
            rec
        ]
        for member in old.members:
            if member.name == rec:
                continue
            assert new.info.record[member.name] == old.info.record[member.name]
            assert next(m for m in new.members if m.name == member.name).mode == member.mode
        new.verify()


def test_rewriting_numpy_from_pypi(pypi_wheel: Callable[..., Path], tmp_path: Path) -> None:
    source = pypi_wheel("numpy==2.2.6", platform="manylinux_2_17_x86_64", python_version="3.11")
    target = _rewrite(source, tmp_path)
    with open_wheel(source) as old, open_wheel(target) as new:
        assert len(new.members) == len(old.members) > 1000
        assert dict(new.info.record) == dict(old.info.record) | {
            f"{old.info.dist_info}/RECORD": (None, None)
        }
        new.verify()


# --- real clients -----------------------------------------------------------------------------


@pytest.mark.slow
def test_pip_installs_written_wheel(tmp_path: Path) -> None:
    wheel = write_hello(tmp_path / "dist")
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    py = env / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], check=True)
    out = subprocess.run(
        [env / "bin" / "hello-cwb"], check=True, capture_output=True, text=True
    ).stdout
    assert out == "hello from cwb\n"
    show = subprocess.run(
        [py, "-m", "pip", "show", "hello-cwb"], check=True, capture_output=True, text=True
    )
    assert "Version: 1.2" in show.stdout
    tool = next((env / "lib").glob("python*/site-packages/hello_cwb/tool.sh"))
    assert os.access(tool, os.X_OK)


def test_twine_check_passes(tmp_path: Path) -> None:
    wheel = write_hello(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout
