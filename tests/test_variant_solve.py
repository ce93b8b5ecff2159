"""Variant wheels of one release → conda packages; py-rattler must pick, for each host, the variant
that variantlib's ranking picks (the hosts × chosen variant table of docs/variants.md).

The wheels carry variant.json written by variantlib itself; they are converted by
``conda_wheel_bridge.convert.wheel_to_conda``; the channel is indexed from the packages' own
info/index.json; py-rattler solves against it with the virtual packages that
``conda_wheel_bridge.host`` derives from ``CONDA_OVERRIDE_*``; variantlib ranks the same variants
with the properties the same host description supports. A real channel would take
``_x86_64-microarch-level`` from conda-forge; this one gets the per-level records from
``mapping.cpu.microarch_level_records`` (same rule, computed from archspec).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import rattler
import variantlib.api as variantlib_api
from conda_package_streaming import package_streaming as conda_streaming
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from variantlib.models.variant import VariantDescription as VLDesc
from variantlib.models.variant import VariantProperty as VLProp
from variantlib.models.variant_info import ProviderInfo, VariantInfo
from variantlib.resolver.lib import sort_and_filter_supported_variants

from conda_wheel_bridge import convert, host
from conda_wheel_bridge.mapping import cpu, variants
from conda_wheel_bridge.model import VariantProperty

from tests.support.wheelmaker import make_wheel

PACKAGE = "vpkg"
NAMESPACES = ["nvidia", "x86_64"]
VARIANTS: dict[str, list[tuple[str, str, str]]] = {
    "null": [],
    "x86_64_v2": [("x86_64", "level", "v2")],
    "x86_64_v3": [("x86_64", "level", "v3")],
    "x86_64_v4": [("x86_64", "level", "v4")],
    "cu128": [
        ("nvidia", "cuda_version_lower_bound", "12.8"),
        ("nvidia", "sm_arch", "80_real"),
        ("nvidia", "sm_arch", "90_real"),
    ],
    "cu130": [
        ("nvidia", "cuda_version_lower_bound", "13.0"),
        ("nvidia", "sm_arch", "90_real"),
        ("nvidia", "sm_arch", "100_real"),
        ("nvidia", "sm_arch", "120_real"),
    ],
}


def _env(archspec: str, cuda: str | None = None, cc: str | None = None) -> dict[str, str]:
    """A host described by CONDA_OVERRIDE_* alone (no CUDA driver when ``cuda`` is None)."""
    env = {"CONDA_OVERRIDE_ARCHSPEC": archspec, "CONDA_OVERRIDE_CUDA": cuda or ""}
    env["CONDA_OVERRIDE_CUDA_ARCH"] = cc if cuda and cc else ""
    return env


#: host → (its CONDA_OVERRIDE_* environment, the variant both worlds must pick); docs/variants.md
HOSTS: dict[str, tuple[dict[str, str], str]] = {
    "no GPU, core2 (x86-64 v1)": (_env("core2"), "null"),
    "no GPU, nehalem (v2)": (_env("nehalem"), "x86_64_v2"),
    "no GPU, haswell (v3)": (_env("haswell"), "x86_64_v3"),
    "no GPU, icelake (v4)": (_env("icelake"), "x86_64_v4"),
    "driver 12.8, cc 9.0, haswell": (_env("haswell", "12.8", "9.0"), "cu128"),
    "driver 13.0, cc 9.0, icelake (the H200 host)": (_env("icelake", "13.0", "9.0"), "cu130"),
    "driver 12.8, cc 8.6, haswell": (_env("haswell", "12.8", "8.6"), "cu128"),
    "driver 13.0, cc 8.0, icelake": (_env("icelake", "13.0", "8.0"), "cu128"),
    "driver 13.0, cc 12.0, zen4": (_env("zen4", "13.0", "12.0"), "cu130"),
    "driver 11.8, cc 9.0, haswell": (_env("haswell", "11.8", "9.0"), "x86_64_v3"),
    "driver 13.0, cc 7.5, nehalem": (_env("nehalem", "13.0", "7.5"), "x86_64_v2"),
}

#: what every simulated host has besides its overrides: Linux x86-64, glibc 2.28, no GPU
BASE = host.HostReadings(
    system="Linux", machine="x86_64", kernel_release="6.8.0", libc=("glibc", "2.28"),
    microarchitecture="x86_64",
)  # fmt: skip


def _variant_info() -> VariantInfo:
    return VariantInfo(
        namespace_priorities=list(NAMESPACES),
        providers={
            "nvidia": ProviderInfo(
                requires=["nvidia-variant-provider>=0.0.2,<1.0.0"],
                plugin_api="nvidia_variant_provider.plugin:NvidiaVariantPlugin",
            ),
            "x86_64": ProviderInfo(
                requires=["provider-variant-x86-64"],
                plugin_api="provider_variant_x86_64.plugin:X8664Plugin",
            ),
        },
    )


def _index(directory: Path, subdir: str, extra: Mapping[str, dict[str, Any]]) -> None:
    """repodata.json for ``directory/subdir`` from each package's own info/index.json."""
    packages_conda = {}
    for path in sorted((directory / subdir).glob("*.conda")):
        for tar, member in conda_streaming.stream_conda_info(str(path)):
            if member.name == "info/index.json":
                record = json.load(tar.extractfile(member))
        data = path.read_bytes()
        record.update(size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                      md5=hashlib.md5(data).hexdigest())  # fmt: skip
        packages_conda[path.name] = record
    (directory / subdir).mkdir(parents=True, exist_ok=True)
    repodata = {"info": {"subdir": subdir}, "packages": dict(extra),
                "packages.conda": packages_conda}  # fmt: skip
    (directory / subdir / "repodata.json").write_text(json.dumps(repodata))


