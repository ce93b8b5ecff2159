"""The conda package reader: real fixtures stream; unsafe or broken archives are refused."""

from __future__ import annotations

import bz2
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from conda_wheel_bridge.condasource import (
    CondaPackage,
    PayloadMember,
    is_conda_package,
    iter_payload,
    read_conda_info,
    scan_conda,
)
from conda_wheel_bridge.errors import BadArchive, BadMetadata, CwbError, UnsafePath

from tests.support.condamaker import Member, file_member, link_member, paths_json, write_package

INDEX = {"name": "pkg", "version": "1.0", "build": "0", "build_number": 0, "subdir": "noarch",
         "depends": []}


def _make_tar_bz2(tmp_path: Path, payload: list[Member],
                  *, paths: bytes | None, index: Mapping[str, object] = INDEX,
                  name: str = "pkg-1.0-0.tar.bz2") -> Path:
    info: list[Member] = [
        file_member("info/index.json", json.dumps(index).encode())]
    if paths is not None:
        info.append(file_member("info/paths.json", paths))
    return write_package(tmp_path / name, info, payload)


def _make_conda(tmp_path: Path, files: Mapping[str, bytes], *, stem: str = "pkg-1.0-0") -> Path:
    info = [file_member("info/index.json", json.dumps(INDEX).encode()),
            file_member("info/paths.json", paths_json(files))]
    payload: list[Member] = [file_member(k, v) for k, v in files.items()]
    return write_package(tmp_path / f"{stem}.conda", info, payload)


# --- real fixtures -------------------------------------------------------------------------------

def test_reads_index_paths_about_link_of_real_noarch_python(fixtures_dir: Path) -> None:
    info = read_conda_info(fixtures_dir / "conda/noarch/moto-1.3.7-py_0.tar.bz2")
    assert (info.name, info.version, info.build, info.subdir) == ("moto", "1.3.7", "py_0", "noarch")
    assert info.noarch == "python"
    assert info.listing == "info/paths.json"
    assert info.entry_points == ("moto_server = moto.server:main",)
    assert "boto3 >=1.6.15" in info.depends
    assert info.about["home"] == "http://getmoto.org"
    assert info.paths is not None
    assert any(p.path == "site-packages/moto-1.3.7.dist-info/METADATA" for p in info.paths)


def test_streams_and_verifies_every_file_of_both_formats(fixtures_dir: Path) -> None:
    digests = {}
    for name in ("mock-2.0.0-py37_1000.conda", "mock-2.0.0-py37_1000.tar.bz2"):
        package = fixtures_dir / "conda/osx-64" / name
        info = read_conda_info(package)
        files = {}
        for member in iter_payload(package, info):
            if member.kind == "file":
                assert member.stream is not None and member.entry is not None
                data = member.stream.read()
                assert hashlib.sha256(data).hexdigest() == member.entry.sha256
                files[member.path] = data
        assert info.paths is not None and set(files) == {p.path for p in info.paths}
        digests[name] = {k: hashlib.sha256(v).digest() for k, v in files.items()}
    assert digests["mock-2.0.0-py37_1000.conda"] == digests["mock-2.0.0-py37_1000.tar.bz2"]


def test_old_info_files_listing_and_subdir_from_platform(fixtures_dir: Path) -> None:
    info = read_conda_info(fixtures_dir / "conda/noarch/flask-0.11.1-py_0.tar.bz2")
    assert info.listing == "info/files" and info.paths is not None
    assert "site-packages/flask/app.py" in {p.path for p in info.paths}
    assert info.noarch == "python"
    nano = read_conda_info(fixtures_dir / "conda/_nosubdir/nano-2.4.1-0.tar.bz2")
    assert "subdir" not in nano.index
    assert nano.subdir == f"{nano.index['platform']}-64"


def test_real_symlinks_are_yielded_as_links(fixtures_dir: Path) -> None:
    package = fixtures_dir / "conda/noarch/cph_test_data-0.0.1-0.tar.bz2"
    links = {m.path: m.target for m in iter_payload(package) if m.kind == "symlink"}
    assert links["libexec/greetings"] == "../bin/hello"  # relative, inside the prefix
    assert links["lib/terminfo"] == "../share/terminfo"
    assert links["lib/libdangle.lib"] == "libdangle.lib.1"  # dangling but harmless


