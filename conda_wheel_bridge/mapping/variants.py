"""Wheel-variant properties ⇄ conda virtual packages, and variant ranking ⇄ build numbers.

Each rule is a small function from one variant feature to conda MatchSpecs (and back), with the
information it loses stated in :data:`LOSSES` (``cwb map`` prints them; docs/variants.md lists
them). A property or virtual package with no counterpart raises
:class:`~conda_wheel_bridge.errors.MappingError`: nothing is dropped silently.

Build numbers: conda prefers the highest build number among installable builds of one version;
variantlib prefers the variant whose properties rank best on the host. :func:`variant_build_number`
turns variantlib's ordering (namespace priority, then feature priority, then the provider's value
order) into one integer per variant, so the two choices agree (see docs/variants.md for the
cases where no integer can).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rattler import MatchSpec

from ..errors import MappingError
from ..model import VariantProperty
from . import cpu, nvidia
from .variantjson import (
    NULL_LABEL,
    WRITE_SCHEMA,
    ProviderInfo,
    VariantDescription,
    read_variant_json,
    read_variants_index,
    write_variant_json,
    write_variants_index,
)
from .variantrank import (
    BLAS_FEATURES,
    BLAS_VALUES,
    MAX_WHEEL_BUILD,
    combined_build_number,
    variant_build_number,
)

__all__ = [
    "LOSSES",
    "MAX_WHEEL_BUILD",
    "NULL_LABEL",
    "WRITE_SCHEMA",
    "ProviderInfo",
    "VariantBuild",
    "VariantDescription",
    "combined_build_number",
    "conda_for_properties",
    "conda_for_property",
    "conda_for_variant",
    "loss_for",
    "parse_property",
    "read_variant_json",
    "read_variants_index",
    "split_spec",
    "variant_build_number",
    "variant_properties_for_conda",
    "write_variant_json",
    "write_variants_index",
]


@dataclass(frozen=True)
class VariantBuild:
    """What a variant wheel adds to its conda package: ``depends`` on virtual packages, the
    label for the build string and the build number that encodes the variant's rank."""

    depends: tuple[str, ...]
    build_label: str
    build_number: int


#: what each rule loses, by ``namespace :: feature`` (shown by ``cwb map`` and in the docs)
LOSSES: dict[str, str] = {
    "nvidia :: cuda_version_lower_bound": (
        "exact: the NVIDIA provider and conda both read the driver's CUDA version "
        "(cuDriverGetVersion); several any-of values collapse to the lowest"
    ),
    "nvidia :: cuda_version_upper_bound": (
        "exact: `__cuda <X.Y` holds where the provider lists X.Y; several any-of values collapse "
        "to the highest"
    ),
    "nvidia :: sm_arch": (
        "the provider matches the HIGHEST compute capability on the host and accepts `Mm_real` "
        "for the same major M with minor >= m, `M0_virtual` for the same major only; conda's "
        "`__cuda_arch` is the LOWEST compute capability of all GPUs. On a host with mixed GPUs "
        "the two can disagree; other `Mm_virtual` (m > 0) never match and are dropped from the "
        "range"
    ),
    "x86_64 :: level": (
        "conda-forge convention `_x86_64-microarch-level >=N` over `__archspec`: accepts every "
        "microarchitecture archspec places at or above vN; the provider reports no level at "
        "all for CPUs whose archspec generic is plain `x86_64` (core2, nocona, k10), where conda "
        "accepts v1; the channel must carry the `_x86_64-microarch-level` packages (conda-forge "
        "does)"
    ),
    "x86_64 :: <flag>": (
        "`__archspec` build regex of every x86-64 microarchitecture whose archspec feature set "
        "has the flag; exact for named microarchitectures (the provider also reads archspec)"
    ),
    "aarch64 :: version": (
        "`__archspec` build regex of every aarch64 microarchitecture whose provider versions "
        "include the value; exact (both read archspec)"
    ),
    "aarch64 :: <flag>": (
        "`__archspec` build regex of every aarch64 microarchitecture whose archspec feature set "
        "has the flag"
    ),
    "blas_lapack :: library": (
        "the conda-forge BLAS mutex `libblas * *_<impl>`: conda installs that implementation, "
        "where the (ahead-of-time) provider only labels the wheel; `provider` is read as an "
        "alias of `library`"
    ),
    "__glibc / __osx / __win / __linux / __unix": (
        "platform facts: expressed by wheel platform tags (manylinux/macosx/win), not by variant "
        "properties"
    ),
    "__archspec": (
        "a conda package may name exact microarchitectures; a variant names a level (x86-64) "
        "or version (aarch64): the lowest level among the accepted names, so every CPU at that "
        "level is accepted"
    ),
    "ranking": (
        "build numbers order variants by namespace, then feature, then value, as variantlib "
        "does; exact when each variant lists one value per feature. A variant listing several "
        "sm_arch values ranks by its highest (variantlib ranks by the best one the GPU "
        "supports), several CPU flags by the most preferred one; ties that variantlib breaks "
        "by label are left to the solver"
    ),
}

