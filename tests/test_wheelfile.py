"""Tests for the streaming, validating wheel reader: real fixtures, bad archives, bounded memory."""

from __future__ import annotations

import functools
import os
import resource
import struct
import tempfile
import tracemalloc
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.tags import Tag

from conda_wheel_bridge.errors import BadArchive, BadMetadata, CwbError, UnsafePath
from conda_wheel_bridge.wheelfile import (
    MAX_COMPRESSION_RATIO,
    WheelMember,
    open_wheel,
)

from tests.support.wheelmaker import make_wheel, record_hash

DI = "demo-1.0.dist-info"
METADATA = b"Metadata-Version: 2.4\nName: demo\nVersion: 1.0\n\n"
WHEEL = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def build(
    directory: Path,
    entries: Sequence[tuple[str, bytes]],
    *,
    filename: str = "demo-1.0-py3-none-any.whl",
    metadata: bytes | None = METADATA,
    wheel: bytes | None = WHEEL,
    record: bool = True,
    record_extra: Sequence[str] = (),
    record_skip: Sequence[str] = (),
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write a wheel-shaped zip exactly as told (duplicates and bad names included)."""
    items = list(entries)
    if metadata is not None:
        items.append((f"{DI}/METADATA", metadata))
    if wheel is not None:
        items.append((f"{DI}/WHEEL", wheel))
    if record:
        lines = [f"{n},{record_hash(d)},{len(d)}" for n, d in items if n not in record_skip]
        lines += list(record_extra)
        lines.append(f"{DI}/RECORD,,")
        items.append((f"{DI}/RECORD", ("\n".join(lines) + "\n").encode()))
    path = directory / filename
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates we mean to write
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name, data in items:
                info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
                info.compress_type = compression
                zf.writestr(info, data)
    return path


def patch_central(path: Path, member: str, offset: int, fmt: str, value: int) -> None:
    """Overwrite one field of a member's central-directory entry (sizes, flags) in place."""
    blob = bytearray(path.read_bytes())
    needle = member.encode()
    pos = 0
    while True:
        pos = blob.index(b"PK\x01\x02", pos)
        name_len = struct.unpack_from("<H", blob, pos + 28)[0]
        if bytes(blob[pos + 46 : pos + 46 + name_len]) == needle:
            struct.pack_into(fmt, blob, pos + offset, value)
            break
        pos += 4
    path.write_bytes(bytes(blob))


def patch_central_size(path: Path, member: str, declared: int) -> None:
    """Rewrite the uncompressed size a member declares in the central directory (zip-bomb style)."""
    patch_central(path, member, 24, "<I", declared)


# --- every real fixture -----------------------------------------------------------------------

# Our decision for each odd fixture (see docs/wheels.md); every other fixture must open and verify.
REFUSED = {
    # contents nested under an extra top-level folder plus __MACOSX junk: no dist-info at the root
    "azure_cli_extension-0.2.1-py2.py3-none-any.whl": (BadArchive, "no .dist-info directory"),
    # two dist-info dirs: pip and pypa/installer both refuse ("exactly one .dist-info")
    "validation-3.0.0-py3-none-any.whl": (BadArchive, "several .dist-info directories"),
    # RECORD rows without hashes for payload files: the spec says every file but RECORD has one
    "multi_abi_package-1.0.0-cp314-cp314t.abi3-manylinux_2_17_x86_64.whl": (
        BadMetadata,
        "RECORD gives no hash for multi_abi_package/__init__.py",
    ),
    # a cut-down copy of tqdm whose RECORD still lists files the archive lacks
    "tqdm-4.66.1-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64.whl": (
        BadArchive,
        "RECORD lists tqdm/__main__.py, which is not in the archive",
    ),
}


def _all_fixture_wheels() -> list[Path]:
    from tests.conftest import FIXTURES

    return sorted((FIXTURES / "wheels").rglob("*.whl"))


@pytest.mark.parametrize("wheel", _all_fixture_wheels(), ids=lambda p: p.name)
def test_every_fixture_wheel(wheel: Path, fixtures_dir: Path) -> None:
    if wheel.name in REFUSED:
        error, reason = REFUSED[wheel.name]
        with pytest.raises(error) as refused:
            open_wheel(wheel)
        assert str(refused.value) == f"{wheel}: {refused.value.reason}"
        assert reason in refused.value.reason
        return
    with open_wheel(wheel) as wr:
        info = wr.info
        assert info.dist_info.endswith(".dist-info") and "/" not in info.dist_info
        assert info.data_dir == info.dist_info[: -len(".dist-info")] + ".data"
        assert info.name and info.version
        assert info.metadata_bytes.startswith(b"Metadata-Version")
        names = {m.name for m in wr.members}
        assert {f"{info.dist_info}/{n}" for n in ("METADATA", "WHEEL", "RECORD")} <= names
        for member in wr.members:
            with wr.open(member) as fh:
                total = 0
                while chunk := fh.read(65536):
                    total += len(chunk)
            assert total == member.size
            if member.name != f"{info.dist_info}/RECORD":
                assert info.record[member.name][1] == member.size


def test_tag_mismatch_trusts_the_file_name(fixtures_dir: Path) -> None:
    # pip and uv choose wheels by the file name's tags; we expose both and let the name win
    wheel = fixtures_dir / "wheels/fixtures/wheel_tag_test-0.1.0-py3-none-win_amd64.whl"
    with open_wheel(wheel) as wr:
        assert wr.info.filename.tags == {Tag("py3", "none", "win_amd64")}
        assert wr.info.wheel_tags == {Tag("py3", "none", "any")}
        assert not wr.info.tags_match
        assert wr.info.entry_points["console_scripts"]


def test_fixture_details(fixtures_dir: Path) -> None:
    wheels = fixtures_dir / "wheels"
    with open_wheel(wheels / "msgpack-1.1.0-cp311-cp311-win_amd64.whl") as wr:  # CRLF METADATA
        assert b"\r\n" in wr.info.metadata_bytes
        assert wr.info.name == "msgpack" and wr.info.version == "1.1.0"
        assert wr.info.requires_python == ">=3.8"
        assert not wr.info.root_is_purelib
    with open_wheel(wheels / "pybind11-2.13.6-py3-none-any.whl") as wr:
        assert (
            wr.info.entry_points["console_scripts"]["pybind11-config"] == "pybind11.__main__:main"
        )
    with open_wheel(wheels / "docutils-0.20.1-py3-none-any.whl") as wr:
        scripts = [m for m in wr.members if m.name.startswith(f"{wr.info.data_dir}/scripts/")]
        assert wr.info.data_dir == "docutils-0.20.1.data" and scripts
    with open_wheel(wheels / "variants/test_package-0-py3-none-any-fbe82642.whl") as wr:
        assert wr.info.variant_json is not None
        assert wr.info.filename.variant_label == "fbe82642"
    with open_wheel(wheels / "requests-2.32.3-py3-none-any.whl") as wr:
        assert "idna <4,>=2.5" in wr.info.requires_dist  # as written
        assert wr.info.root_is_purelib


def test_unix_modes_are_kept(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/tool.sh", b"#!/bin/sh\n"), ("demo/dos.txt", b"x")])
    with zipfile.ZipFile(path) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for i, data in items:
            if i.filename == "demo/tool.sh":  # setuid asked for: only the permission bits survive
                i.create_system, i.external_attr = 3, 0o104755 << 16
            zf.writestr(i, data)
            if i.filename == "demo/dos.txt":  # a DOS-made entry: no unix mode bits at all
                zf.filelist[-1].create_system, zf.filelist[-1].external_attr = 0, 0
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("demo/dos.txt").external_attr == 0
    with open_wheel(path) as wr:
        modes = {m.name: m.mode for m in wr.members}
    assert modes["demo/tool.sh"] == 0o755
    assert modes["demo/dos.txt"] == 0o644


# --- bad input --------------------------------------------------------------------------------


def _refused(path: Path, error: type[CwbError], reason: str) -> None:
    with pytest.raises(error) as info:
        open_wheel(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    assert reason in message


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    path.write_bytes(b"this is not a zip file at all")
    _refused(path, BadArchive, "not a zip archive or truncated")


def test_truncated_zip(tmp_path: Path) -> None:
    good = make_wheel(tmp_path, "demo", "1.0")
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    _refused(good, BadArchive, "not a zip archive or truncated")


def test_missing_file(tmp_path: Path) -> None:
    _refused(tmp_path / "demo-1.0-py3-none-any.whl", BadArchive, "no such file")


@pytest.mark.parametrize("missing", ["METADATA", "WHEEL"])
def test_missing_metadata(tmp_path: Path, missing: str) -> None:
    entries = [("demo/__init__.py", b"")]
    if missing == "METADATA":
        path = build(tmp_path, entries, metadata=None)
    else:
        path = build(tmp_path, entries, wheel=None)
    _refused(path, BadMetadata, f"{DI}/{missing} is missing")


def test_missing_record(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/__init__.py", b"")], record=False)
    _refused(path, BadMetadata, f"{DI}/RECORD is missing")


@pytest.mark.parametrize(
    "name",
    [
        "../evil.py",
        "demo/../../evil.py",
        "/etc/passwd",
        "demo\\evil.py",
        "C:/evil.py",
        "demo//x.py",
        "./x",
    ],
)
def test_unsafe_names(tmp_path: Path, name: str) -> None:
    path = build(tmp_path, [(name, b"x")])
    _refused(path, UnsafePath, repr(name))


def test_symlink_refused(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/__init__.py", b"")])
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("demo/link")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        zf.writestr(info, b"/etc/passwd")
    _refused(path, UnsafePath, "member demo/link is a symbolic link")


def test_duplicate_members(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/__init__.py", b"a"), ("demo/__init__.py", b"b")])
    _refused(path, BadArchive, "duplicate member demo/__init__.py")


def test_absurd_declared_size_deflate(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/big.bin", b"x" * 1000)])
    with zipfile.ZipFile(path) as zf:
        compressed = zf.getinfo("demo/big.bin").compress_size
    patch_central_size(path, "demo/big.bin", compressed * MAX_COMPRESSION_RATIO + 4096)
    _refused(path, BadArchive, "beyond deflate's 1032:1 limit")


def test_absurd_declared_size_stored(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/big.bin", b"x" * 1000)], compression=zipfile.ZIP_STORED)
    patch_central_size(path, "demo/big.bin", 4_000_000_000)
    _refused(path, BadArchive, "is stored but declares 4000000000 bytes in 1000")


def test_other_compression_refused(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/a.py", b"x" * 100)], compression=zipfile.ZIP_BZIP2)
    _refused(path, BadArchive, "not stored or deflate")


def test_encrypted_member_refused(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/a.py", b"x")])
    patch_central(path, "demo/a.py", 8, "<H", 0x1)
    _refused(path, BadArchive, "member demo/a.py is encrypted")


def test_overlapping_members_refused(tmp_path: Path) -> None:
    # the overlapping-entry zip bomb: two central entries pointing into the same data
    path = build(tmp_path, [("demo/a.py", b"a" * 200), ("demo/b.py", b"b" * 200)])
    with zipfile.ZipFile(path) as zf:
        first = zf.getinfo("demo/a.py").header_offset
    patch_central(path, "demo/b.py", 42, "<I", first + 10)
    _refused(path, BadArchive, "overlap in the archive")


def test_directory_given(tmp_path: Path) -> None:
    (tmp_path / "demo-1.0-py3-none-any.whl").mkdir()
    _refused(tmp_path / "demo-1.0-py3-none-any.whl", BadArchive, "is a directory")


def test_unknown_data_scheme(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo-1.0.data/etc/x.conf", b"x")])
    _refused(path, BadArchive, "demo-1.0.data/etc/x.conf is not under a known demo-1.0.data scheme")


@pytest.mark.parametrize("script", ["../../bin/evil", "sub/dir", ".."])
def test_unsafe_script_names(tmp_path: Path, script: str) -> None:
    text = f"[console_scripts]\n{script} = demo:main\n".encode()
    path = build(tmp_path, [(f"{DI}/entry_points.txt", text)])
    _refused(path, UnsafePath, f"console_scripts name {script!r} is not a plain file name")


def test_two_dist_info_dirs(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo-0.9.dist-info/METADATA", METADATA)])
    _refused(
        path, BadArchive, "several .dist-info directories: demo-0.9.dist-info, demo-1.0.dist-info"
    )


def test_dist_info_of_another_project(tmp_path: Path) -> None:
    path = build(tmp_path, [], filename="other-1.0-py3-none-any.whl")
    _refused(path, BadArchive, "does not match the project name 'other'")


def test_record_omits_member(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/a.py", b"a"), ("demo/b.py", b"b")], record_skip=["demo/b.py"])
    _refused(path, BadArchive, "demo/b.py is not listed in RECORD")


def test_record_lists_missing_member(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/a.py", b"a")], record_extra=["demo/gone.py,sha256=abc,3"])
    _refused(path, BadArchive, "RECORD lists demo/gone.py, which is not in the archive")


def test_record_weak_hash(tmp_path: Path) -> None:
    path = build(tmp_path, [], record_extra=["demo/x.py,md5=abc,3"])
    _refused(path, BadMetadata, "hash algorithm 'md5' is not allowed")


def test_wheel_version_major(tmp_path: Path) -> None:
    path = build(tmp_path, [], wheel=WHEEL.replace(b"Wheel-Version: 1.0", b"Wheel-Version: 2.0"))
    _refused(path, BadMetadata, "unsupported Wheel-Version 2.0 (major must be 1)")


def test_metadata_name_mismatch(tmp_path: Path) -> None:
    path = build(tmp_path, [], metadata=METADATA.replace(b"Name: demo", b"Name: other"))
    _refused(path, BadMetadata, "METADATA Name other does not match the file name")


def test_metadata_version_mismatch(tmp_path: Path) -> None:
    path = build(tmp_path, [], metadata=METADATA.replace(b"Version: 1.0", b"Version: 1.1"))
    _refused(path, BadMetadata, "METADATA Version 1.1 does not match the file name")


def test_malformed_entry_points(tmp_path: Path) -> None:
    path = build(tmp_path, [(f"{DI}/entry_points.txt", b"no section header\n")])
    _refused(path, BadMetadata, "entry_points.txt is malformed")


def test_record_hash_mismatch_detected_while_streaming(tmp_path: Path) -> None:
    size = 3 * 1024 * 1024  # larger than the stream's buffer, so it is read in several pieces
    original, tampered = b"a" * size, b"a" * (size - 1) + b"b"
    path = build(tmp_path, [("demo/a.bin", original)])
    # swap the member's content for one of the same size: RECORD and zip CRC stay self-consistent
    with zipfile.ZipFile(path) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for i, data in items:
            zf.writestr(i, tampered if i.filename == "demo/a.bin" else data)
    with open_wheel(path) as wr:  # open time reads no payload
        stream = wr.open("demo/a.bin")
        assert stream.read(4) == b"aaaa"
        with pytest.raises(BadArchive) as info:
            while stream.read(65536):
                pass
    assert str(info.value) == f"{path}: RECORD hash mismatch for demo/a.bin"


def test_record_size_mismatch(tmp_path: Path) -> None:
    path = build(
        tmp_path,
        [("demo/a.py", b"abc")],
        record_skip=["demo/a.py"],
        record_extra=[f"demo/a.py,{record_hash(b'abc')},4"],
    )
    _refused(path, BadArchive, "RECORD size mismatch for demo/a.py: RECORD says 4, zip says 3")


def test_hash_checked_when_exactly_size_bytes_are_read(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/a.py", b"original")])
    with zipfile.ZipFile(path) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for i, data in items:
            zf.writestr(i, b"tampered" if i.filename == "demo/a.py" else data)
    with open_wheel(path) as wr:
        member = next(m for m in wr.members if m.name == "demo/a.py")
        fh = wr.open(member)
        # a caller that reads exactly the declared size never asks for EOF: still verified
        with pytest.raises(BadArchive, match=r"RECORD hash mismatch for demo/a\.py"):
            fh.read(member.size)
        with pytest.raises(BadArchive, match="RECORD hash mismatch"):  # and it stays failed
            fh.read()


def test_unknown_member(tmp_path: Path) -> None:
    path = build(tmp_path, [("demo/a.py", b"a")])
    with open_wheel(path) as wr, pytest.raises(BadArchive, match=r"no member demo/zzz\.py"):
        wr.open(WheelMember("demo/zzz.py", 1))


@functools.cache
def _fuzz_base() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        files = {"demo/__init__.py": b"x = 1\n" * 200, "demo/data.bin": bytes(range(256)) * 40}
        wheel = make_wheel(
            Path(tmp),
            "demo",
            "1.0",
            files=files,
            entry_points={"console_scripts": {"demo": "demo:main"}},
        )
        return wheel.read_bytes()


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(-40, 255)), min_size=1, max_size=4
    )
)
def test_damaged_archives_fail_with_a_cwb_error(edits: list[tuple[float, int]]) -> None:
    """Random damage (byte changes, cuts) gives a wheel that verifies or a one-line CwbError."""
    blob = bytearray(_fuzz_base())
    for where, value in edits:
        pos = int(where * len(blob))
        if value >= 0:
            blob[pos] = value
        else:
            del blob[pos : pos - value]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-1.0-py3-none-any.whl"
        path.write_bytes(bytes(blob))
        try:
            with open_wheel(path) as wr:
                wr.verify()
        except CwbError as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)


# --- bounded memory ---------------------------------------------------------------------------

BIG = 320 * 1024 * 1024


@pytest.mark.parametrize(
    "compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"]
)
def test_streaming_large_member_keeps_memory_bounded(tmp_path: Path, compression: int) -> None:
    # stored: 1 MiB of random bytes repeated; deflated: a 4 KiB random period (fast to compress)
    block = os.urandom(1024 * 1024) if compression == zipfile.ZIP_STORED else os.urandom(4096) * 256
    payload_hash = __import__("hashlib").sha256()
    path = tmp_path / "big-1.0-py3-none-any.whl"
    di = "big-1.0.dist-info"
    with zipfile.ZipFile(path, "w", compression=compression, compresslevel=1) as zf:
        with zf.open("big/blob.bin", "w", force_zip64=True) as dest:
            for _ in range(BIG // len(block)):
                dest.write(block)
                payload_hash.update(block)
        meta = b"Metadata-Version: 2.1\nName: big\nVersion: 1.0\n\n"
        zf.writestr(f"{di}/METADATA", meta)
        zf.writestr(f"{di}/WHEEL", WHEEL)
        import base64

        digest = base64.urlsafe_b64encode(payload_hash.digest()).rstrip(b"=").decode()
        record = (
            f"big/blob.bin,sha256={digest},{BIG}\n{di}/METADATA,{record_hash(meta)},{len(meta)}\n"
            f"{di}/WHEEL,{record_hash(WHEEL)},{len(WHEEL)}\n{di}/RECORD,,\n"
        )
        zf.writestr(f"{di}/RECORD", record)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        with open_wheel(path) as wr:
            (member,) = [m for m in wr.members if m.name == "big/blob.bin"]
            assert member.size == BIG
            total = 0
            with wr.open(member) as fh:
                while chunk := fh.read(256 * 1024):
                    total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert total == BIG
    # the reader holds a few MiB of buffers, never the member: bounded far below its size
    assert peak < BIG // 20, f"traced peak {peak} bytes while streaming a {BIG}-byte member"
    assert rss_growth < BIG // 4, f"RSS grew by {rss_growth} bytes for a {BIG}-byte member"
