"""PyPI <-> conda names: shipped tables on real pairs, the overlay on top, conflicts reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conda_wheel_bridge.errors import BadMetadata, NameConflict
from conda_wheel_bridge.mapping.names import NameMap, load_name_map


@pytest.fixture(scope="module")
def names() -> NameMap:
    return load_name_map()


@pytest.mark.parametrize(
    ("pypi", "conda"),
    [
        ("torch", "pytorch"),
        ("PyYAML", "pyyaml"),
        ("msgpack", "msgpack-python"),
        ("tables", "pytables"),
        ("typing-extensions", "typing_extensions"),
        ("typing_extensions", "typing_extensions"),
        ("apache-airflow", "airflow"),
        ("Django", "django"),
        ("zope.interface", "zope.interface"),
        ("a-name-no-table-knows", "a-name-no-table-knows"),
        ("Weird__Name.x", "weird-name-x"),
        # no grayskull entry: the one conda-forge package that holds the dist (parselmouth)
        ("adam-core", "adam_core"),
        ("ccxt", "ccxt-py"),
        ("bem", "braggedgemodeling"),
    ],
)
def test_pypi_to_conda_real_pairs(names: NameMap, pypi: str, conda: str) -> None:
    assert names.pypi_to_conda(pypi) == conda


@pytest.mark.parametrize(
    ("conda", "pypi"),
    [
        ("pytorch", "torch"),
        ("pyyaml", "pyyaml"),
        (
            "msgpack-python",
            "msgpack",
        ),  # parselmouth lists two dists; grayskull's claim picks msgpack
        ("pytables", "tables"),
        ("airflow", "apache-airflow"),
        ("bleach", "bleach"),  # bundles six and webencodings; its own name wins
        ("cyipopt", "cyipopt"),
        ("numpy", "numpy"),
        ("my-private-package", "my-private-package"),  # unknown to every table: fallback
    ],
)
def test_conda_to_pypi_real_pairs(names: NameMap, conda: str, pypi: str) -> None:
    assert names.conda_to_pypi(conda) == pypi


@pytest.mark.parametrize(
    "conda", ["libzlib", "openssl", "python", "zstd", "_openmp_mutex", "__cuda", "__glibc"]
)
def test_non_python_conda_packages_have_no_pypi_name(names: NameMap, conda: str) -> None:
    assert names.conda_to_pypi(conda) is None


def test_ambiguous_conda_name_raises_and_names_candidates(names: NameMap) -> None:
    with pytest.raises(NameConflict) as info:
        names.conda_to_pypi("py-opencv")
    assert "opencv-python" in str(info.value) and "opencv-python-headless" in str(info.value)
    assert str(info.value).startswith("py-opencv: ")


def test_pypi_name_held_by_several_conda_packages_raises(names: NameMap) -> None:
    with pytest.raises(NameConflict) as info:
        names.pypi_to_conda("alchemiscale")
    assert "alchemiscale-client" in str(info.value) and "alchemiscale-server" in str(info.value)


def test_conflicts_are_listed(names: NameMap) -> None:
    found = {(c.side, c.name): c for c in names.conflicts()}
    assert ("conda", "py-opencv") in found
    assert found[("conda", "py-opencv")].candidates == ("opencv-python", "opencv-python-headless")
    # grayskull sends PyPI opencv-python to conda "opencv", which parselmouth says holds no dist
    assert ("pypi", "opencv-python") in found
    assert found[("pypi", "alchemiscale")].reason == "held by several conda packages"
    # resolved ones are not reported
    assert ("conda", "msgpack-python") not in found and ("conda", "cyipopt") not in found


def _overlay(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "names.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_overlay_wins_both_ways(tmp_path: Path) -> None:
    path = _overlay(
        tmp_path,
        {
            "pypi_to_conda": {
                "torch": "pytorch-cpu",
                "My_Pkg": "my-conda-pkg",
                "alchemiscale": "alchemiscale-client",
            },
            "conda_to_pypi": {"py-opencv": "opencv-python-headless", "pytorch": None},
        },
    )
    names = load_name_map(path)
    assert names.pypi_to_conda("torch") == "pytorch-cpu"
    assert names.pypi_to_conda("my-pkg") == "my-conda-pkg"
    assert names.conda_to_pypi("py-opencv") == "opencv-python-headless"
    assert names.conda_to_pypi("pytorch") is None
    assert names.conda_to_pypi("my-conda-pkg") == "my-pkg"  # overlay pairs count in reverse
    assert names.pypi_to_conda("alchemiscale") == "alchemiscale-client"
    assert ("conda", "py-opencv") not in {(c.side, c.name) for c in names.conflicts()}
    # the shipped layer is untouched for everything else
    assert names.pypi_to_conda("msgpack") == "msgpack-python"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not JSON"),
        ('["a"]', "must be an object"),
        ('{"pypi": {}}', "must be an object"),
        ('{"pypi_to_conda": {"a": 3}}', "must be a conda package name"),
        ('{"conda_to_pypi": {"a": ""}}', "must be a PyPI name or null"),
    ],
)
def test_bad_overlay_is_one_clear_error(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BadMetadata) as info:
        load_name_map(path)
    assert str(info.value).startswith(f"{path}: ") and reason in str(info.value)


def test_missing_overlay_file(tmp_path: Path) -> None:
    with pytest.raises(BadMetadata, match="cannot read name map"):
        load_name_map(tmp_path / "absent.json")
