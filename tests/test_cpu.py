"""x86-64 levels and aarch64 versions ⇄ archspec microarchitectures, checked through py-rattler's
own MatchSpec against every microarchitecture archspec knows."""

from __future__ import annotations

import archspec.cpu
import pytest
import rattler
from rattler.package.build_string import BuildString

from conda_wheel_bridge.errors import MappingError
from conda_wheel_bridge.mapping import cpu

X86 = sorted(t.name for t in archspec.cpu.TARGETS.values() if t.family.name == "x86_64")
ARM = sorted(t.name for t in archspec.cpu.TARGETS.values() if t.family.name == "aarch64")


def _archspec(name: str) -> rattler.PackageRecord:
    return rattler.PackageRecord(
        name="__archspec", version="1", build=BuildString(name), build_number=0, subdir="noarch"
    )


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_level_records_accept_exactly_what_archspec_says(level: int) -> None:
    base = archspec.cpu.TARGETS["x86_64" if level == 1 else f"x86_64_v{level}"]
    (record,) = [r for r in cpu.microarch_level_records() if r["version"] == str(level)]
    (depends,) = record["depends"]
    spec = rattler.MatchSpec(depends)
    for name in X86:
        assert spec.matches(_archspec(name)) == (archspec.cpu.TARGETS[name] >= base), name
    for name in ARM:  # never another family
        assert not spec.matches(_archspec(name))


def test_level_package_spec_is_conda_forges() -> None:
    assert cpu.level_package_spec("v3") == "_x86_64-microarch-level >=3"
    with pytest.raises(MappingError, match="stop at v4"):
        cpu.level_package_spec("v5")
    with pytest.raises(MappingError, match="v1, v2, v3 or v4"):
        cpu.level_package_spec("3")


@pytest.mark.parametrize("name", X86)
def test_x86_64_level_of_every_microarchitecture(name: str) -> None:
    level = cpu.x86_64_level_of(name)
    assert level is not None
    assert name in cpu.microarchitectures_for_x86_64_level(f"v{level}")
    if level < cpu.MAX_X86_64_LEVEL:
        assert name not in cpu.microarchitectures_for_x86_64_level(f"v{level + 1}")


def test_provider_levels_follow_the_generic() -> None:
    assert cpu.x86_64_levels_supported("icelake") == ("v4", "v3", "v2", "v1")
    assert cpu.x86_64_levels_supported("haswell") == ("v3", "v2", "v1")
    assert cpu.x86_64_levels_supported("nehalem") == ("v2", "v1")
    # the provider reports nothing when archspec's generic is plain x86_64 (documented loss)
    assert cpu.x86_64_levels_supported("core2") == ()
    assert cpu.x86_64_level_of("core2") == 1
    assert cpu.x86_64_levels_supported("neoverse_n1") == ()


@pytest.mark.parametrize("version", ["8a", "8.1a", "8.2a", "8.4a", "9.0a"])
def test_aarch64_versions(version: str) -> None:
    names = cpu.microarchitectures_for_aarch64_version(version)
    spec = rattler.MatchSpec(cpu.archspec_build_matcher(names))
    for name in ARM:
        supported = version in cpu.aarch64_versions_supported(name)
        assert spec.matches(_archspec(name)) == supported, name
    assert not any(n in names for n in X86)


def test_aarch64_version_capped_like_the_provider() -> None:
    # archspec knows armv9.2a; the provider stops at 9.0a
    assert cpu.aarch64_versions_supported("neoverse_v3ae")[0] == "9.0a"
    assert cpu.aarch64_versions_supported("neoverse_n1")[:2] == ("8.2a", "8.1a")
    assert cpu.aarch64_versions_supported("cortex_a72") == ("8a",)
    with pytest.raises(MappingError):
        cpu.microarchitectures_for_aarch64_version("9.2a")


def test_features_come_from_archspec() -> None:
    names = cpu.microarchitectures_with_feature("x86_64", "avx512f")
    for name in X86:
        assert (name in names) == ("avx512f" in archspec.cpu.TARGETS[name])
    with pytest.raises(MappingError, match="not a CPU flag"):
        cpu.microarchitectures_with_feature("x86_64", "warp_drive")


def test_supported_cpu_properties_order() -> None:
    props = cpu.supported_cpu_properties("skylake_avx512")
    assert next(iter(props["x86_64"])) == "level"
    flags = [f for f in props["x86_64"] if f != "level"]
    assert flags == [f for f in cpu.X86_64_FEATURES if f in flags]
    assert "avx512f" in flags
    assert cpu.supported_cpu_properties("power9le") == {}


def test_parse_archspec_build() -> None:
    assert cpu.parse_archspec_build("^(zen4|icelake)$") == ("icelake", "zen4")
    assert cpu.parse_archspec_build("haswell") == ("haswell",)
    with pytest.raises(MappingError, match="not a microarchitecture"):
        cpu.parse_archspec_build("pentium9000")
