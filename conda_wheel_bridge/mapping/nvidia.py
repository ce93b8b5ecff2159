"""The NVIDIA variant provider's rules (``nvidia-variant-provider`` 0.0.2), as data and functions.

Which CUDA bounds and SM architectures the provider knows, which of them a host supports (from
the driver's CUDA version and the host's highest compute capability), and the ``__cuda_arch``
ranges that accept the same GPUs as a set of ``sm_arch`` values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from packaging.version import InvalidVersion, Version

from ..errors import MappingError

__all__ = [
    "SM_MAJORS",
    "cuda_values",
    "parse_sm",
    "sm_ranges",
    "supported",
]

#: the provider's known UMD (driver CUDA) majors and minors
_UMD_MAJORS = range(11, 16)
_UMD_MINORS = range(21)
#: the provider's known SM majors, highest first
SM_MAJORS = range(12, 4, -1)
_SM_RE = re.compile(r"(?P<major>[0-9]+?)(?P<minor>[0-9])_(?P<kind>real|virtual)")


@cache
def cuda_values() -> tuple[str, ...]:
    """Every CUDA bound the provider knows (``15.20`` … ``11.0``, ``11``), highest first."""
    values: list[str] = []
    for major in reversed(_UMD_MAJORS):
        values.extend(f"{major}.{minor}" for minor in reversed(_UMD_MINORS))
        values.append(str(major))
    return tuple(values)


def parse_sm(value: str) -> tuple[int, int, bool]:
    """``"90_real"`` → ``(9, 0, True)``; MappingError for values the provider does not know."""
    match = _SM_RE.fullmatch(value)
    if match is None or int(match.group("major")) not in SM_MAJORS:
        raise MappingError(value, "not an SM architecture the NVIDIA provider knows")
    return int(match.group("major")), int(match.group("minor")), match.group("kind") == "real"


def sm_ranges(values: Iterable[str]) -> str:
    """A ``__cuda_arch`` version spec accepting exactly the single-GPU hosts on which the
    provider supports at least one of ``values`` (``80_real``, ``90_real`` → ``>=8.0,<10``).

    The provider supports ``Mm_real`` on a GPU of major M and minor >= m, and ``M0_virtual`` on
    any GPU of major M; it never offers ``Mm_virtual`` for m > 0.
    """
    values = list(values)
    lowest: dict[int, int] = {}
    for value in values:
        major, minor, real = parse_sm(value)
        if not real and minor != 0:
            continue
        lowest[major] = min(minor, lowest.get(major, 9))
    if not lowest:
        raise MappingError(", ".join(values), "no GPU satisfies these sm_arch values")
    ranges: list[tuple[int, int, int]] = []  # start major, start minor, exclusive end major
    for major in sorted(lowest):
        if ranges and ranges[-1][2] == major and lowest[major] == 0:
            ranges[-1] = (ranges[-1][0], ranges[-1][1], major + 1)
        else:
            ranges.append((major, lowest[major], major + 1))
    return "|".join(f">={m}.{n},<{end}" for m, n, end in ranges)


def supported(umd: str, sm: tuple[int, int] | None) -> dict[str, tuple[str, ...]]:
    """What the provider supports for a driver CUDA version ``umd`` (``"13.0"``) and the host's
    highest compute capability ``sm``: feature → values, best first (empty out of range)."""
    try:
        version = Version(umd)
    except InvalidVersion:
        return {}
    low_limit = Version(f"{min(_UMD_MAJORS)}.{min(_UMD_MINORS)}")
    high_limit = Version(f"{max(_UMD_MAJORS)}.{max(_UMD_MINORS)}")
    if not low_limit <= version <= high_limit:
        return {}
    top_minor = max(_UMD_MINORS)
    lower: list[str] = []
    for major in range(version.major, min(_UMD_MAJORS) - 1, -1):
        start = version.minor if major == version.major else top_minor
        lower += [f"{major}.{minor}" for minor in range(start, -1, -1)] + [str(major)]
    upper: list[str] = []
    for major in range(max(_UMD_MAJORS), version.major - 1, -1):
        if major > version.major:
            upper += [f"{major}.{minor}" for minor in range(top_minor, -1, -1)] + [str(major)]
        else:
            upper += [f"{major}.{minor}" for minor in range(top_minor, version.minor, -1)]
    out = {"cuda_version_lower_bound": tuple(lower)}
    if upper:
        out["cuda_version_upper_bound"] = tuple(upper)
    if sm is not None and sm >= (5, 0):
        major, minor = sm
        reals = [f"{major}{m}_real" for m in range(minor, -1, -1)]
        out["sm_arch"] = (*reals, f"{major}0_virtual")
    return out
