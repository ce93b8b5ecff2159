"""variantlib's variant ranking folded into conda build numbers.

conda installs the highest build number among the installable builds of one version; variantlib
installs the variant whose properties rank best on the host: by namespace priority, then feature
priority, then the provider's value order (highest CUDA bound, highest level, best sm_arch). Both
agree when each variant's build number is that ranking written as one mixed-radix integer: one
digit per known feature in priority order, the digit being the strength of the variant's best
value (0 when it lacks the feature). See docs/variants.md for what one integer cannot carry.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import MappingError
from ..model import VariantProperty
from . import cpu, nvidia
from .variantjson import VariantDescription

__all__ = [
    "BLAS_FEATURES",
    "BLAS_VALUES",
    "MAX_WHEEL_BUILD",
    "combined_build_number",
    "variant_build_number",
]

BLAS_FEATURES = ("library", "provider")  # the provider names it "provider"; DESIGN "library"
BLAS_VALUES = ("accelerate", "openblas", "mkl")  # the provider's order, best first
#: wheel build tags up to this number fit under one variant's rank
MAX_WHEEL_BUILD = 999
_FLAGS = "<flags>"  # all CPU-flag features of a namespace, ranked together
#: the features of each known namespace in the provider's own order (its default priority)
_FEATURES: dict[str, tuple[str, ...]] = {
    "nvidia": ("cuda_version_lower_bound", "cuda_version_upper_bound", "sm_arch"),
    "x86_64": ("level", _FLAGS),
    "aarch64": ("version", _FLAGS),
    "blas_lapack": ("library",),
}
_SM_RADIX = 7 * 12 + 12  # majors 5..12, each: virtual, real minors 0..9, plus "absent"


def _ordered_values(ns: str, feature: str) -> tuple[str, ...]:
    """The provider's values of a feature with a fixed order, best first."""
    if ns == "nvidia":
        return nvidia.cuda_values()
    if ns == "x86_64":
        return tuple(f"v{n}" for n in range(cpu.MAX_X86_64_LEVEL, 0, -1))
    if ns == "aarch64":
        return cpu.aarch64_versions_supported("armv9.0a")
    return BLAS_VALUES


def _sm_strength(value: str) -> int:
    major, minor, real = nvidia.parse_sm(value)
    return (major - 5) * 12 + 1 + (minor + 1 if real else 0)


def _digit(ns: str, feature: str, props: Sequence[VariantProperty]) -> tuple[int, int]:
    """(radix, strength) of one feature for a variant; strength 0 means the feature is absent."""
    if feature == _FLAGS:
        flags = cpu.X86_64_FEATURES if ns == "x86_64" else cpu.AARCH64_FEATURES
        present = [flags.index(p.feature) for p in props if p.feature in flags]
        return len(flags) + 1, (len(flags) - min(present)) if present else 0
    aliases = BLAS_FEATURES if ns == "blas_lapack" else (feature,)
    mine = [p for p in props if p.feature in aliases]
    if ns == "nvidia" and feature == "sm_arch":
        return _SM_RADIX, max((_sm_strength(p.value) for p in mine), default=0)
    values = _ordered_values(ns, feature)
    strength = {v: len(values) - i for i, v in enumerate(values)}
    for prop in mine:
        if prop.value not in strength:
            raise MappingError(str(prop), "not a value its provider ranks")
    return len(values) + 1, max((strength[p.value] for p in mine), default=0)


def variant_build_number(desc: VariantDescription) -> int:
    """The rank of ``desc`` among the variants of its package as one integer (0 for the null
    variant): higher is what variantlib prefers on any host where both variants install."""
    number = 0
    for ns in desc.namespace_priorities:
        features = _FEATURES.get(ns, ())
        preferred = [f for f in desc.feature_priorities.get(ns, ()) if f in features]
        ordered = preferred + [f for f in features if f not in preferred]
        props = [p for p in desc.properties if p.namespace == ns]
        for feature in ordered:
            radix, strength = _digit(ns, feature, props)
            number = number * radix + strength
    return number


def combined_build_number(variant_number: int, wheel_build: int = 0) -> int:
    """The conda build number of a converted variant wheel: the variant's rank dominates, the
    wheel's build tag (``1`` in ``pkg-1.0-1-py3-none-any-label.whl``) orders rebuilds of one
    variant. Adding the two instead would let a rebuild jump over a better variant."""
    if not 0 <= wheel_build <= MAX_WHEEL_BUILD:
        raise MappingError(str(wheel_build), f"wheel build tags above {MAX_WHEEL_BUILD} do not fit")
    return variant_number * (MAX_WHEEL_BUILD + 1) + wheel_build