_PLATFORM_VIRTUALS = frozenset({"__glibc", "__osx", "__win", "__linux", "__unix", "__musl"})
_CONSTRAINT_RE = re.compile(r"(?P<op>>=|<=|==|!=|>|<|=)?\s*(?P<ver>[0-9][0-9a-z.*]*)")


def loss_for(prop: VariantProperty) -> str:
    """What the rule for ``prop`` loses, from :data:`LOSSES`."""
    key = f"{prop.namespace} :: {prop.feature}"
    if key not in LOSSES and prop.namespace in ("x86_64", "aarch64"):
        key = f"{prop.namespace} :: <flag>"
    if key not in LOSSES and prop.namespace == "blas_lapack":
        key = "blas_lapack :: library"
    return LOSSES.get(key, "no rule")


def parse_property(text: str) -> VariantProperty:
    """``"nvidia :: sm_arch :: 90_real"`` → :class:`VariantProperty` (MappingError if malformed)."""
    parts = [p.strip() for p in text.split("::")]
    if len(parts) != 3 or not all(parts):
        raise MappingError(text, "expected 'namespace :: feature :: value'")
    return VariantProperty(*parts)


def _cuda_value(prop: VariantProperty) -> str:
    if prop.value not in nvidia.cuda_values():
        raise MappingError(str(prop), "not a CUDA version the NVIDIA provider knows (11 to 15.20)")
    return prop.value


def _version_key(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split("."))


# ------------------------------------------------------------------------- wheel → conda rules


def conda_for_properties(props: Iterable[VariantProperty]) -> tuple[str, ...]:
    """conda MatchSpecs for a variant's properties (any-of values within a feature)."""
    by_feature: dict[tuple[str, str], list[VariantProperty]] = {}
    for prop in props:
        by_feature.setdefault((prop.namespace, prop.feature), []).append(prop)
    depends: list[str] = []
    for (ns, feature), group in by_feature.items():
        depends.extend(_conda_for_feature(ns, feature, group))
    return tuple(depends)


def conda_for_property(prop: VariantProperty) -> tuple[str, ...]:
    """conda MatchSpecs for one property."""
    return _conda_for_feature(prop.namespace, prop.feature, [prop])


def _conda_for_feature(ns: str, feature: str, group: Sequence[VariantProperty]) -> tuple[str, ...]:
    if ns == "nvidia" and feature == "cuda_version_lower_bound":
        low = min((_cuda_value(p) for p in group), key=_version_key)
        return (f"__cuda >={low}",)
    if ns == "nvidia" and feature == "cuda_version_upper_bound":
        high = max((_cuda_value(p) for p in group), key=_version_key)
        return (f"__cuda <{high}",)
    if ns == "nvidia" and feature == "sm_arch":
        return (f"__cuda_arch {nvidia.sm_ranges(p.value for p in group)}",)
    if ns == "x86_64" and feature == "level":
        low = min(group, key=lambda p: p.value).value
        return (cpu.level_package_spec(low),)
    if ns == "aarch64" and feature == "version":
        names: set[str] = set()
        for prop in group:
            names.update(cpu.microarchitectures_for_aarch64_version(prop.value))
        return (cpu.archspec_build_matcher(names),)
    if ns in ("x86_64", "aarch64"):
        for prop in group:
            if prop.value != "on":
                raise MappingError(str(prop), "CPU flag properties take the value 'on'")
        return (cpu.archspec_build_matcher(cpu.microarchitectures_with_feature(ns, feature)),)
    if ns == "blas_lapack" and feature in BLAS_FEATURES:
        if len(group) != 1 or group[0].value not in BLAS_VALUES:
            raise MappingError(str(group[0]), f"expected one of {', '.join(BLAS_VALUES)}")
        return (f"libblas * *_{group[0].value}",)
    raise MappingError(str(group[0]), "no conda counterpart for this variant property")


