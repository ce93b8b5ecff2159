"""``cwb map``: each kind of THING both ways, the loss stated, and one clear error otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

Cwb = Callable[..., tuple[int, str, str]]


def _one(cwb: Cwb, thing: str) -> dict[str, Any]:
    """The one JSON result ``cwb map THING --json`` prints (JSON, so ``Any`` values)."""
    rc, out, err = cwb("map", thing, "--json")
    assert rc == 0, err
    (result,) = json.loads(out)
    assert result["input"] == thing
    assert result["loss"], "every mapping states its loss"
    return dict(result)


@pytest.mark.parametrize(
    ("thing", "props"),
    [
        ("__cuda>=12.8", ["nvidia :: cuda_version_lower_bound :: 12.8"]),
        ("__cuda <13", ["nvidia :: cuda_version_upper_bound :: 13"]),
        ("__archspec 1 icelake", ["x86_64 :: level :: v4"]),
        ("__archspec=1=neoverse_v1", ["aarch64 :: version :: 8.4a"]),
        ("_x86_64-microarch-level >=3", ["x86_64 :: level :: v3"]),
        ("__cuda_arch >=9.0,<10", ["nvidia :: sm_arch :: 90_virtual"]),
    ],
)
def test_virtual_package_to_properties(cwb: Cwb, thing: str, props: list[str]) -> None:
    result = _one(cwb, thing)
    assert result["kind"] == "virtual-package"
    assert result["variant_properties"] == props


@pytest.mark.parametrize(
    ("thing", "conda"),
    [
        ("nvidia :: sm_arch :: 90_real", ["__cuda_arch >=9.0,<10"]),
        ("nvidia :: cuda_version_lower_bound :: 12.8", ["__cuda >=12.8"]),
        ("x86_64 :: level :: v2", ["_x86_64-microarch-level >=2"]),
        ("blas_lapack :: library :: mkl", ["libblas * *_mkl"]),
    ],
)
def test_property_to_conda(cwb: Cwb, thing: str, conda: list[str]) -> None:
    result = _one(cwb, thing)
    assert result["kind"] == "variant-property"
    assert result["conda"] == conda


def test_sm_arch_loss_is_spelled_out(cwb: Cwb) -> None:
    result = _one(cwb, "nvidia :: sm_arch :: 90_real")
    assert "HIGHEST" in str(result["loss"]) and "LOWEST" in str(result["loss"])


def test_platform_virtual_package_gives_wheel_tags(cwb: Cwb) -> None:
    result = _one(cwb, "__glibc>=2.28")
    assert result["wheel_tags"] == ["py3-none-manylinux_2_28_x86_64"]
    result = _one(cwb, "__osx >=11.0")
    assert result["wheel_tags"] == ["py3-none-macosx_11_0_arm64"]


@pytest.mark.parametrize(
    ("thing", "subdir", "floor"),
    [
        ("manylinux_2_28_x86_64", "linux-64", "__glibc >=2.28"),
        ("manylinux2014_aarch64", "linux-aarch64", "__glibc >=2.17"),
        ("cp311-cp311-macosx_11_0_arm64", "osx-arm64", "__osx >=11.0"),
        ("win_amd64", "win-64", "__win"),
        ("musllinux_1_2_x86_64", "linux-64", "__musl >=1.2"),
    ],
)
def test_platform_tags(cwb: Cwb, thing: str, subdir: str, floor: str) -> None:
    result = _one(cwb, thing)
    assert result["kind"] == "platform-tag"
    (target,) = result["targets"]
    assert target["subdir"] == subdir
    assert floor in target["depends"]


def test_names_and_depurls(cwb: Cwb) -> None:
    result = _one(cwb, "torch")
    assert result["kind"] == "package-name" and result["conda"] == ["pytorch"]
    result = _one(cwb, "libzlib")
    assert result["depurl"] == "dep:generic/zlib" and result["pypi"] is None
    result = _one(cwb, "dep:generic/zlib")
    assert result["conda"] == ["zlib"]


def test_requirements_and_conda_specs(cwb: Cwb) -> None:
    result = _one(cwb, "torch>=2.1; python_version<'3.12'")
    assert result["kind"] == "requirement"
    assert result["conda"] == ['pytorch >=2.1[when="python<3.12dev0"]']
    result = _one(cwb, "numpy 2.1.*")
    assert result["kind"] == "conda-spec" and result["requires_dist"] == ["numpy==2.1.*"]
    result = _one(cwb, "libzlib 1.3.*")
    assert result["requires_dist"] == []
    assert result["external"] == ["dep:generic/zlib@>=1.3.dev0,<1.4.dev0"]


def test_requirement_behind_an_extra_shows_its_extra_depends(cwb: Cwb) -> None:
    result = _one(cwb, 'pytest>=8; extra == "test"')
    assert result["conda"] == ["pytest >=8  (extra_depends['test'])"]


def test_text_output(cwb: Cwb) -> None:
    rc, out, _ = cwb("map", "__cuda>=12.8", "nvidia :: sm_arch :: 80_real")
    assert rc == 0
    assert "  -> variant property: nvidia :: cuda_version_lower_bound :: 12.8" in out
    assert "  -> conda depends: __cuda_arch >=8.0,<9" in out
    assert out.count("  loss: ") >= 2


@pytest.mark.parametrize(
    ("thing", "reason"),
    [
        ("__foo >=1", "no variant property counterpart"),
        ("amd :: gfx_arch :: gfx1030", "no conda counterpart"),
        ("nvidia :: sm_arch", "expected 'namespace :: feature :: value'"),
        ("cp311-cp311-freebsd_13_x86_64", "cp311-cp311-freebsd_13_x86_64"),
        ("numpy!", "not a variant property, conda spec, wheel tag, DepURL or name"),
    ],
)
def test_no_counterpart_is_one_line_error(cwb: Cwb, thing: str, reason: str) -> None:
    rc, out, err = cwb("map", "__cuda>=12", thing)
    assert rc == 1
    assert out == ""  # all or nothing
    assert err.count("\n") == 1 and err.startswith(f"cwb: error: {thing}")
    assert reason in err


def test_blas_mutex_specs_map_to_the_blas_variant_property(cwb: Cwb) -> None:
    result = _one(cwb, "libblas * *_mkl")
    assert result["variant_properties"] == ["blas_lapack :: library :: mkl"]
    result = _one(cwb, "libblas * *_openblas")
    assert result["external"] == ["dep:generic/openblas"]
    assert result["variant_properties"] == ["blas_lapack :: library :: openblas"]


def test_abi3_tag_states_its_loss(cwb: Cwb) -> None:
    result = _one(cwb, "cp39-abi3-macosx_11_0_arm64")
    assert any("PyPy" in loss for loss in result["loss"])
