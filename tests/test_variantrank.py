"""Ranking as build numbers: priorities order the digits, the wheel build tag stays below."""

from __future__ import annotations

import pytest

from conda_wheel_bridge.errors import MappingError
from conda_wheel_bridge.mapping import variants
from conda_wheel_bridge.mapping.variantrank import combined_build_number, variant_build_number
from conda_wheel_bridge.model import VariantProperty


def _prop(text: str) -> VariantProperty:
    return variants.parse_property(text)


def test_feature_priorities_change_the_order() -> None:
    base = dict(namespace_priorities=("nvidia",))
    low = (
        _prop("nvidia :: cuda_version_lower_bound :: 13.0"),
        _prop("nvidia :: sm_arch :: 80_real"),
    )
    high = (
        _prop("nvidia :: cuda_version_lower_bound :: 12.0"),
        _prop("nvidia :: sm_arch :: 90_real"),
    )
    a = variants.VariantDescription("a", low, **base)  # type: ignore[arg-type]
    b = variants.VariantDescription("b", high, **base)  # type: ignore[arg-type]
    assert variant_build_number(a) > variant_build_number(b)
    first_sm = {"feature_priorities": {"nvidia": ("sm_arch",)}, **base}
    a = variants.VariantDescription("a", low, **first_sm)  # type: ignore[arg-type]
    b = variants.VariantDescription("b", high, **first_sm)  # type: ignore[arg-type]
    assert variant_build_number(a) < variant_build_number(b)


def test_combined_build_number_keeps_variant_order() -> None:
    # a rebuild (wheel build tag) of a worse variant never overtakes a better variant
    worse, better = 114, 115
    assert combined_build_number(worse, 999) < combined_build_number(better, 0)
    assert combined_build_number(better, 2) > combined_build_number(better, 1)
    with pytest.raises(MappingError, match="do not fit"):
        combined_build_number(better, 1000)


def test_null_is_zero_and_any_known_property_ranks_above() -> None:
    null = variants.VariantDescription("null", (), namespace_priorities=("x86_64",))
    v1 = variants.VariantDescription(
        "v1", (_prop("x86_64 :: level :: v1"),), namespace_priorities=("x86_64",)
    )
    flag = variants.VariantDescription(
        "sse", (_prop("x86_64 :: sse :: on"),), namespace_priorities=("x86_64",)
    )
    assert variant_build_number(null) == 0
    assert 0 < variant_build_number(flag) < variant_build_number(v1)


def test_namespace_priority_is_the_most_significant_digit() -> None:
    props = (_prop("x86_64 :: level :: v2"), _prop("blas_lapack :: library :: mkl"))
    props_b = (_prop("x86_64 :: level :: v3"), _prop("blas_lapack :: library :: openblas"))
    x86_first = ("x86_64", "blas_lapack")
    a = variants.VariantDescription("a", props, namespace_priorities=x86_first)
    b = variants.VariantDescription("b", props_b, namespace_priorities=x86_first)
    assert variant_build_number(b) > variant_build_number(a)
    blas_first = ("blas_lapack", "x86_64")
    a = variants.VariantDescription("a", props, namespace_priorities=blas_first)
    b = variants.VariantDescription("b", props_b, namespace_priorities=blas_first)
    assert variant_build_number(b) > variant_build_number(a)  # openblas ranks above mkl


def test_values_its_provider_does_not_rank_are_refused() -> None:
    desc = variants.VariantDescription(
        "x", (_prop("x86_64 :: level :: v9"),), namespace_priorities=("x86_64",)
    )
    with pytest.raises(MappingError, match="not a value its provider ranks"):
        variant_build_number(desc)
