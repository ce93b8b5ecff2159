"""Read what a channel needs from one wheel: hashes, core metadata, tags and variant.json.

The core metadata bytes are kept verbatim: they become the PEP 658 ``.metadata`` sidecar, whose
hash must match the ``METADATA`` inside the wheel byte for byte.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from packaging.tags import parse_tag

from ..errors import BadMetadata
from ..wheelfile import open_wheel

__all__ = ["WheelFacts", "is_pure", "read_wheel_facts"]

_COMPILED = (".so", ".pyd", ".dylib")

#: one wheel as the index sees it (JSON-serialisable, so it can live in the cache)
WheelFacts = dict[str, Any]


def is_pure(facts: WheelFacts) -> bool:
    """Whether the wheel is pure Python: all tags ``*-none-any``, no compiled extension inside."""
    tags = [parse_tag(t) for t in facts["tags"]]
    return not facts["compiled"] and all(
        t.abi == "none" and t.platform == "any" for group in tags for t in group
    )


def read_wheel_facts(path: Path) -> WheelFacts:
    """Return hashes, size, name, version, tags, METADATA text, and variant data of a wheel.

    The wheel is opened with :func:`conda_wheel_bridge.wheelfile.open_wheel`, which validates
    it (names, one dist-info, METADATA/WHEEL present, file name vs metadata) and raises a
    ``CwbError`` naming the file.
    """
    data = path.read_bytes()
    with open_wheel(path) as wheel:
        info = wheel.info
        compiled = any(m.name.endswith(_COMPILED) for m in wheel.members)
    metadata = info.metadata_bytes
    name = info.metadata.get("Name")
    if not name:
        raise BadMetadata(path, "METADATA has no Name")
    filename = info.filename
    build = filename.build
    build_number = int("".join(c for c in build if c.isdigit()) or 0) if build else 0
    stem = path.name[: -len(".whl")]
    if filename.variant_label:
        stem = stem[: -len(filename.variant_label) - 1]
    return {
        "fn": path.name,
        "name": str(name),
        "version": info.version,
        "file_version": filename.version,
        "build_number": build_number,
        "tags": [_tag_group(stem)],
        "flat_tags": sorted(str(t) for t in filename.tags),
        "requires_python": info.requires_python,
        "requires_dist": info.requires_dist,
        "license": info.license_expression or _short(info.license),
        "summary": info.metadata.get("Summary"),
        "metadata": metadata.decode("utf-8", "surrogateescape"),
        "metadata_sha256": hashlib.sha256(metadata).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "size": len(data),
        "compiled": compiled,
        "variant_label": filename.variant_label,
        "variant": dict(info.variant_json) if info.variant_json is not None else None,
        "timestamp": _timestamp_ms(path),
    }


def _short(license_text: str | None) -> str | None:
    """A ``License`` field fit for a repodata record: one short line, else nothing."""
    if not license_text or "\n" in license_text.strip() or len(license_text) > 100:
        return None
    return license_text.strip()


def _tag_group(stem: str) -> str:
    return "-".join(stem.split("-")[-3:])


def _timestamp_ms(path: Path) -> int:
    return int(path.stat().st_mtime * 1000)
