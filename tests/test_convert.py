"""Wheel → conda (convert.py): real fixture wheels and made ones, read back with
conda-package-streaming; bad wheels give one clear error and leave nothing behind."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conda_wheel_bridge.convert import wheel_to_conda, wheel_to_conda_all
from conda_wheel_bridge.errors import CwbError, UnsafePath, UnsupportedTag
from conda_wheel_bridge.launchers import PREFIX_PLACEHOLDER
from conda_wheel_bridge.wheelfile import open_wheel

from tests.conftest import FIXTURES
from tests.support.condaread import CondaContents, check_paths_json, read_conda
from tests.support.wheelmaker import make_wheel, record_hash

WHEELS = (
    sorted((FIXTURES / "wheels").glob("*.whl"))
    + sorted((FIXTURES / "wheels" / "fixtures").glob("*.whl"))
    + sorted((FIXTURES / "wheels" / "variants").glob("*.whl"))
)


def _files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file()) if out.exists() else []


def _record_rows(contents: CondaContents, record: str) -> dict[str, tuple[str, str]]:
    rows = csv.reader(io.StringIO(contents.payload[record].data.decode()))
    return {r[0]: (r[1], r[2]) for r in rows if r}


def check_package(wheel: Path, contents: CondaContents, index: dict[str, object]) -> None:
    """What every converted package must satisfy, whatever the wheel."""
    check_paths_json(contents)
    assert contents.json("index.json") == index
    with open_wheel(wheel) as reader:
        info = reader.info
        site = "site-packages" if index.get("noarch") == "python" else None
        if site is None:
            site = next(p for p in contents.payload if p.endswith(f"/{info.dist_info}/METADATA"))
            site = site[: -len(f"/{info.dist_info}/METADATA")]
        # every wheel payload file is in the package, byte for byte
        for member in reader.members:
            if member.name.startswith(info.data_dir + "/"):
                continue
            path = f"{site}/{member.name}"
            if member.name.endswith(("/RECORD", "/INSTALLER", "/REQUESTED", "direct_url.json")):
                continue
            assert contents.payload[path].data == reader.read(member.name), path
        # dist-info kept, INSTALLER conda, RECORD lists exactly the installed files
        dist = f"{site}/{info.dist_info}"
        assert contents.payload[f"{dist}/INSTALLER"].data == b"conda\n"
        assert f"{dist}/REQUESTED" not in contents.payload
        assert f"{dist}/direct_url.json" not in contents.payload
        rows = _record_rows(contents, f"{dist}/RECORD")
        assert len(rows) == len(contents.payload)
        paths = {r["_path"]: r for r in contents.json("paths.json")["paths"]}
        for path, entry in contents.payload.items():
            rec = _installed_record_path(path, site, index)
            assert rec in rows, (path, rec)
            digest, size = rows[rec]
            if path.endswith("/RECORD") or "prefix_placeholder" in paths[path]:
                assert digest == "" and size == ""
            else:
                assert digest == record_hash(entry.data) and int(size) == len(entry.data)
    about = contents.json("about.json")
    license_ = index.get("license")
    if license_ is not None:
        assert about["license"] == license_
        assert "\n" not in str(license_) and len(str(license_)) < 100
    if index.get("noarch") == "python":
        link = contents.json("link.json")
        assert link["noarch"]["type"] == "python"
        assert all(
            p.startswith(("site-packages/", "python-scripts/")) or not p.startswith("lib/")
            for p in contents.payload
        )


def _installed_record_path(path: str, site: str, index: dict[str, object]) -> str:
    import posixpath

    if index.get("noarch") == "python":
        base = "lib/pythonX.Y/site-packages"
        if path.startswith("site-packages/"):
            path = base + path[len("site-packages") :]
        elif path.startswith("python-scripts/"):
            path = "bin" + path[len("python-scripts") :]
        return posixpath.relpath(path, base)
    return posixpath.relpath(path, site)


@pytest.mark.parametrize("wheel", WHEELS, ids=[w.name for w in WHEELS])
def test_every_fixture_wheel(wheel: Path, tmp_path: Path) -> None:
    """Every fixture wheel converts to a checked package, or fails with one line naming it."""
    out = tmp_path / "out"
    try:
        results = wheel_to_conda_all(wheel, out, zstd_level=3)
    except CwbError as exc:
        assert str(exc).startswith(str(wheel)), exc
        assert "\n" not in str(exc)
        assert _files(out) == []
        # the PyPI wheels at the top of wheels/ must all convert, except musllinux (refused)
        assert wheel.parent.name != "wheels" or "musllinux" in wheel.name
        return
    assert results
    for result in results:
        assert result.path.parent == out / result.subdir
        contents = read_conda(result.path)
        check_package(wheel, contents, dict(result.index))


def _convert(
    wheel: Path, out: Path, *, allow_musllinux: bool = False
) -> tuple[dict[str, Any], CondaContents]:
    """Convert ``wheel``; its index.json (JSON, so ``Any`` values) and the package read back."""
    result = wheel_to_conda(wheel, out, zstd_level=3, allow_musllinux=allow_musllinux)
    return dict(result.index), read_conda(result.path)


def test_pure_wheel_is_noarch_python(fixtures_dir: Path, tmp_path: Path) -> None:
    index, contents = _convert(fixtures_dir / "wheels/requests-2.32.3-py3-none-any.whl", tmp_path)
    assert index["subdir"] == "noarch" and index["noarch"] == "python"
    assert index["name"] == "requests" and index["version"] == "2.32.3"
    assert index["depends"][0] == "python >=3.8"
    assert any(str(d).startswith("idna ") for d in index["depends"])
    assert "socks" in index.get("extra_depends", {})
    assert index["license"] == "Apache-2.0"
    assert "site-packages/requests/__init__.py" in contents.payload
    assert contents.json("link.json")["noarch"]["entry_points"] == []
    assert contents.json("about.json")["home"].startswith("https://")
    assert contents.order[0] == "metadata.json" and contents.order[1].startswith("info-")


def test_platform_wheel(fixtures_dir: Path, tmp_path: Path) -> None:
    wheel = (
        fixtures_dir
        / "wheels/msgpack-1.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    index, contents = _convert(wheel, tmp_path)
    assert index["subdir"] == "linux-64" and "noarch" not in index
    assert index["depends"][:3] == [
        "python >=3.11,<3.12.0a0",
        "python_abi 3.11.* *_cp311",
        "__glibc >=2.17",
    ]
    assert str(index["build"]).startswith("py311h")
    assert index["name"] == "msgpack-python"  # through the shipped name map
    sos = [p for p in contents.payload if p.endswith(".so")]
    assert sos and all(p.startswith("lib/python3.11/site-packages/msgpack/") for p in sos)
    assert "link.json" not in contents.info


def test_windows_wheel_layout(fixtures_dir: Path, tmp_path: Path) -> None:
    index, contents = _convert(
        fixtures_dir / "wheels/msgpack-1.1.0-cp311-cp311-win_amd64.whl", tmp_path
    )
    assert index["subdir"] == "win-64" and "__win" in index["depends"]
    assert any(
        p.startswith("Lib/site-packages/msgpack/") and p.endswith(".pyd") for p in contents.payload
    )


def test_macos_arm64_wheel(fixtures_dir: Path, tmp_path: Path) -> None:
    index, _ = _convert(
        fixtures_dir / "wheels/msgpack-1.1.0-cp311-cp311-macosx_11_0_arm64.whl", tmp_path
    )
    assert index["subdir"] == "osx-arm64" and "__osx >=11.0" in index["depends"]


def test_abi3_wheel(fixtures_dir: Path, tmp_path: Path) -> None:
    wheel = (
        fixtures_dir
        / "wheels/bcrypt-4.3.0-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    index, contents = _convert(wheel, tmp_path)
    assert index["subdir"] == "linux-64" and index["noarch"] == "python"
    assert index["depends"][:2] == ["python >=3.9", "__glibc >=2.17"]
    assert not any(str(d).startswith("python_abi") for d in index["depends"])
    assert any(
        p.startswith("site-packages/bcrypt/") and p.endswith(".so") for p in contents.payload
    )


def test_musllinux(fixtures_dir: Path, tmp_path: Path) -> None:
    wheel = fixtures_dir / "wheels/msgpack-1.1.0-cp311-cp311-musllinux_1_2_x86_64.whl"
    with pytest.raises(UnsupportedTag, match="musllinux"):
        wheel_to_conda(wheel, tmp_path)
    assert _files(tmp_path) == []
    index, _ = _convert(wheel, tmp_path, allow_musllinux=True)
    assert "__musl >=1.2" in index["depends"]


def test_universal2_gives_both_mac_packages(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w", "fat", "1.0", tag="cp312-cp312-macosx_10_13_universal2")
    results = wheel_to_conda_all(wheel, tmp_path / "out", zstd_level=3)
    assert [r.subdir for r in results] == ["osx-64", "osx-arm64"]
    assert "__osx >=10.13" in results[0].index["depends"]
    assert "__osx >=11.0" in results[1].index["depends"]
    assert wheel_to_conda(wheel, tmp_path / "one", subdir="osx-arm64").subdir == "osx-arm64"
    assert [p.parent.name for p in _files(tmp_path / "one")] == ["osx-arm64"]


def test_free_threaded(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "w", "ft", "1.0", tag="cp313-cp313t-manylinux_2_28_x86_64")
    index, contents = _convert(wheel, tmp_path / "out")
    assert "python_abi 3.13.* *_cp313t" in index["depends"]
    assert "lib/python3.13t/site-packages/ft/__init__.py" in contents.payload
    assert str(index["build"]).startswith("py313th")


def test_data_schemes_and_scripts(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": b"",
        "pkg-1.0.data/scripts/tool": b"#!python\nprint('tool')\n",
        "pkg-1.0.data/scripts/binary": b"\x7fELF\x00\x01",
        "pkg-1.0.data/headers/pkg.h": b"#define PKG 1\n",
        "pkg-1.0.data/data/share/pkg/data.txt": b"data\n",
        "pkg-1.0.data/platlib/pkg_ext.so": b"\x7fELF",
    }
    for tag, site, scripts, headers in (
        ("py3-none-any", "site-packages", "python-scripts", "include/pkg"),
        (
            "cp311-cp311-manylinux_2_17_x86_64",
            "lib/python3.11/site-packages",
            "bin",
            "include/python3.11/pkg",
        ),
        ("cp311-cp311-win_amd64", "Lib/site-packages", "Scripts", "Include/pkg"),
    ):
        wheel = make_wheel(tmp_path / tag, "pkg", "1.0", tag=tag, files=files)
        index, contents = _convert(wheel, tmp_path / tag / "out")
        check_package(wheel, contents, index)
        p = contents.payload
        assert p[f"{site}/pkg_ext.so"].data == b"\x7fELF"
        assert p[f"{headers}/pkg.h"].data == b"#define PKG 1\n"
        assert p["share/pkg/data.txt"].data == b"data\n"
        assert p[f"{scripts}/binary"].data == b"\x7fELF\x00\x01"
        assert p[f"{scripts}/tool"].mode & 0o111
        rows = {r["_path"]: r for r in contents.json("paths.json")["paths"]}
        if tag.endswith("win_amd64"):
            assert p[f"{scripts}/tool"].data == b"#!python\nprint('tool')\n"
            assert "prefix_placeholder" not in rows[f"{scripts}/tool"]
        else:
            assert (
                p[f"{scripts}/tool"].data
                == f"#!{PREFIX_PLACEHOLDER}/bin/python\nprint('tool')\n".encode()
            )
            assert rows[f"{scripts}/tool"]["prefix_placeholder"] == PREFIX_PLACEHOLDER
            assert "prefix_placeholder" not in rows[f"{scripts}/binary"]


def test_entry_points(tmp_path: Path) -> None:
    eps = {
        "console_scripts": {"hello": "pkg.cli:main"},
        "gui_scripts": {"hello-gui": "pkg.gui:run"},
    }
    noarch = make_wheel(tmp_path / "a", "pkg", "1.0", entry_points=eps)
    _, contents = _convert(noarch, tmp_path / "a" / "out")
    assert contents.json("link.json")["noarch"]["entry_points"] == [
        "hello = pkg.cli:main",
        "hello-gui = pkg.gui:run",
    ]
    assert not any(p.startswith("python-scripts/") for p in contents.payload)

    linux = make_wheel(
        tmp_path / "b", "pkg", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64", entry_points=eps
    )
    _, contents = _convert(linux, tmp_path / "b" / "out")
    script = contents.payload["bin/hello"]
    assert script.mode & 0o111
    assert script.data.startswith(f"#!{PREFIX_PLACEHOLDER}/bin/python\n".encode())
    assert b"from pkg.cli import main" in script.data
    compile(script.data, "hello", "exec")

    win = make_wheel(tmp_path / "c", "pkg", "1.0", tag="cp311-cp311-win_amd64", entry_points=eps)
    _, contents = _convert(win, tmp_path / "c" / "out")
    assert b"python.exe" in contents.payload["Scripts/hello.cmd"].data
    assert b"pythonw.exe" in contents.payload["Scripts/hello-gui.cmd"].data
    assert b"from pkg.gui import run" in contents.payload["Scripts/hello-gui-script.pyw"].data


def test_license_and_license_files(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "lic",
        "1.0",
        license_expression="mit OR apache-2.0",
        extra_metadata=["License-File: LICENSE", "License-File: sub/NOTICE"],
        files={
            "lic/__init__.py": b"",
            "lic-1.0.dist-info/licenses/LICENSE": b"MIT text\n",
            "lic-1.0.dist-info/licenses/sub/NOTICE": b"notice\n",
        },
    )
    index, contents = _convert(wheel, tmp_path / "out")
    assert index["license"] == "MIT OR Apache-2.0"
    assert contents.info["licenses/LICENSE"] == b"MIT text\n"
    assert contents.info["licenses/sub/NOTICE"] == b"notice\n"
    assert contents.json("about.json")["license_file"] == ["LICENSE", "sub/NOTICE"]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (["License: MIT"], "MIT"),
        (["License: " + "Permission is hereby granted, free of charge" * 5], None),
        (["Classifier: License :: OSI Approved :: BSD License"], None),
        (["Classifier: License :: OSI Approved :: Apache Software License"], "Apache-2.0"),
        (
            [
                "Classifier: License :: OSI Approved :: MIT License",
                "Classifier: License :: OSI Approved :: Apache Software License",
            ],
            "Apache-2.0 OR MIT",
        ),
    ],
)
def test_license_is_spdx_or_absent(
    tmp_path: Path, metadata: list[str], expected: str | None
) -> None:
    wheel = make_wheel(tmp_path, "lic", "1.0", extra_metadata=metadata)
    index, _ = _convert(wheel, tmp_path / "out")
    assert index.get("license") == expected


def test_build_tag_and_format_tar_bz2(fixtures_dir: Path, tmp_path: Path) -> None:
    wheel = fixtures_dir / "wheels/fixtures/build_tag-1.0.0-1-py2.py3-none-any.whl"
    result = wheel_to_conda(wheel, tmp_path, fmt="tar.bz2")
    assert result.path.name.endswith("_1.tar.bz2") and result.index["build_number"] == 1
    contents = read_conda(result.path)
    check_package(wheel, contents, dict(result.index))
    assert contents.order[0].startswith("info/")


def test_requested_and_direct_url_dropped(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "dr",
        "1.0",
        files={
            "dr/__init__.py": b"",
            "dr-1.0.dist-info/REQUESTED": b"",
            "dr-1.0.dist-info/direct_url.json": b'{"url": "file:///x"}',
            "dr-1.0.dist-info/INSTALLER": b"pip\n",
        },
    )
    _, contents = _convert(wheel, tmp_path / "out")
    assert "site-packages/dr-1.0.dist-info/REQUESTED" not in contents.payload
    assert "site-packages/dr-1.0.dist-info/direct_url.json" not in contents.payload
    assert contents.payload["site-packages/dr-1.0.dist-info/INSTALLER"].data == b"conda\n"


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_same_wheel_same_package(
    fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """Reproducible output: nothing in the package depends on the clock."""
    import time

    wheel = fixtures_dir / "wheels/six-1.17.0-py2.py3-none-any.whl"
    a = wheel_to_conda(wheel, tmp_path / "a", fmt=fmt, zstd_level=3, zstd_threads=1)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # another day, as far as zip knows
    b = wheel_to_conda(wheel, tmp_path / "b", fmt=fmt, zstd_level=3, zstd_threads=1)
    assert a.path.read_bytes() == b.path.read_bytes()


def test_variant_wheel_gets_variant_depends_and_label(tmp_path: Path) -> None:
    variant = {
        "$schema": "https://variants-schema.wheelnext.dev/v0.0.3.json",
        "default-priorities": {"namespace": ["nvidia"]},
        "providers": {"nvidia": {"requires": ["nvidia-variant-provider"]}},
        "variants": {"cu12": {"nvidia": {"cuda_version_lower_bound": ["12.0"]}}},
    }
    wheel = make_wheel(tmp_path, "gpu", "1.0", variant=variant, variant_label="cu12")
    result = wheel_to_conda(wheel, tmp_path / "out")
    assert "_cu12_" in str(result.index["build"])
    assert "__cuda >=12.0" in result.index["depends"]


def test_rebuilt_worse_variant_does_not_overtake_a_better_one(tmp_path: Path) -> None:
    """The variant's rank dominates the build number; the wheel build tag orders rebuilds only."""
    numbers = {}
    for label, build_tag in (("cu12", "7"), ("cu13", None)):
        variant = {
            "$schema": "https://variants-schema.wheelnext.dev/v0.0.3.json",
            "default-priorities": {"namespace": ["nvidia"]},
            "providers": {"nvidia": {"requires": ["nvidia-variant-provider"]}},
            "variants": {label: {"nvidia": {"cuda_version_lower_bound": [label[2:] + ".0"]}}},
        }
        wheel = make_wheel(tmp_path / label, "gpu", "1.0", variant=variant,
                           variant_label=label, build_tag=build_tag)
        numbers[label] = wheel_to_conda(wheel, tmp_path / "out").index["build_number"]
    assert numbers["cu13"] > numbers["cu12"] > 0
    assert numbers["cu12"] % 1000 == 7


