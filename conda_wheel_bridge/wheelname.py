"""Wheel file names (PEP 427 plus the wheel-variant label) and safe archive member names.

Parsing and formatting are inverse: ``parse_wheel_filename(wheel_filename(...))`` gives the parts
back (normalised), which a property test checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import BadArchive, BadMetadata, UnsafePath, UnsupportedTag

__all__ = [
    "MAX_TAGS",
    "WheelFilename",
    "check_member_name",
    "parse_tags",
    "parse_wheel_filename",
    "wheel_filename",
]

#: a compressed tag set expands to the product of its parts; more than this is refused as absurd.
MAX_TAGS = 4096

_LABEL_RE = re.compile(r"^[0-9a-z._]+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.]+$", re.ASCII)
_BUILD_RE = re.compile(r"^\d[\w.]*$", re.ASCII)
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class WheelFilename:
    """The parts of a wheel file name (PEP 427, plus the wheel-variant label suffix)."""

    name: str
    version: str
    build: str | None
    tags: frozenset[Tag]
    variant_label: str | None = None


def parse_wheel_filename(filename: str) -> WheelFilename:
    """Split ``{name}-{ver}[-{build}]-{py}-{abi}-{plat}[-{label}].whl``; raise naming the file."""
    base = Path(filename).name
    if not base.endswith(".whl"):
        raise BadArchive(filename, "not a wheel file name (no .whl suffix)")
    parts = base[: -len(".whl")].split("-")
    build: str | None = None
    label: str | None = None
    if len(parts) == 7:
        build, label = parts[2], parts[6]
    elif len(parts) == 6:
        # a build tag must start with a digit; otherwise the sixth part is a variant label
        if parts[2][:1].isdigit():
            build = parts[2]
        else:
            label = parts[5]
    elif len(parts) != 5:
        raise BadArchive(
            filename, f"wheel file name has {len(parts)} dash-separated parts, not 5 to 7"
        )
    name, version = parts[0], parts[1]
    py, abi, plat = (
        (parts[3], parts[4], parts[5]) if build is not None else (parts[2], parts[3], parts[4])
    )
    if not name or not _NAME_RE.match(name):
        raise BadArchive(filename, f"invalid project name {name!r} in wheel file name")
    try:
        Version(version)
    except InvalidVersion:
        raise BadArchive(filename, f"invalid version {version!r} in wheel file name") from None
    if build is not None and not _BUILD_RE.match(build):
        raise BadArchive(filename, f"invalid build tag {build!r} in wheel file name")
    if label is not None and not _LABEL_RE.match(label):
        raise BadArchive(filename, f"invalid variant label {label!r} in wheel file name")
    return WheelFilename(name, version, build, parse_tags(filename, f"{py}-{abi}-{plat}"), label)


def parse_tags(where: str, text: str) -> frozenset[Tag]:
    """Expand a compressed tag set like ``cp311.cp312-abi3-any``; refuse malformed or huge ones."""
    parts = text.split("-")
    if len(parts) != 3 or any("" in p.split(".") for p in parts):
        raise UnsupportedTag(where, f"malformed compatibility tag {text}")
    count = 1
    for part in parts:
        count *= len(part.split("."))
    if count > MAX_TAGS:
        raise UnsupportedTag(
            where, f"compatibility tag {text} expands to {count} tags (limit {MAX_TAGS})"
        )
    try:
        return frozenset(parse_tag(text))
    except ValueError as exc:  # packaging >= 26.3 validates components (InvalidTag)
        raise UnsupportedTag(where, f"invalid compatibility tag {text}: {exc}") from None


def check_member_name(where: str | PathLike[str], name: str) -> None:
    """Refuse names that could escape the install root (absolute, ``..``, drive, backslash)."""
    if "\\" in name:
        raise UnsafePath(where, f"member name {name!r} contains a backslash")
    if "\x00" in name:
        raise UnsafePath(where, f"member name {name!r} contains a NUL byte")
    if name.startswith("/") or _DRIVE_RE.match(name):
        raise UnsafePath(where, f"member name {name!r} is absolute")
    parts = name.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(where, f"member name {name!r} has an empty, '.' or '..' component")


def _ordered(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def wheel_filename(
    name: str,
    version: str,
    tags: Iterable[Tag] | str,
    build: str | None = None,
    variant_label: str | None = None,
) -> str:
    """``{name}-{version}[-{build}]-{tags}[-{label}].whl``, each part escaped per the spec."""
    escaped_name = canonicalize_name(name).replace("-", "_")
    if not escaped_name or not re.fullmatch(r"[a-z0-9_.]+", escaped_name):
        raise BadMetadata(name, "not a valid project name for a wheel file name")
    try:
        version_part = str(Version(version)).replace("-", "_")
    except InvalidVersion:
        raise BadMetadata(version, "not a valid PEP 440 version for a wheel file name") from None
    if isinstance(tags, str):
        tag_text = tags
    else:
        given = list(tags)  # may be a one-shot iterator
        tag_set = frozenset(given)
        ordered = sorted(tag_set, key=str) if isinstance(tags, (set, frozenset)) else given
        if not ordered:
            raise UnsupportedTag(name, "no compatibility tags given")
        interps = _ordered(t.interpreter for t in ordered)
        abis = _ordered(t.abi for t in ordered)
        plats = _ordered(t.platform for t in ordered)
        if len(interps) * len(abis) * len(plats) != len(tag_set):
            raise UnsupportedTag(
                " ".join(sorted(map(str, tag_set))),
                "this tag set is not a product of interpreters, ABIs and platforms; "
                "a wheel file name cannot express it",
            )
        tag_text = "-".join(".".join(x) for x in (interps, abis, plats))
    parse_tags(tag_text, tag_text)
    parts = [escaped_name, version_part]
    if build is not None:
        if not _BUILD_RE.match(build):
            raise BadMetadata(build, "a build tag must start with a digit and contain no '-'")
        parts.append(build)
    parts.append(tag_text)
    if variant_label is not None:
        if not _LABEL_RE.match(variant_label):
            raise BadMetadata(variant_label, "a variant label is made of [0-9a-z._] only")
        parts.append(variant_label)
    return "-".join(parts) + ".whl"
