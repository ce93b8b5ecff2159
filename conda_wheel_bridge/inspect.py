"""One artifact (a wheel or a conda package) described in both vocabularies.

:func:`inspect_artifact` reads the file once (streamed) and returns plain data: what the artifact
says about itself, and what the other world would see (the conda package a wheel becomes, the
wheel a conda package becomes). :func:`format_text` renders it for people; ``--json`` prints it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pkginfo

from .condameta import header_mapping
from .condasource import CondaPackage, PayloadMember, is_conda_package, scan_conda
from .errors import BadArchive, CwbError
from .mapping.names import NameMap, load_name_map
from .wheelname import parse_wheel_filename

if TYPE_CHECKING:
    from .to_wheel import PythonLayout

__all__ = ["format_text", "inspect_artifact"]

_DIST_METADATA = re.compile(r"(?:^|/)[^/]+\.(?:dist-info|egg-info)(?:/|$)")


def inspect_artifact(path: str | Path, *, names: NameMap | None = None) -> dict[str, Any]:
    """Describe ``path`` as ``{"file", "kind", "wheel": {...}, "conda": {...}}``.

    The side the artifact is native to is always filled; the other side holds the translation, or
    ``{"error": reason}`` when there is none (a musllinux wheel, a conda package without Python).
    """
    source = Path(path)
    if not source.is_file():
        raise BadArchive(source, "no such file")
    names = names if names is not None else load_name_map()
    if source.name.endswith(".whl"):
        return _inspect_wheel(source, names)
    if is_conda_package(source):
        return _inspect_conda(source, names)
    raise BadArchive(source, "not a wheel (.whl) or a conda package (.conda, .tar.bz2)")


def _inspect_wheel(source: Path, names: NameMap) -> dict[str, Any]:
    from .wheelfile import open_wheel

    with open_wheel(source) as reader:
        info = reader.info
    meta = _core_metadata(info.metadata_bytes)
    wheel = {
        "name": meta.name,
        "version": info.version,
        "build": info.filename.build,
        "tags": sorted(str(t) for t in info.filename.tags),
        "variant_label": info.filename.variant_label,
        "metadata_version": meta.metadata_version,
        "summary": meta.summary,
        "license": info.license_expression or meta.license,
        "requires_python": info.requires_python,
        "requires_dist": info.requires_dist,
        "requires_external": [
            *meta.requires_external,
            # PEP 725's field is newer than the metadata versions pkginfo knows
            *header_mapping(info.metadata_bytes).get("requires-external-dep", []),
        ],
        "provides_extra": list(meta.provides_extras),
        "entry_points": {g: dict(e) for g, e in info.entry_points.items()},
        "variant": _variant_of_wheel(info.variant_json, info.filename.variant_label),
    }
    try:
        conda: Any = _conda_side_of_wheel(info, names)
    except CwbError as exc:
        conda = {"error": exc.reason}
    return {"file": source.name, "kind": "wheel", "wheel": wheel, "conda": conda}


def _conda_side_of_wheel(info: Any, names: NameMap) -> list[dict[str, Any]]:
    """One conda package per subdir the wheel reaches, as ``cwb convert`` would write it."""
    from .convert import wheel_depends, wheel_variant
    from .mapping.platform import targets_for_wheel

    where = str(info.path)
    variant = wheel_variant(info, where)
    out = []
    for target in targets_for_wheel(info.filename.tags, info.requires_python, where=where):
        depends, extras, losses = wheel_depends(info, target, names, where, variant)
        out.append({
            "name": names.pypi_to_conda(info.name),
            "version": info.version,
            "subdir": target.subdir,
            "noarch": "python" if target.noarch_python else None,
            "depends": depends,
            "extra_depends": extras,
            "site_packages": target.site_packages,
            "variant_build_label": variant.label,
            "losses": list(losses),
        })
    return out


def _variant_of_wheel(data: Mapping[str, Any] | None, label: str | None) -> dict[str, Any] | None:
    if data is None:
        return None
    from .mapping.variantjson import read_variant_json

    desc = read_variant_json(dict(data))
    return {"label": label or desc.label, "properties": [str(p) for p in desc.properties]}


def _inspect_conda(source: Path, names: NameMap) -> dict[str, Any]:
    """Both sides from one read of the package: ``info/`` and the layout found once and handed to
    the wheel side, whose METADATA comes from the dist-info met in the same pass (a ``.tar.bz2``
    is decompressed once, see :func:`scan_conda`)."""
    from .to_wheel import python_layout, wheel_core_metadata, wheel_name_for_conda

    def both_sides(info: CondaPackage, payload: Iterator[PayloadMember]) -> tuple[
            CondaPackage, PythonLayout | None, tuple[bytes, str] | CwbError]:
        layout = python_layout(info)
        try:
            return info, layout, wheel_core_metadata(info, layout, names, payload=payload)
        except CwbError as exc:
            return info, layout, exc

    info, layout, core = scan_conda(source, both_sides, keep=_in_dist_metadata, complete=False)
    conda = {
        "name": info.name,
        "version": info.version,
        "build": info.build,
        "build_number": info.build_number,
        "subdir": info.subdir,
        "noarch": info.noarch,
        "depends": list(info.depends),
        "constrains": list(info.constrains),
        "license": info.index.get("license") or info.about.get("license"),
        "summary": info.about.get("summary"),
        "entry_points": list(info.entry_points),
        "files": len(info.paths) if info.paths is not None else None,
        "python_distribution": (f"{layout.site_packages}/{layout.dist_dir}"
                                if layout and layout.dist_dir else None),
    }
    wheel: dict[str, Any]
    try:
        if isinstance(core, CwbError):
            raise core
        wheel = _wheel_side_of_conda(info, *core)
        wheel["name"] = wheel["name"] or wheel_name_for_conda(info, names)
        if layout is None or layout.dist_dir is None:
            wheel["convertible"] = False
            wheel["reason"] = "no Python distribution: only --metadata-only applies"
        else:
            wheel["convertible"] = True
    except CwbError as exc:
        wheel = {"error": exc.reason}
    return {"file": source.name, "kind": "conda", "conda": conda, "wheel": wheel}


def _in_dist_metadata(path: str) -> bool:
    """Whether ``path`` may belong to a ``.dist-info``/``.egg-info``: the files the wheel side
    reads, kept while a ``.tar.bz2`` streams past (any such directory: the layout comes later)."""
    return _DIST_METADATA.search(path) is not None


def _wheel_side_of_conda(info: Any, metadata: bytes, filename: str) -> dict[str, Any]:
    """The wheel a conversion would write: its METADATA, and the tags of its file name (which
    follow a WHEEL file the package carries, as the converter does)."""
    from .mapping.variants import variant_properties_for_conda

    meta = _core_metadata(metadata)
    return {
        "name": meta.name,
        "version": meta.version,
        "tags": sorted(str(t) for t in parse_wheel_filename(filename).tags),
        "metadata_version": meta.metadata_version,
        "summary": meta.summary,
        "license": meta.license_expression or meta.license,
        "requires_python": meta.requires_python,
        "requires_dist": list(meta.requires_dist),
        "requires_external": list(meta.requires_external),
        "provides_extra": list(meta.provides_extras),
        "variant_properties": [str(p) for p in variant_properties_for_conda(info.depends)],
    }


def _core_metadata(data: bytes) -> pkginfo.Distribution:
    """Core metadata fields, read leniently (any Metadata-Version from 1.0 on) for reporting:
    inspect shows what a document says, where the converters parse strictly what they write."""
    meta = pkginfo.Distribution()
    meta.parse(data)
    return meta


def format_text(report: Mapping[str, Any]) -> str:
    """A report as aligned ``key  value`` lines, the native side first."""
    kind = "wheel" if report["kind"] == "wheel" else "conda package"
    lines = [f"{report['file']}  ({kind})"]
    order = ("wheel", "conda") if report["kind"] == "wheel" else ("conda", "wheel")
    for side in order:
        value = report[side]
        blocks = value if isinstance(value, list) else [value]
        for i, block in enumerate(blocks):
            title = f"{side} view" if side != order[0] else side
            if len(blocks) > 1:
                title += f" [{block.get('subdir', i)}]"
            lines.append(f"{title}:")
            lines += _block(block)
    return "\n".join(lines) + "\n"


def _block(block: Mapping[str, Any]) -> list[str]:
    out = []
    for key, value in block.items():
        if value in (None, [], {}):
            continue
        label = key.replace("_", " ")
        if isinstance(value, Mapping):
            items: Sequence[str] = [f"{k}: {v}" if not isinstance(v, Mapping) else
                                    f"{k}: " + ", ".join(f"{a} = {b}" for a, b in v.items())
                                    for k, v in value.items()]
        elif isinstance(value, list):
            items = [str(v) for v in value]
        else:
            items = [str(value).lower() if isinstance(value, bool) else str(value)]
        out.append(f"  {label:<20}{items[0]}")
        out += [f"  {'':<20}{item}" for item in items[1:]]
    return out