def test_info_only_conda_has_empty_payload(fixtures_dir: Path) -> None:
    assert list(iter_payload(fixtures_dir / "conda/_edge_cases/info-only-1.0.0-0.conda")) == []


def test_metadata_only_fixture_streams_to_a_clear_error(fixtures_dir: Path) -> None:
    package = fixtures_dir / "conda/noarch/spiffy-test-app-0.5-pyh6afbcc8_0.tar.bz2"
    assert read_conda_info(package).entry_points  # info/ is intact
    with pytest.raises(BadArchive, match=r"listed in info/paths.json but missing from the archive"):
        list(iter_payload(package))


def test_nested_zip_layout_is_refused_naming_thefile_member(fixtures_dir: Path) -> None:
    package = fixtures_dir / "conda/_edge_cases/ca-certificates-2024.7.4-hbcca054_0.conda"
    with pytest.raises(BadArchive) as err:
        read_conda_info(package)
    assert str(err.value).startswith(str(package))
    assert "\n" not in str(err.value)


def test_is_conda_package() -> None:
    assert is_conda_package("a-1-0.conda") and is_conda_package(Path("a-1-0.tar.bz2"))
    assert not is_conda_package("a-1-py3-none-any.whl")


# --- hostile and broken archives -----------------------------------------------------------------

def test_dotdot_member_is_refused(tmp_path: Path) -> None:
    package = _make_tar_bz2(tmp_path, [file_member("lib/../../etc/passwd", b"x")], paths=None)
    with pytest.raises(UnsafePath, match=r"escapes the prefix"):
        list(iter_payload(package))


def test_absolute_member_is_refused(tmp_path: Path) -> None:
    package = _make_tar_bz2(tmp_path, [file_member("/etc/passwd", b"x")], paths=None)
    with pytest.raises(UnsafePath, match=r"absolute path"):
        list(iter_payload(package))


def test_dotdot_in_paths_json_is_refused(tmp_path: Path) -> None:
    package = _make_tar_bz2(tmp_path, [], paths=paths_json({"../x": b""}))
    with pytest.raises(UnsafePath):
        read_conda_info(package)


@pytest.mark.parametrize("target", ["../../../etc/passwd", "/etc/passwd", "../.."])
def test_symlink_escaping_the_prefix_is_refused(tmp_path: Path, target: str) -> None:
    package = _make_tar_bz2(tmp_path, [link_member("lib/evil", target)], paths=None)
    with pytest.raises(UnsafePath, match=r"symlink lib/evil"):
        list(iter_payload(package))


def test_symlink_inside_the_prefix_is_accepted(tmp_path: Path) -> None:
    members: list[Member] = [file_member("lib/a", b"a"), link_member("bin/a", "../lib/a")]
    package = _make_tar_bz2(tmp_path, members, paths=None)
    assert [(m.path, m.kind, m.target) for m in iter_payload(package)] == [
        ("lib/a", "file", None), ("bin/a", "symlink", "../lib/a")]


def test_hash_mismatch_is_refused(tmp_path: Path) -> None:
    paths = paths_json({"lib/a": b"good"})
    package = _make_tar_bz2(tmp_path, [file_member("lib/a", b"evil")], paths=paths)
    with pytest.raises(BadArchive, match=r"lib/a: sha256 .* does not match info/paths.json"):
        list(iter_payload(package))


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    paths = paths_json({"lib/a": b"good"}, **{"lib/a": {"sha256": None, "size_in_bytes": 99}})
    package = _make_tar_bz2(tmp_path, [file_member("lib/a", b"good")], paths=paths)
    with pytest.raises(BadArchive, match=r"lib/a: size 4 does not match info/paths.json \(99\)"):
        list(iter_payload(package))


