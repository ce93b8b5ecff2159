"""``cwb inspect``: wheels and conda packages shown in both vocabularies, as text and JSON."""

from __future__ import annotations

import bz2
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conda_wheel_bridge import condasource, to_wheel
from conda_wheel_bridge.condasource import (
    CondaPackage,
    PayloadMember,
    iter_payload,
    read_conda_info,
)
from conda_wheel_bridge.errors import BadArchive
from conda_wheel_bridge.inspect import format_text, inspect_artifact

Cwb = Callable[..., tuple[int, str, str]]


def test_platform_wheel_json_has_both_sides(fixtures_dir: Path, cwb: Cwb) -> None:
    wheel = (fixtures_dir / "wheels" /
             "msgpack-1.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    rc, out, err = cwb("inspect", wheel, "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["kind"] == "wheel" and report["file"] == wheel.name
    assert report["wheel"]["name"] == "msgpack" and report["wheel"]["version"] == "1.1.0"
    assert "cp311-cp311-manylinux_2_17_x86_64" in report["wheel"]["tags"]
    (conda,) = report["conda"]
    assert conda["name"] == "msgpack-python"  # the PyPI name through the shipped name map
    assert conda["subdir"] == "linux-64"
    assert "__glibc >=2.17" in conda["depends"]
    assert conda["site_packages"] == "lib/python3.11/site-packages"


def test_pure_wheel_text(fixtures_dir: Path, cwb: Cwb) -> None:
    rc, out, _ = cwb("inspect", fixtures_dir / "wheels/requests-2.32.3-py3-none-any.whl")
    assert rc == 0
    assert out.splitlines()[0] == "requests-2.32.3-py3-none-any.whl  (wheel)"
    assert "conda view:" in out and "noarch" in out
    assert any(line.split() == ["subdir", "noarch"] for line in out.splitlines())
    assert "charset_normalizer" in out.replace("-", "_")  # Requires-Dist shown


def test_musllinux_wheel_reports_the_conda_side_honestly(fixtures_dir: Path) -> None:
    wheel = fixtures_dir / "wheels/msgpack-1.1.0-cp311-cp311-musllinux_1_2_x86_64.whl"
    report = inspect_artifact(wheel)
    assert report["wheel"]["name"] == "msgpack"
    assert "musllinux" in report["conda"]["error"]  # refused, not guessed


def test_conda_package_with_python_text_and_json(fixtures_dir: Path, cwb: Cwb) -> None:
    package = fixtures_dir / "conda/noarch/moto-1.3.7-py_0.tar.bz2"
    rc, out, _ = cwb("inspect", package)
    assert rc == 0
    assert out.splitlines()[0] == "moto-1.3.7-py_0.tar.bz2  (conda package)"
    assert "wheel view:" in out and "py3-none-any" in out
    rc, out, _ = cwb("inspect", package, "--json")
    report = json.loads(out)
    assert report["conda"]["noarch"] == "python"
    assert report["conda"]["entry_points"] == ["moto_server = moto.server:main"]
    assert report["conda"]["python_distribution"] == "site-packages/moto-1.3.7.dist-info"
    assert report["wheel"]["convertible"] is True
    # the tags of the wheel a conversion writes: moto carries its WHEEL file (py2.py3)
    assert report["wheel"]["tags"] == ["py2-none-any", "py3-none-any"]
    assert any(r.startswith("boto3") for r in report["wheel"]["requires_dist"])


def test_wheel_view_tags_are_the_converted_wheels(fixtures_dir: Path, tmp_path: Path) -> None:
    from conda_wheel_bridge.to_wheel import conda_to_wheel
    from conda_wheel_bridge.wheelname import parse_wheel_filename

    for package in ("noarch/moto-1.3.7-py_0.tar.bz2", "osx-arm64/libzlib-1.3.1-h8359307_2.conda"):
        path = fixtures_dir / "conda" / package
        shown = inspect_artifact(path)["wheel"]["tags"]
        written = conda_to_wheel(path, tmp_path / package, metadata_only=True)  # NAME.whl.metadata
        wheel_name = written.name.removesuffix(".metadata")
        assert shown == sorted(str(t) for t in parse_wheel_filename(wheel_name).tags)


def test_conda_package_without_python_and_with_virtual_depends(fixtures_dir: Path) -> None:
    report = inspect_artifact(fixtures_dir / "conda/linux-64/cuda-0.1.0-h055459d_0.conda")
    assert report["conda"]["depends"] == ["__cuda >=12"]
    wheel = report["wheel"]
    assert wheel["convertible"] is False and "metadata-only" in wheel["reason"]
    assert wheel["variant_properties"] == ["nvidia :: cuda_version_lower_bound :: 12"]
    text = format_text(report)
    assert "variant properties" in text


def test_osx_floor_becomes_a_macos_tag(fixtures_dir: Path) -> None:
    report = inspect_artifact(fixtures_dir / "conda/osx-arm64/libzlib-1.3.1-h8359307_2.conda")
    assert report["conda"]["depends"][0].startswith("__osx >=11.0")
    assert report["wheel"]["tags"] == ["py3-none-macosx_11_0_arm64"]


@pytest.mark.parametrize("name,content", [("notes.txt", b"hello"), ("x-1-0.conda", b"garbage")])
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, cwb: Cwb, name: str,
                                          content: bytes) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    rc, out, err = cwb("inspect", bad)
    assert rc == 1 and out == ""
    assert err.startswith(f"cwb: error: {bad}: ") and err.count("\n") == 1


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadArchive, match="no such file"):
        inspect_artifact(tmp_path / "nope.whl")