def test_variant_without_conda_counterpart_is_refused(fixtures_dir: Path, tmp_path: Path) -> None:
    wheel = fixtures_dir / "wheels/variants/test_package-0-py3-none-any-5d8be4b9.whl"
    with pytest.raises(CwbError, match="installable_plugin"):
        wheel_to_conda(wheel, tmp_path)
    assert _files(tmp_path) == []


# --- bad input ----------------------------------------------------------------------------------


def _rezip(
    src: Path,
    dst: Path,
    edit: Callable[[dict[str, bytes]], None],
    extra: list[tuple[str, bytes]] | None = None,
) -> Path:
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    edit(members)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, data in extra or []:
            zf.writestr(name, data)
    return dst


def _bad_wheels(tmp_path: Path) -> dict[str, Path]:
    good = make_wheel(tmp_path / "good", "bad", "1.0")
    bad = tmp_path / "bad"
    bad.mkdir()
    out: dict[str, Path] = {}
    data = good.read_bytes()
    (bad / "t").mkdir()
    out["truncated"] = bad / "t" / good.name
    out["truncated"].write_bytes(data[: len(data) // 2])

    def no_metadata(m: dict[str, bytes]) -> None:
        del m["bad-1.0.dist-info/METADATA"]

    def wrong_hash(m: dict[str, bytes]) -> None:
        m["bad/__init__.py"] = b"tampered = True\n"

    for key, edit in (("no-metadata", no_metadata), ("hash-mismatch", wrong_hash)):
        (bad / key).mkdir()
        out[key] = _rezip(good, bad / key / good.name, edit)

    def add_row(name: str, payload: bytes) -> Callable[[dict[str, bytes]], None]:
        def edit(m: dict[str, bytes]) -> None:
            row = f"{name},{record_hash(payload)},{len(payload)}\n".encode()
            m["bad-1.0.dist-info/RECORD"] = row + m["bad-1.0.dist-info/RECORD"]

        return edit

    for key, name in (("dotdot", "../evil.py"), ("absolute", "/etc/evil.py")):
        (bad / key).mkdir()
        out[key] = _rezip(good, bad / key / good.name, add_row(name, b"x"), [(name, b"x")])
    (bad / "dup").mkdir()
    with pytest.warns(UserWarning):
        out["duplicate"] = _rezip(
            good, bad / "dup" / good.name, lambda m: None, [("bad/__init__.py", b"again")]
        )
    (bad / "absurd").mkdir()
    absurd = _rezip(good, bad / "absurd" / good.name, lambda m: None)
    _lie_about_size(absurd, "bad/__init__.py", 1 << 40)
    out["absurd-size"] = absurd
    return out


def _lie_about_size(path: Path, name: str, size: int) -> None:
    """Patch the central directory entry of ``name`` to declare ``size`` uncompressed bytes."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    pos = data.find(b"PK\x01\x02" + b"\x00" * 0)
    while pos != -1:
        name_len = int.from_bytes(data[pos + 28 : pos + 30], "little")
        if bytes(data[pos + 46 : pos + 46 + name_len]) == encoded:
            data[pos + 24 : pos + 28] = (0xFFFFFFFE).to_bytes(4, "little")
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    assert pos != -1
    del size
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("truncated", "zip"),
        ("no-metadata", "METADATA"),
        ("hash-mismatch", "hash"),
        ("dotdot", "'..'"),
        ("absolute", "absolute"),
        ("duplicate", "duplicate"),
        ("absurd-size", "bytes"),
    ],
)
def test_bad_wheels(tmp_path: Path, case: str, reason: str) -> None:
    wheel = _bad_wheels(tmp_path)[case]
    out = tmp_path / "out"
    with pytest.raises(CwbError) as info:
        wheel_to_conda(wheel, out)
    message = str(info.value)
    assert message.startswith(str(wheel)) and "\n" not in message
    assert reason in message
    assert _files(out) == []


@pytest.mark.parametrize("name", ["../evil", "sub/tool", ".hidden", "a\\b"])
def test_entry_point_names_cannot_escape(tmp_path: Path, name: str) -> None:
    eps = {"console_scripts": {name: "pkg:main"}}
    wheel = make_wheel(
        tmp_path, "pkg", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64", entry_points=eps
    )
    with pytest.raises(CwbError, match="name") as info:  # the reader or convert refuses it
        wheel_to_conda(wheel, tmp_path / "out")
    assert str(info.value).startswith(str(wheel))
    assert _files(tmp_path / "out") == []


def test_data_into_info_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path,
        "evil",
        "1.0",
        files={"evil/__init__.py": b"", "evil-1.0.data/data/info/index.json": b"{}"},
    )
    with pytest.raises(UnsafePath, match="info/"):
        wheel_to_conda(wheel, tmp_path / "out")
    assert _files(tmp_path / "out") == []


def test_hash_digests_in_paths_json_are_sha256_of_payload(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    """A direct recomputation, independent of the RECORD-derived digests convert starts from."""
    result = wheel_to_conda(fixtures_dir / "wheels/idna-3.10-py3-none-any.whl", tmp_path)
    contents = read_conda(result.path)
    for row in contents.json("paths.json")["paths"]:
        data = contents.payload[row["_path"]].data
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert base64.urlsafe_b64encode(bytes.fromhex(row["sha256"])).rstrip(b"=")
    assert json.loads(contents.info["index.json"])["name"] == "idna"


# --- real PyPI wheels of the kinds the fixtures lack ---------------------------------------


def test_pypi_universal2_wheel(pypi_wheel: Callable[..., Path], tmp_path: Path) -> None:
    wheel = pypi_wheel("msgpack==1.1.0", platform="macosx_10_9_universal2", python_version="3.11")
    assert wheel.name.endswith("universal2.whl")
    results = wheel_to_conda_all(wheel, tmp_path, zstd_level=3)
    assert [r.subdir for r in results] == ["osx-64", "osx-arm64"]
    for result, floor in zip(results, ("__osx >=10.9", "__osx >=11.0"), strict=True):
        assert floor in result.index["depends"]
        check_package(wheel, read_conda(result.path), dict(result.index))


def test_pypi_free_threaded_wheel(tmp_path: Path, pypi_wheel: Callable[..., Path]) -> None:
    wheel = pypi_wheel("markupsafe==3.0.2", platform="manylinux_2_17_x86_64",
                       python_version="3.13", abi="cp313t")
    assert "cp313t" in wheel.name
    result = wheel_to_conda(wheel, tmp_path, zstd_level=3)
    assert result.index["depends"][:2] == ["python >=3.13,<3.14.0a0", "python_abi 3.13.* *_cp313t"]
    contents = read_conda(result.path)
    check_package(wheel, contents, dict(result.index))
    assert any(
        p.startswith("lib/python3.13t/site-packages/markupsafe/") and p.endswith(".so")
        for p in contents.payload
    )


def test_record_paths_with_quotes_read_back(tmp_path: Path) -> None:
    """The rewritten RECORD quotes paths as csv does (quotes doubled): each row names a file."""
    from conda_wheel_bridge.distinfo import parse_record

    files = {'odd/__init__.py': b"", 'odd/a"b.py': b"x = 1\n"}
    wheel = make_wheel(tmp_path, "odd", "1.0", files=files)
    _, contents = _convert(wheel, tmp_path / "out")
    record = contents.payload["site-packages/odd-1.0.dist-info/RECORD"].data
    rows = parse_record("RECORD", record)
    assert 'odd/a"b.py' in rows