def test_verification_happens_even_if_the_caller_reads_nothing(tmp_path: Path) -> None:
    paths = paths_json({"lib/a": b"good"})
    package = _make_tar_bz2(tmp_path, [file_member("lib/a", b"evil")], paths=paths)
    with pytest.raises(BadArchive, match=r"sha256"):
        for _member in iter_payload(package):
            pass


def test_unlisted_member_is_refused(tmp_path: Path) -> None:
    package = _make_tar_bz2(tmp_path, [file_member("lib/a", b"a"), file_member("lib/sneaky", b"b")],
                            paths=paths_json({"lib/a": b"a"}))
    with pytest.raises(BadArchive, match=r"lib/sneaky is in the archive but not listed"):
        list(iter_payload(package))


def test_hardlink_to_earlier_member_is_checked(tmp_path: Path) -> None:
    files = {"lib/a": b"same", "lib/b": b"same"}
    members: list[Member] = [file_member("lib/a", b"same"),
                             link_member("lib/b", "lib/a", hard=True)]
    package = _make_tar_bz2(tmp_path, members, paths=paths_json(files))
    kinds = [(m.path, m.kind, m.target) for m in iter_payload(package)]
    assert kinds == [("lib/a", "file", None), ("lib/b", "hardlink", "lib/a")]
    bad = _make_tar_bz2(tmp_path, [link_member("lib/b", "lib/a", hard=True)], paths=None,
                        name="x-1-0.tar.bz2")
    with pytest.raises(BadArchive, match=r"hard link"):
        list(iter_payload(bad))


def test_truncated_archive_is_refused(tmp_path: Path) -> None:
    package = _make_tar_bz2(tmp_path, [file_member("lib/a", b"a" * 5000)], paths=None)
    package.write_bytes(package.read_bytes()[:60])
    with pytest.raises(BadArchive, match=r"corrupt or unreadable archive"):
        read_conda_info(package)


def test_garbage_conda_is_refused(tmp_path: Path) -> None:
    package = tmp_path / "pkg-1.0-0.conda"
    package.write_bytes(b"this is not a zip file at all")
    with pytest.raises(BadArchive, match=r"pkg-1.0-0.conda: corrupt or unreadable"):
        read_conda_info(package)


def test_missing_index_json_is_bad_metadata(tmp_path: Path) -> None:
    package = write_package(tmp_path / "pkg-1.0-0.tar.bz2", [], [file_member("lib/a", b"a")])
    with pytest.raises(BadMetadata, match=r"info/index.json is missing"):
        read_conda_info(package)


def test_crafted_conda_roundtrips_and_detects_tampering(tmp_path: Path) -> None:
    package = _make_conda(tmp_path, {"site-packages/m.py": b"x = 1\n"})
    members = [(m.path, m.stream.read() if m.stream else None) for m in iter_payload(package)]
    assert members == [("site-packages/m.py", b"x = 1\n")]
    renamed = package.rename(tmp_path / "other-1.0-0.conda")
    with pytest.raises(BadArchive, match=r"no info-other-1.0-0.tar.zst member"):
        read_conda_info(renamed)


# --- scan_conda: one decompression of a .tar.bz2 ------------------------------------------------

Seen = tuple[CondaPackage, list[tuple[str, str, int, bytes | None]]]


