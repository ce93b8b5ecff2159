"""Host detection: virtual packages as conda computes them (overrides included), compared with the
real H200 host's readings and with py-rattler's detection; supported properties compared with the
real NVIDIA variant provider (run from its published wheel)."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rattler

from conda_wheel_bridge import host
from conda_wheel_bridge.errors import CwbError
from conda_wheel_bridge.model import VirtualPackage

H200_WHEEL = "wheels/variants/nvidia_variant_provider-0.0.2-py3-none-any.whl"

LINUX = host.HostReadings(
    system="Linux",
    machine="x86_64",
    kernel_release="6.8.0-45-generic",
    libc=("glibc", "2.35"),
    microarchitecture="haswell",
)


@pytest.fixture(scope="module")
def h200(fixtures_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((fixtures_dir / "hosts" / "nvidia-h200.json").read_text())
    return data


def _compute_capability(text: str) -> tuple[int, int]:
    """``"9.0"`` as the fixture records it, as the (major, minor) pair CudaDevice holds."""
    major, minor = text.split(".")
    return int(major), int(minor)


def _h200_readings(h200: dict[str, Any]) -> host.HostReadings:
    """The raw readings of the real H200 host, as its fixture records them."""
    linux = next(v for v in h200["rattler_generic"] if v.startswith("__linux="))
    glibc = next(v for v in h200["rattler_generic"] if v.startswith("__glibc="))
    archspec = next(v for v in h200["rattler_generic"] if v.startswith("__archspec="))
    return host.HostReadings(
        system="Linux",
        machine="x86_64",
        kernel_release=linux.split("=")[1] + "-fc-gpu",
        libc=("glibc", glibc.split("=")[1]),
        microarchitecture=archspec.split("=")[2],
        cuda_driver_version=h200["cuDriverGetVersion"],
        cuda_devices=tuple(
            host.CudaDevice(d["name"], _compute_capability(d["cc"]))
            for d in h200["devices"]
        ),
    )


def test_h200_readings_give_py_rattlers_virtual_packages(h200: dict[str, Any]) -> None:
    packages = host.virtual_packages(_h200_readings(h200), env={})
    ours = {p.name: p for p in packages}
    theirs = {}
    for text in h200["rattler_generic"]:
        name, version, build = text.split("=")
        theirs[name] = VirtualPackage(name, version, build)
    assert set(ours) == set(theirs)
    assert ours == theirs  # names, versions and builds (__cuda_arch build "0": CEP 46)
    assert ours["__cuda"].version == h200["__cuda (conda formula)"]


def test_h200_readings_give_the_nvidia_providers_values(h200: dict[str, Any]) -> None:
    supported = host.supported_properties(_h200_readings(h200), env={})
    expected = h200["nvidia_provider_supported"]
    assert {k: list(v) for k, v in supported["nvidia"].items()} == expected
    assert supported["x86_64"]["level"] == ("v4", "v3", "v2", "v1")
    assert supported["x86_64"]["avx512f"] == ("on",)


@pytest.mark.parametrize(
    ("env", "name", "expected"),
    [
        ({"CONDA_OVERRIDE_GLIBC": "2.17"}, "__glibc", VirtualPackage("__glibc", "2.17")),
        ({"CONDA_OVERRIDE_GLIBC": ""}, "__glibc", None),
        ({"CONDA_OVERRIDE_LINUX": "5.4"}, "__linux", VirtualPackage("__linux", "5.4")),
        ({"CONDA_OVERRIDE_LINUX": ""}, "__linux", VirtualPackage("__linux", "0")),
        (
            {"CONDA_OVERRIDE_ARCHSPEC": "zen4"},
            "__archspec",
            VirtualPackage("__archspec", "1", "zen4"),
        ),
        ({"CONDA_OVERRIDE_ARCHSPEC": ""}, "__archspec", None),
        ({"CONDA_OVERRIDE_CUDA": "12.8"}, "__cuda", VirtualPackage("__cuda", "12.8")),
        ({"CONDA_OVERRIDE_CUDA": " 12.4 "}, "__cuda", VirtualPackage("__cuda", "12.4")),
        ({"CONDA_OVERRIDE_CUDA": ""}, "__cuda", None),
        ({"CONDA_OVERRIDE_UNIX": ""}, "__unix", VirtualPackage("__unix", "0")),
        (
            {"CONDA_OVERRIDE_CUDA": "12.8", "CONDA_OVERRIDE_CUDA_ARCH": "8.6"},
            "__cuda_arch",
            VirtualPackage("__cuda_arch", "8.6", "0"),
        ),
        ({"CONDA_OVERRIDE_CUDA_ARCH": "8.6"}, "__cuda_arch", None),  # needs __cuda (CEP 46)
    ],
)
def test_overrides(env: dict[str, str], name: str, expected: VirtualPackage | None) -> None:
    packages = {p.name: p for p in host.virtual_packages(LINUX, env)}
    assert packages.get(name) == expected


def test_empty_cuda_override_removes_a_detected_driver(h200: dict[str, Any]) -> None:
    packages = {
        p.name for p in host.virtual_packages(_h200_readings(h200), {"CONDA_OVERRIDE_CUDA": ""})
    }
    assert "__cuda" not in packages and "__cuda_arch" not in packages
    supported = host.supported_properties(_h200_readings(h200), {"CONDA_OVERRIDE_CUDA": ""})
    assert "nvidia" not in supported


def test_lowest_gpu_names_cuda_arch_highest_feeds_the_provider() -> None:
    readings = host.HostReadings(
        system="Linux",
        machine="x86_64",
        libc=("glibc", "2.35"),
        cuda_driver_version=12080,
        cuda_devices=(
            host.CudaDevice("NVIDIA A100-SXM4-80GB", (8, 0)),
            host.CudaDevice("NVIDIA H100 80GB HBM3", (9, 0)),
        ),
    )
    arch = {p.name: p for p in host.virtual_packages(readings, {})}["__cuda_arch"]
    assert (arch.version, arch.build) == ("8.0", "0")
    assert host.supported_properties(readings, {})["nvidia"]["sm_arch"] == ("90_real", "90_virtual")


def test_other_platforms() -> None:
    mac = host.HostReadings(
        system="Darwin", machine="arm64", mac_version="14.5.1", microarchitecture="m2"
    )
    assert host.native_subdir(mac) == "osx-arm64"
    assert [str(p) for p in host.virtual_packages(mac, {})] == [
        "__archspec=1=m2",
        "__osx=14.5=0",
        "__unix=0=0",
    ]
    assert host.supported_properties(mac, {})["aarch64"]["version"][0] == "8.5a"
    win = host.HostReadings(
        system="Windows", machine="AMD64", win_version="10.0.22631", microarchitecture="zen3"
    )
    assert host.native_subdir(win) == "win-64"
    assert [str(p) for p in host.virtual_packages(win, {})] == [
        "__archspec=1=zen3",
        "__win=10.0.22631=0",
    ]
    # a cross-target solve from Linux for osx-64: CEP 30 fallbacks, no detected CPU
    cross = host.virtual_packages(LINUX, {}, subdir="osx-64")
    assert [str(p) for p in cross] == ["__archspec=1=x86_64", "__osx=0=0", "__unix=0=0"]


def test_cuda_arch_override_must_be_a_compute_capability() -> None:
    env = {"CONDA_OVERRIDE_CUDA": "12.8", "CONDA_OVERRIDE_CUDA_ARCH": "9.0a"}
    arch = {p.name: p for p in host.virtual_packages(LINUX, env)}["__cuda_arch"]
    assert (arch.version, arch.build) == ("9.0", "0")  # CEP 46: letters excluded
    for spelling in ("90", "sm_90a"):  # the spellings the conda plugin accepts, read the same
        env["CONDA_OVERRIDE_CUDA_ARCH"] = spelling
        arch = {p.name: p for p in host.virtual_packages(LINUX, env)}["__cuda_arch"]
        assert arch.version == "9.0"
    env["CONDA_OVERRIDE_CUDA_ARCH"] = "hopper"
    with pytest.raises(CwbError, match="CONDA_OVERRIDE_CUDA_ARCH: 'hopper' is not a compute"):
        host.virtual_packages(LINUX, env)


def test_nvidia_rule_outside_the_providers_range() -> None:
    assert host.nvidia_supported("10.2", (7, 0)) == {}
    assert host.nvidia_supported("16.0", (9, 0)) == {}
    assert "sm_arch" not in host.nvidia_supported("12.0", (3, 7))
    assert "cuda_version_upper_bound" not in host.nvidia_supported("15.20", None)


@pytest.fixture
def real_provider(fixtures_dir: Path, tmp_path: Path) -> Iterator[Any]:
    """The published NVIDIA variant provider, unpacked from its wheel and imported."""
    with zipfile.ZipFile(fixtures_dir / H200_WHEEL) as wheel:
        wheel.extractall(tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        from nvidia_variant_provider.plugin import NvidiaVariantPlugin

        yield NvidiaVariantPlugin
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("nvidia_variant_provider")]:
            del sys.modules[name]


@pytest.mark.parametrize(
    ("driver", "sm"),
    [
        ("11.0", "5.0"),
        ("11.8", "8.6"),
        ("12.0", "7.5"),
        ("12.8", "9.0"),
        ("12.9", "12.0"),
        ("13.0", "9.0"),
        ("13.1", "10.3"),
        ("15.20", "12.1"),
    ],
)
def test_matches_the_real_nvidia_provider(
    real_provider: Any, monkeypatch: pytest.MonkeyPatch, driver: str, sm: str
) -> None:
    monkeypatch.setenv("NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION", driver)
    monkeypatch.setenv("NV_VARIANT_PROVIDER_FORCE_SM_ARCH", sm)
    for method in ("umd_version", "get_sm_architectures", "get_supported_configs"):
        getattr(real_provider, method).cache_clear()
    theirs = {c.name: tuple(c.values) for c in real_provider.get_supported_configs()}
    # driven by the provider's own variables ...
    assert host.supported_properties(LINUX, dict(os.environ))["nvidia"] == theirs
    # ... and by conda's overrides
    env = {"CONDA_OVERRIDE_CUDA": driver, "CONDA_OVERRIDE_CUDA_ARCH": sm}
    assert host.supported_properties(LINUX, env)["nvidia"] == theirs


def test_this_host_agrees_with_py_rattler(monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = {
        "CONDA_OVERRIDE_GLIBC": "2.28",
        "CONDA_OVERRIDE_ARCHSPEC": "skylake",
        "CONDA_OVERRIDE_CUDA": "12.4",
    }
    for env in ({}, overrides):
        for key in ("CONDA_OVERRIDE_GLIBC", "CONDA_OVERRIDE_ARCHSPEC", "CONDA_OVERRIDE_CUDA"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        detected = rattler.VirtualPackage.detect(rattler.VirtualPackageOverrides.from_env())
        theirs = {}
        for package in detected:
            generic = package.into_generic()
            theirs[generic.name.normalized] = (str(generic.version), str(generic.build_string))
        report = host.detect(env=dict(os.environ), cuda_timeout=10)
        ours = {p.name: (p.version, p.build) for p in report.virtual_packages}
        for name in ("__unix", "__linux", "__glibc", "__archspec", "__cuda", "__osx", "__win"):
            assert ours.get(name) == theirs.get(name), (name, env)


def test_report_json_shape() -> None:
    readings = host.HostReadings(
        system="Linux", machine="aarch64", libc=("glibc", "2.31"), microarchitecture="neoverse_n1"
    )
    data = host.detect(readings, env={}).as_json()
    assert data["subdir"] == "linux-aarch64"
    assert {"name": "__archspec", "version": "1", "build": "neoverse_n1"} in data[
        "virtual_packages"
    ]
    assert data["variant_properties"]["aarch64"]["version"][0] == "8.2a"
    assert data["readings"]["microarchitecture"] == "neoverse_n1"


def test_musl_host_has_no_glibc() -> None:
    musl = host.HostReadings(system="Linux", machine="x86_64", libc=("musl", "1.2"))
    names = {p.name for p in host.virtual_packages(musl, {})}
    assert "__glibc" not in names and "__linux" in names
    unread = host.HostReadings(system="Linux", machine="x86_64")
    glibc = {p.name: p for p in host.virtual_packages(unread, {})}["__glibc"]
    assert glibc.version == "2.17"  # CEP 30's default when it cannot be read