@pytest.mark.parametrize("fixture,reads", [
    ("noarch/moto-1.3.7-py_0.tar.bz2", []),  # one bzip2 pass gives info/ and the dist-info
    ("osx-64/mock-2.0.0-py37_1000.conda", ["info", "payload"]),  # the egg-info, for METADATA
    ("_nosubdir/symlink-test-1.0.0-0.conda", ["info", "payload"]),  # no listing: the layout
    ("linux-64/cuda-0.1.0-h055459d_0.conda", ["info"]),  # listed, no Python: info/ says it all
])
def test_conda_package_is_read_once_for_both_sides(
        fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch, fixture: str,
        reads: list[str]) -> None:
    seen: list[str] = []

    def counted_info(package: Any) -> CondaPackage:
        seen.append("info")
        return read_conda_info(package)

    def counted_payload(*args: Any, **kw: Any) -> Iterator[PayloadMember]:
        seen.append("payload")  # on the first member: a pass that is never started is no pass
        yield from iter_payload(*args, **kw)

    for module in (condasource, to_wheel):
        monkeypatch.setattr(module, "read_conda_info", counted_info)
        monkeypatch.setattr(module, "iter_payload", counted_payload)
    package = fixtures_dir / "conda" / fixture
    report = inspect_artifact(package)
    assert seen == reads
    assert report["wheel"]["name"] and report["wheel"]["version"] == report["conda"]["version"]


@pytest.mark.parametrize("fixture", [
    "noarch/moto-1.3.7-py_0.tar.bz2",  # dist-info; info/ after the payload
    "osx-64/mock-2.0.0-py37_1000.tar.bz2",  # egg-info
    "linux-64/bcj-cffi-0.5.1-py310h295c915_0.tar.bz2",  # dist-info under lib/python3.10
    "linux-64/xz-5.2.6-h166bdaf_0.tar.bz2",  # no Python
])
def test_tar_bz2_package_is_decompressed_once(
        fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch, fixture: str) -> None:
    package = fixtures_dir / "conda" / fixture
    expected = inspect_artifact(package)
    opened: list[str] = []

    class CountingBZ2File(bz2.BZ2File):  # bz2.open and tarfile's r:bz2 both make one
        def __init__(self, filename: Any, *args: Any, **kw: Any) -> None:
            opened.append(Path(str(filename)).name)
            super().__init__(filename, *args, **kw)

    monkeypatch.setattr(bz2, "BZ2File", CountingBZ2File)
    assert inspect_artifact(package) == expected
    assert opened == [package.name]
    assert "error" not in expected["wheel"]


def test_conda_side_error_is_the_converters_reason(fixtures_dir: Path) -> None:
    report = inspect_artifact(fixtures_dir / "conda/linux-fake/virtualdep-package-2.0-0.conda")
    assert report["conda"]["subdir"] == "linux-fake"
    assert report["wheel"] == {"error": "linux-fake: no wheel platform tag for this conda subdir"}