def _count_bz2_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every bzip2 decompression started from now on (bz2.open and tarfile's r:bz2 both make a
    BZ2File), by file name."""
    opened: list[str] = []

    class CountingBZ2File(bz2.BZ2File):
        def __init__(self, filename: Any, *args: Any, **kw: Any) -> None:
            opened.append(Path(str(filename)).name)
            super().__init__(filename, *args, **kw)

    monkeypatch.setattr(bz2, "BZ2File", CountingBZ2File)
    return opened


def _read_all(info: CondaPackage, payload: Iterator[PayloadMember]) -> Seen:
    """A consumer that reads every file it is given."""
    return _read_dist_info(info, payload, lambda path: True)


def _read_dist_info(info: CondaPackage, payload: Iterator[PayloadMember],
                    wanted: Callable[[str], bool] = lambda path: ".dist-info/" in path) -> Seen:
    """A consumer that reads only the files ``wanted`` accepts (by default the dist-info)."""
    return info, [(m.path, m.kind, m.size,
                   m.stream.read() if m.stream and wanted(m.path) else None) for m in payload]


def _two_passes(package: Path) -> Seen:
    info = read_conda_info(package)
    return _read_all(info, iter_payload(package, info))


def test_scan_conda_decompresses_a_tar_bz2_once(
        fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto's info/ comes after its payload, as in most conda-build .tar.bz2 packages
    package = fixtures_dir / "conda/noarch/moto-1.3.7-py_0.tar.bz2"
    info = read_conda_info(package)
    expected = _read_dist_info(info, iter_payload(package, info))
    opened = _count_bz2_opens(monkeypatch)
    seen = scan_conda(package, _read_dist_info, keep=lambda path: ".dist-info/" in path)
    assert opened == [package.name]
    assert seen == expected
    metadata = dict((m[0], m[3]) for m in seen[1])["site-packages/moto-1.3.7.dist-info/METADATA"]
    assert metadata is not None and b"Name: moto" in metadata


def test_scan_conda_reading_an_unkept_file_falls_back_to_two_passes(
        fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = fixtures_dir / "conda/osx-64/mock-2.0.0-py37_1000.tar.bz2"
    expected = _two_passes(package)
    opened = _count_bz2_opens(monkeypatch)
    assert scan_conda(package, _read_all, keep=lambda path: False) == expected
    assert opened == [package.name] * 3  # the single pass, then read_conda_info + iter_payload


def test_scan_conda_of_a_conda_reads_info_and_payload_members_once(fixtures_dir: Path) -> None:
    package = fixtures_dir / "conda/noarch/boltons-0.1.0-pyhbf21a9e_0.conda"
    assert scan_conda(package, _read_all, keep=lambda path: False) == _two_passes(package)


def _error_of(info: CondaPackage, payload: Iterator[PayloadMember]) -> str:
    try:
        _read_all(info, payload)
    except CwbError as exc:
        return str(exc)
    return "no error"


@pytest.mark.parametrize("files,payload", [
    ({"lib/a": b"good"}, [file_member("lib/a", b"evil")]),  # hash mismatch
    ({"lib/a": b"a"}, [file_member("lib/a", b"a"), file_member("lib/sneaky", b"b")]),  # unlisted
    ({"lib/a": b"a", "lib/b": b"b"}, [file_member("lib/a", b"a")]),  # listed, missing
])
def test_scan_conda_replays_iter_payloads_errors_from_the_one_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes],
        payload: list[Member]) -> None:
    package = _make_tar_bz2(tmp_path, payload, paths=paths_json(files))
    info = read_conda_info(package)
    expected = _error_of(info, iter_payload(package, info))
    assert expected != "no error"
    opened = _count_bz2_opens(monkeypatch)
    assert scan_conda(package, _error_of, keep=lambda path: True) == expected
    assert len(opened) == 1


@pytest.mark.parametrize("payload,error", [
    ([file_member("lib/../../etc/passwd", b"x")], UnsafePath),
    ([file_member("lib/a", b"a" * 5000)], BadArchive),  # truncated below
])
def test_scan_conda_raises_what_the_two_passes_raise(
        tmp_path: Path, payload: list[Member], error: type[CwbError]) -> None:
    package = _make_tar_bz2(tmp_path, payload, paths=None)
    if error is BadArchive:
        package.write_bytes(package.read_bytes()[:80])
    with pytest.raises(error) as old:
        _two_passes(package)
    with pytest.raises(error) as new:
        scan_conda(package, _read_all, keep=lambda path: True)
    assert str(new.value) == str(old.value)


def test_scan_conda_without_index_json_is_bad_metadata(tmp_path: Path) -> None:
    package = write_package(tmp_path / "pkg-1.0-0.tar.bz2", [], [file_member("lib/a", b"a")])
    with pytest.raises(BadMetadata, match=r"info/index.json is missing"):
        scan_conda(package, _read_all, keep=lambda path: True)