def conda_for_variant(desc: VariantDescription, label: str) -> VariantBuild:
    """The conda side of one variant wheel: depends, build-string label and build number."""
    if desc.label and desc.label != label:
        raise MappingError(label, f"the variant metadata is labelled {desc.label!r}")
    if missing := {p.namespace for p in desc.properties} - set(desc.namespace_priorities):
        raise MappingError(label, f"namespaces without priority: {sorted(missing)}")
    depends = conda_for_properties(desc.properties)
    return VariantBuild(depends=depends, build_label=label, build_number=variant_build_number(desc))


# ------------------------------------------------------------------------- conda → wheel rules


def split_spec(spec: str) -> tuple[str, str, str]:
    """``"__cuda >=12.8"`` → (name, version spec, build), parsed by rattler's MatchSpec."""
    name, version, build, _ = _split(spec)
    return name, version, build


def _split(spec: str) -> tuple[str, str, str, bool]:
    """:func:`split_spec` plus whether the spec is conditional (``when=``)."""
    try:
        match = MatchSpec(spec)
    except Exception as exc:  # rattler raises its own exception types
        raise MappingError(spec, f"not a MatchSpec ({exc})") from None
    if match.name is None:
        raise MappingError(spec, "a MatchSpec without a package name")
    conditional = match.condition is not None
    return match.name.normalized, match.version or "", match.build or "", conditional


def _constraints(spec: str, version: str) -> list[tuple[str, str]]:
    if "|" in version:
        raise MappingError(spec, "alternatives ('|') have no single variant counterpart")
    out = []
    for part in filter(None, version.split(",")):
        match = _CONSTRAINT_RE.fullmatch(part.strip())
        if match is None:
            raise MappingError(spec, f"unsupported version constraint {part!r}")
        out.append((match.group("op") or "==", match.group("ver")))
    return out


def _next_minor(version: str) -> str:
    parts = version.split(".")
    if len(parts) == 1:
        return str(int(parts[0]) + 1)
    return f"{parts[0]}.{int(parts[1]) + 1}"


def _cuda_properties(spec: str, version: str) -> list[VariantProperty]:
    if version in ("", "*"):
        return [VariantProperty("nvidia", "cuda_version_lower_bound", "11")]
    props = []
    for op, ver in _constraints(spec, version):
        if ver.endswith(".*") and op == "==":
            base = ver[:-2]
            props.append(VariantProperty("nvidia", "cuda_version_lower_bound", base))
            props.append(VariantProperty("nvidia", "cuda_version_upper_bound", _next_minor(base)))
        elif op == ">=":
            low = ver if ver in nvidia.cuda_values() or _version_key(ver) >= (11,) else "11"
            props.append(VariantProperty("nvidia", "cuda_version_lower_bound", low))
        elif op == "<":
            props.append(VariantProperty("nvidia", "cuda_version_upper_bound", ver))
        elif op == "==":
            props.append(VariantProperty("nvidia", "cuda_version_lower_bound", ver))
            props.append(VariantProperty("nvidia", "cuda_version_upper_bound", _next_minor(ver)))
        else:
            raise MappingError(spec, f"'{op}' has no CUDA bound counterpart")
    for prop in props:
        _cuda_value(prop)
    return props


