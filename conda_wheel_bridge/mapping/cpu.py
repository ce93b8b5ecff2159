"""CPU levels and versions (wheel-variant side) ⇄ archspec microarchitectures (conda side).

The variant providers (``provider-variant-x86-64``, ``provider-variant-aarch64``) and conda's
``__archspec`` virtual package both name CPUs with archspec, so every rule here is computed from
the installed ``archspec`` database rather than from a hand-written table.

Convention followed for x86-64 levels: conda-forge's ``_x86_64-microarch-level`` packages. A
package built for level N depends on ``_x86_64-microarch-level >=N``; the channel must carry one
``_x86_64-microarch-level`` record per level whose only dependency is an ``__archspec`` build
matcher (CEP 29 regular expression) naming every microarchitecture archspec places at or above
that level. :func:`microarch_level_records` produces those records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import archspec.cpu

from ..errors import MappingError

__all__ = [
    "AARCH64_FEATURES",
    "MAX_X86_64_LEVEL",
    "X86_64_FEATURES",
    "X86_64_LEVEL_PACKAGE",
    "aarch64_version_of",
    "aarch64_versions_supported",
    "archspec_build_matcher",
    "family_of",
    "level_package_spec",
    "microarch_level_records",
    "microarchitectures_for_aarch64_version",
    "microarchitectures_for_x86_64_level",
    "microarchitectures_with_feature",
    "parse_archspec_build",
    "supported_cpu_properties",
    "x86_64_level_of",
    "x86_64_levels_supported",
]

#: conda-forge's metapackage that turns a level into an ``__archspec`` constraint
X86_64_LEVEL_PACKAGE = "_x86_64-microarch-level"
#: highest x86-64 level the variant provider knows (``provider-variant-x86-64``)
MAX_X86_64_LEVEL = 4
#: highest aarch64 generic the variant provider knows (``provider-variant-aarch64``)
_MAX_AARCH64_GENERIC = "armv9.0a"

#: CPU flags the x86-64 provider exposes as ``x86_64 :: <flag> :: on``, in its preference order
X86_64_FEATURES: tuple[str, ...] = (
    "avx_vnni", "cppc", "ibrs_enhanced", "tsc_adjust", "flush_l1d", "movdir64b", "movdiri",
    "avx512_bf16", "avx512_bitalg", "avx512_vbmi2", "avx512_vnni", "avx512_vp2intersect",
    "avx512_vpopcntdq", "avx512ifma", "avx512vbmi", "rdpid", "sha_ni", "vaes", "vpclmulqdq",
    "clwb", "clzero", "avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl", "clflushopt",
    "gfni", "rdseed", "xsavec", "xsaveopt", "adx", "avx2", "avx", "bmi2", "bmi1", "abm", "f16c",
    "fma", "movbe", "xsave", "rdrand", "aes", "pclmulqdq", "sse4a", "fsgsbase", "sse4_2",
    "sse4_1", "ssse3", "sse3", "cx16", "lahf_lm", "popcnt", "sse2", "sse", "mmx",
)  # fmt: skip

#: CPU flags the aarch64 provider exposes as ``aarch64 :: <flag> :: on``, in its preference order
AARCH64_FEATURES: tuple[str, ...] = (
    "sve2", "flagm2", "frint", "sb", "btiecv", "paca", "pacg", "ssbs", "asimdfhm", "bf16",
    "dcpodp", "dgh", "dit", "flagm", "i8mm", "ilrcpc", "jscvt", "rng", "sha3", "sha512",
    "svebf16", "svei8mm", "uscat", "asimddp", "lrcpc", "asimdhp", "dcpop", "fcma", "fphp", "sve",
    "asimdrdmatomics", "aes", "asimd", "cpuid", "crc32", "evtstrm", "fp", "pmull", "sha1", "sha2",
)  # fmt: skip

_LEVEL_RE = re.compile(r"v([1-9][0-9]*)")
_REGEX_BUILD_RE = re.compile(r"\^\((?P<names>[a-z0-9_.|]+)\)\$")


def _target(name: str) -> Any:
    try:
        return archspec.cpu.TARGETS[name]
    except KeyError:
        raise MappingError(name, "not a microarchitecture archspec knows") from None


def family_of(name: str) -> str:
    """The archspec family (``x86_64``, ``aarch64``, ``ppc64le`` ...) of a microarchitecture."""
    return str(_target(name).family.name)


def _family_targets(family: str) -> list[Any]:
    return [t for t in archspec.cpu.TARGETS.values() if t.family.name == family]


def _parse_level(value: str) -> int:
    match = _LEVEL_RE.fullmatch(value)
    if match is None:
        raise MappingError(value, "an x86-64 level is written v1, v2, v3 or v4")
    level = int(match.group(1))
    if level > MAX_X86_64_LEVEL:
        raise MappingError(value, f"x86-64 levels stop at v{MAX_X86_64_LEVEL}")
    return level


def _level_base(level: int) -> Any:
    return _target("x86_64" if level == 1 else f"x86_64_v{level}")


def x86_64_level_of(name: str) -> int | None:
    """The highest x86-64 level archspec says ``name`` supports, or None outside x86-64."""
    target = _target(name)
    if target.family.name != "x86_64":
        return None
    return max(n for n in range(1, MAX_X86_64_LEVEL + 1) if target >= _level_base(n))


@cache
def microarchitectures_for_x86_64_level(value: str) -> tuple[str, ...]:
    """Every x86-64 microarchitecture archspec places at or above level ``value`` (``v3``)."""
    base = _level_base(_parse_level(value))
    return tuple(sorted(t.name for t in _family_targets("x86_64") if t >= base))


def x86_64_levels_supported(name: str) -> tuple[str, ...]:
    """Levels the x86-64 variant provider reports for a host CPU, best first.

    Same rule as ``provider-variant-x86-64``: only a CPU whose archspec generic is
    ``x86_64_vN`` reports levels (vN down to v1); a plain ``x86_64`` generic reports none.
    """
    target = _target(name)
    generic = target.generic.name
    if target.family.name != "x86_64" or not generic.startswith("x86_64_v"):
        return ()
    top = min(int(generic.removeprefix("x86_64_v")), MAX_X86_64_LEVEL)
    return tuple(f"v{n}" for n in range(top, 0, -1))


def _aarch64_version_name(archspec_name: str) -> str:
    if archspec_name == "aarch64":
        return "8a"
    if archspec_name.startswith("armv") and archspec_name.endswith("a"):
        return archspec_name[4:]
    raise MappingError(archspec_name, "not an aarch64 architecture version")


def aarch64_versions_supported(name: str) -> tuple[str, ...]:
    """Versions (``8.2a`` ...) the aarch64 variant provider reports for a host CPU, best first."""
    target = _target(name)
    if target.family.name != "aarch64":
        return ()
    generic = target.generic
    cap = _target(_MAX_AARCH64_GENERIC)
    if cap in generic.ancestors:
        generic = cap
    return tuple(_aarch64_version_name(t.name) for t in (generic, *generic.ancestors))


def aarch64_version_of(name: str) -> str | None:
    """The best aarch64 version a microarchitecture supports, or None outside aarch64."""
    versions = aarch64_versions_supported(name)
    return versions[0] if versions else None


@cache
def _all_aarch64_versions() -> tuple[str, ...]:
    return aarch64_versions_supported(_MAX_AARCH64_GENERIC)


@cache
def microarchitectures_for_aarch64_version(value: str) -> tuple[str, ...]:
    """Every aarch64 microarchitecture whose provider versions include ``value`` (``8.2a``)."""
    if value not in _all_aarch64_versions():
        raise MappingError(value, "not an aarch64 version the aarch64 variant provider knows")
    names = (t.name for t in _family_targets("aarch64"))
    return tuple(sorted(n for n in names if value in aarch64_versions_supported(n)))


@cache
def microarchitectures_with_feature(family: str, feature: str) -> tuple[str, ...]:
    """Every microarchitecture of ``family`` whose archspec feature set includes ``feature``."""
    known = X86_64_FEATURES if family == "x86_64" else AARCH64_FEATURES
    if family not in ("x86_64", "aarch64") or feature not in known:
        raise MappingError(f"{family} :: {feature}", "not a CPU flag the variant provider knows")
    return tuple(sorted(t.name for t in _family_targets(family) if feature in t))


def archspec_build_matcher(names: Iterable[str]) -> str:
    """A MatchSpec for ``__archspec`` whose build is a CEP 29 regex accepting exactly ``names``."""
    alternatives = "|".join(sorted(set(names)))
    return f"__archspec[build='^({alternatives})$']"


def parse_archspec_build(build: str) -> tuple[str, ...]:
    """Microarchitecture names an ``__archspec`` build matcher accepts (exact, ``^(a|b)$``)."""
    match = _REGEX_BUILD_RE.fullmatch(build)
    names = match.group("names").split("|") if match else [build]
    for name in names:
        _target(name)
    return tuple(sorted(names))


def level_package_spec(value: str) -> str:
    """``x86_64 :: level :: vN`` as conda-forge writes it: ``_x86_64-microarch-level >=N``."""
    return f"{X86_64_LEVEL_PACKAGE} >={_parse_level(value)}"


def microarch_level_records() -> list[dict[str, Any]]:
    """repodata records for ``_x86_64-microarch-level`` 1..4, as conda-forge's per-level builds.

    A channel that carries converted x86-64 level variants needs these (conda-forge has them;
    a private channel must add them). Each record's only dependency accepts exactly the
    microarchitectures archspec places at or above its level.
    """
    records = []
    for level in range(1, MAX_X86_64_LEVEL + 1):
        names = microarchitectures_for_x86_64_level(f"v{level}")
        records.append(
            {
                "name": X86_64_LEVEL_PACKAGE,
                "version": str(level),
                "build": f"0_level{level}",
                "build_number": 0,
                "depends": [archspec_build_matcher(names)],
                "noarch": "generic",
                "subdir": "noarch",
                "license": "BSD-3-Clause",
            }
        )
    return records


def supported_cpu_properties(name: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """The CPU variant properties a host with microarchitecture ``name`` supports, as the
    x86-64 and aarch64 providers report them: namespace → feature → values (best first)."""
    target = _target(name)
    family = target.family.name
    if family == "x86_64":
        levels = x86_64_levels_supported(name)
        if not levels:
            return {}
        features = {"level": levels}
        features.update({flag: ("on",) for flag in X86_64_FEATURES if flag in target})
        return {"x86_64": features}
    if family == "aarch64":
        features = {"version": aarch64_versions_supported(name)}
        features.update({flag: ("on",) for flag in AARCH64_FEATURES if flag in target})
        return {"aarch64": features}
    return {}
