"""Read what a channel needs from one wheel: hashes, core metadata, tags and variant.json.

The core metadata bytes are kept verbatim: they become the PEP 658 ``.metadata`` sidecar, whose
hash must match the ``METADATA`` inside the wheel byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from packaging.tags import parse_tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from ..errors import BadArchive, BadMetadata

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
    """Return hashes, size, name, version, tags, METADATA text, and variant data of a wheel."""
    data = path.read_bytes()
    variant_label: str | None = None
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            dist_infos = {n.split("/", 1)[0] for n in names
                          if n.count("/") == 1 and n.split("/", 1)[0].endswith(".dist-info")}
            if len(dist_infos) != 1:
                raise BadArchive(path, "expected one .dist-info directory, "
                                 f"found {len(dist_infos)}")
            dist_info = dist_infos.pop()
            metadata = zf.read(f"{dist_info}/METADATA")
            compiled = any(n.endswith(_COMPILED) for n in names)
            variant_raw = (zf.read(f"{dist_info}/variant.json")
                           if f"{dist_info}/variant.json" in names else None)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise BadArchive(path, f"cannot read the wheel ({exc})") from exc
    stem = path.name[: -len(".whl")]
    parts = stem.split("-")
    variant: dict[str, Any] | None = None
    if variant_raw is not None:
        try:
            variant = json.loads(variant_raw)
        except ValueError as exc:
            raise BadMetadata(path, f"variant.json is not valid JSON ({exc})") from exc
        if len(parts) in (6, 7):
            variant_label = parts[-1]
            stem = "-".join(parts[:-1])
    try:
        _, version, build, tags = parse_wheel_filename(stem + ".whl")
    except InvalidWheelFilename as exc:
        raise BadArchive(path, f"not a valid wheel file name ({exc})") from exc
    headers = BytesParser().parsebytes(metadata, headersonly=True)
    meta_name, meta_version = headers.get("Name"), headers.get("Version")
    if not meta_name or not meta_version:
        raise BadMetadata(path, "METADATA has no Name or Version")
    if canonicalize_name(meta_name) != canonicalize_name(parts[0]):
        raise BadMetadata(path, f"METADATA names {meta_name!r}, the file name {parts[0]!r}")
    return {
        "fn": path.name,
        "name": meta_name,
        "version": str(meta_version),
        "file_version": str(version),
        "build_number": build[0] if build else 0,
        "tags": [_tag_group(stem)],
        "flat_tags": sorted(str(t) for t in tags),
        "requires_python": headers.get("Requires-Python"),
        "requires_dist": headers.get_all("Requires-Dist") or [],
        "license": headers.get("License-Expression") or headers.get("License"),
        "summary": headers.get("Summary"),
        "metadata": metadata.decode("utf-8", "surrogateescape"),
        "metadata_sha256": hashlib.sha256(metadata).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "size": len(data),
        "compiled": compiled,
        "variant_label": variant_label,
        "variant": variant,
        "timestamp": _timestamp_ms(path),
    }


def _tag_group(stem: str) -> str:
    return "-".join(stem.split("-")[-3:])


def _timestamp_ms(path: Path) -> int:
    return int(path.stat().st_mtime * 1000)