def _stub(record: dict[str, Any]) -> dict[str, Any]:
    """A repodata-only record (never downloaded: this test solves, it does not install)."""
    return {**record, "size": 1, "md5": "0" * 32, "sha256": "0" * 64}


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    out = tmp_path_factory.mktemp("channel")
    info = _variant_info()
    for label, props in VARIANTS.items():
        desc = VLDesc([VLProp(*p) for p in props], label=label)
        variant_json = json.loads(variantlib_api.make_variant_dist_info(desc, info))
        wheel = make_wheel(wheels, PACKAGE, "1.0", tag="py3-none-manylinux_2_17_x86_64",
                           variant=variant_json, variant_label=label)  # fmt: skip
        convert.wheel_to_conda(wheel, out)
    python = {"name": "python", "version": "3.11.0", "build": "0", "build_number": 0,
              "depends": [], "subdir": "linux-64"}  # fmt: skip
    _index(out, "linux-64", {"python-3.11.0-0.tar.bz2": _stub(python)})
    levels = {f"{r['name']}-{r['version']}-{r['build']}.tar.bz2": _stub(r)
              for r in cpu.microarch_level_records()}  # fmt: skip
    _index(out, "noarch", levels)
    return out


def _generic(packages: tuple[Any, ...]) -> list[Any]:
    from rattler.package.build_string import BuildString

    return [
        rattler.GenericVirtualPackage(
            rattler.PackageName(p.name), rattler.Version(p.version), BuildString(p.build)
        )
        for p in packages
    ]


def conda_choice(channel: Path, env: Mapping[str, str]) -> str:
    """The label of the variant py-rattler installs on the host ``env`` describes."""
    vpackages = host.virtual_packages(BASE, env)
    records = asyncio.run(
        rattler.solve([rattler.Channel(str(channel))], [PACKAGE],
                      platforms=["linux-64", "noarch"], virtual_packages=_generic(vpackages))
    )  # fmt: skip
    (chosen,) = [r for r in records if r.name.normalized == PACKAGE]
    build = str(chosen.build)
    return next(label for label in VARIANTS if f"_{label}_" in build)


def variantlib_choice(env: Mapping[str, str]) -> str:
    """The label variantlib's ranking puts first for the host ``env`` describes."""
    supported = host.supported_properties(BASE, env)
    vprops = [VLProp(ns, feature, value) for ns, features in supported.items()
              for feature, values in features.items() for value in values]  # fmt: skip
    descs = [VLDesc([VLProp(*p) for p in props], label=label) for label, props in VARIANTS.items()]
    ranked = sort_and_filter_supported_variants(
        descs, vprops, namespace_priorities=list(NAMESPACES), filter_values=True
    )
    label: str = ranked[0].label  # variantlib ships no type information
    return label


def test_variant_json_written_by_variantlib_is_read() -> None:
    info = _variant_info()
    for label, props in VARIANTS.items():
        desc = VLDesc([VLProp(*p) for p in props], label=label)
        data = json.loads(variantlib_api.make_variant_dist_info(desc, info))
        ours = variants.read_variant_json(data)
        assert ours.label == label
        assert {(p.namespace, p.feature, p.value) for p in ours.properties} == set(props)
        assert ours.schema == "variantlib-0.2"


def test_build_numbers_follow_variantlib_order_on_a_host_supporting_all() -> None:
    # a host where every variant installs: higher build number = earlier in variantlib's ranking
    env = _env("icelake", "13.0", "9.0")
    supported = host.supported_properties(BASE, env)
    vprops = [VLProp(ns, f, v) for ns, fs in supported.items() for f, vs in fs.items() for v in vs]
    descs = [VLDesc([VLProp(*p) for p in props], label=label) for label, props in VARIANTS.items()]
    ranked = [d.label for d in sort_and_filter_supported_variants(
        descs, vprops, namespace_priorities=list(NAMESPACES), filter_values=True)]  # fmt: skip
    assert set(ranked) == set(VARIANTS)
    numbers = {}
    for label, props in VARIANTS.items():
        desc = variants.VariantDescription(
            label=label,
            properties=tuple(VariantProperty(*p) for p in props),
            namespace_priorities=tuple(NAMESPACES),
        )
        numbers[label] = variants.conda_for_variant(desc, label).build_number
    assert sorted(numbers, key=numbers.__getitem__, reverse=True) == ranked


@pytest.mark.parametrize("name", list(HOSTS))
def test_rattler_picks_what_variantlib_picks(channel: Path, name: str) -> None:
    env, expected = HOSTS[name]
    assert variantlib_choice(env) == expected
    assert conda_choice(channel, env) == expected


_MICROARCHS = sorted(
    t for t in ("core2", "nehalem", "sandybridge", "haswell", "skylake", "zen2", "zen3",
                "icelake", "skylake_avx512", "sapphirerapids", "zen4", "x86_64_v2")
)  # fmt: skip


_DRIVERS = ["11.8", "12.0", "12.6", "12.8", "12.9", "13.0", "13.1"]
_CCS = ["7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "12.0"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    microarch=st.sampled_from(_MICROARCHS),
    driver=st.one_of(st.none(), st.sampled_from(_DRIVERS)),
    cc=st.sampled_from(_CCS),
)
def test_any_host_agrees(channel: Path, microarch: str, driver: str | None, cc: str) -> None:
    env = _env(microarch, driver, cc)
    assert conda_choice(channel, env) == variantlib_choice(env)