def _cuda_arch_properties(spec: str, version: str) -> list[VariantProperty]:
    low, high = (0, 0), (99, 0)
    for op, ver in _constraints(spec, version or ">=0"):
        parts = (*_version_key(ver.removesuffix(".*")), 0)
        key = (parts[0], parts[1])
        if op == ">=":
            low = max(low, key)
        elif op == "<":
            high = min(high, key)
        else:
            raise MappingError(spec, f"'{op}' has no sm_arch counterpart")
    props = []
    for major in sorted(nvidia.SM_MAJORS):
        minors = [m for m in range(10) if low <= (major, m) < high]
        if not minors:
            continue
        if minors[0] == 0 and minors[-1] == 9:
            props.append(VariantProperty("nvidia", "sm_arch", f"{major}0_virtual"))
        else:
            props.append(VariantProperty("nvidia", "sm_arch", f"{major}{minors[0]}_real"))
    if not props:
        raise MappingError(spec, "no SM architecture the NVIDIA provider knows is in range")
    return props


def _archspec_properties(spec: str, build: str) -> list[VariantProperty]:
    if build in ("", "*"):
        return []
    names = cpu.parse_archspec_build(build)
    families = {cpu.family_of(n) for n in names}
    if families == {"x86_64"}:
        levels = [cpu.x86_64_level_of(n) or 1 for n in names]
        return [VariantProperty("x86_64", "level", f"v{min(levels)}")]
    if families == {"aarch64"}:
        versions = [cpu.aarch64_version_of(n) or "8a" for n in names]
        lowest = min(versions, key=lambda v: _version_key(v.rstrip("a")))
        return [VariantProperty("aarch64", "version", lowest)]
    raise MappingError(spec, f"no variant provider for {', '.join(sorted(families))} CPUs")


#: ordinary conda packages that carry a variant property (CPU level, BLAS mutex)
_VARIANT_PACKAGES = frozenset({cpu.X86_64_LEVEL_PACKAGE, "libblas", "blas"})


def variant_properties_for_conda(depends: Iterable[str]) -> tuple[VariantProperty, ...]:
    """Variant properties for a conda package's virtual-package (and CPU level / BLAS mutex)
    depends. Ordinary package depends are skipped; platform virtual packages belong to wheel
    tags; any other virtual package raises :class:`MappingError`."""
    props: list[VariantProperty] = []
    for spec in depends:
        name, version, build, conditional = _split(spec)
        if name in _PLATFORM_VIRTUALS:
            continue
        if conditional:
            if name.startswith("__") or name in _VARIANT_PACKAGES:
                raise MappingError(spec, "a conditional (when=) requirement has no variant")
            continue
        if name == "__cuda":
            props.extend(_cuda_properties(spec, version))
        elif name == "__cuda_arch":
            props.extend(_cuda_arch_properties(spec, version))
        elif name == "__archspec":
            props.extend(_archspec_properties(spec, build))
        elif name == cpu.X86_64_LEVEL_PACKAGE:
            ops = _constraints(spec, version) if version not in ("", "*") else []
            lows = [ver for op, ver in ops if op == ">="]
            level = int(lows[0]) if lows else 1
            props.append(VariantProperty("x86_64", "level", f"v{level}"))
        elif name in ("libblas", "blas") and build not in ("", "*"):
            impl = build.rsplit("_", 1)[-1].lstrip("*")
            if impl not in BLAS_VALUES:
                raise MappingError(spec, "unknown BLAS implementation")
            props.append(VariantProperty("blas_lapack", "library", impl))
        elif name.startswith("__"):
            raise MappingError(spec, "no variant property counterpart for this virtual package")
    unique = dict.fromkeys(props)
    return tuple(sorted(unique, key=_property_order))


def _property_order(prop: VariantProperty) -> tuple[str, str, list[tuple[int, str]]]:
    """Sort key with numbers compared as numbers (``90_real`` before ``100_real``)."""
    chunks = re.findall(r"(\d+)|(\D+)", prop.value)
    return prop.namespace, prop.feature, [(int(d) if d else -1, t) for d, t in chunks]
