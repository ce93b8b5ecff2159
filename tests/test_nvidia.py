"""The NVIDIA provider's rules: known values, sm_arch ranges, supported values per host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conda_wheel_bridge.errors import MappingError
from conda_wheel_bridge.mapping import nvidia


def test_cuda_values_are_the_providers() -> None:
    values = nvidia.cuda_values()
    assert values[:3] == ("15.20", "15.19", "15.18")
    assert values[-3:] == ("11.1", "11.0", "11")
    assert len(values) == 5 * 22


@pytest.mark.parametrize(
    ("values", "spec"),
    [
        (["90_real"], ">=9.0,<10"),
        (["86_real", "80_real"], ">=8.0,<9"),
        (["90_virtual"], ">=9.0,<10"),
        (["80_real", "90_real", "100_real", "120_real"], ">=8.0,<11|>=12.0,<13"),
        (["86_real", "90_real"], ">=8.6,<10"),
        (["86_virtual", "75_real"], ">=7.5,<8"),
    ],
)
def test_sm_ranges(values: list[str], spec: str) -> None:
    assert nvidia.sm_ranges(values) == spec


@pytest.mark.parametrize("value", ["90", "90a_real", "130_real", "40_real", "90_ptx"])
def test_unknown_sm_values(value: str) -> None:
    with pytest.raises(MappingError, match="not an SM architecture"):
        nvidia.parse_sm(value)


def test_supported_on_the_h200(fixtures_dir: Path) -> None:
    fixture = json.loads((fixtures_dir / "hosts" / "nvidia-h200.json").read_text())
    ours = nvidia.supported(fixture["__cuda (conda formula)"], (9, 0))
    assert {k: list(v) for k, v in ours.items()} == fixture["nvidia_provider_supported"]


def test_supported_edges() -> None:
    assert nvidia.supported("not a version", (9, 0)) == {}
    assert nvidia.supported("12.4", (8, 6))["sm_arch"] == (
        "86_real",
        "85_real",
        "84_real",
        "83_real",
        "82_real",
        "81_real",
        "80_real",
        "80_virtual",
    )
    assert nvidia.supported("12.4", None).keys() == {
        "cuda_version_lower_bound",
        "cuda_version_upper_bound",
    }
