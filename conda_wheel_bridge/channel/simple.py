"""The channel's wheels as a static simple repository API under ``simple/``.

PEP 503 HTML and PEP 691 JSON (``index.html`` and ``index.json`` side by side, so a static host
serves both and ``cwb serve`` negotiates between them), sha256 URL fragments, ``requires-python``,
PEP 658/714 ``.metadata`` sidecars beside every wheel, and, for variant wheels,
``{name}-{version}-variants.json`` merged from the wheels' ``variant.json`` files.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..atomic import write_if_changed
from ..errors import BadMetadata

__all__ = ["API_VERSION", "merge_variants", "project_page_html", "project_page_json",
           "write_simple"]

API_VERSION = "1.1"
_VARIANT_SUFFIX = "-variants.json"


def write_simple(root: Path, wheels: Iterable[Mapping[str, Any]]) -> int:
    """Write ``root/simple/`` for ``wheels`` (facts with ``url`` relative to ``root``).

    Returns the number of wheel files listed. Unchanged files are left untouched (their ETags
    stay valid); projects that no longer have any wheel are removed.
    """
    simple = root / "simple"
    projects: dict[str, list[Mapping[str, Any]]] = {}
    for wheel in wheels:
        projects.setdefault(canonicalize_name(wheel["name"]), []).append(wheel)
        write_if_changed(root / (wheel["url"] + ".metadata"),
                          wheel["metadata"].encode("utf-8", "surrogateescape"))
    for project, files in sorted(projects.items()):
        files.sort(key=lambda f: (_version_key(f["version"]), f["fn"]))
        variants = _variants_files(files)
        folder = simple / project
        for fn, data in variants.items():
            write_if_changed(folder / fn, data)
        write_if_changed(folder / "index.html",
                          project_page_html(project, files, sorted(variants)).encode())
        write_if_changed(folder / "index.json",
                          project_page_json(project, files, variants).encode())
        for stale in folder.glob(f"*{_VARIANT_SUFFIX}"):
            if stale.name not in variants:
                stale.unlink()
    write_if_changed(simple / "index.html", _root_html(sorted(projects)).encode())
    write_if_changed(simple / "index.json", _root_json(sorted(projects)).encode())
    if simple.is_dir():
        for item in simple.iterdir():
            if item.is_dir() and item.name not in projects:
                shutil.rmtree(item)
    return sum(len(f) for f in projects.values())


def project_page_html(project: str, files: Iterable[Mapping[str, Any]],
                      variants: Iterable[str] = ()) -> str:
    """The PEP 503 page of one project (hrefs relative to ``simple/<project>/``)."""
    lines = ["<!DOCTYPE html>", "<html>", "<head>",
             f'<meta name="pypi:repository-version" content="{API_VERSION}">',
             f"<title>Links for {html.escape(project)}</title>", "</head>", "<body>",
             f"<h1>Links for {html.escape(project)}</h1>"]
    for f in files:
        attrs = [f'href="{html.escape(_href(f))}#sha256={f["sha256"]}"']
        if f.get("requires_python"):
            attrs.append(f'data-requires-python="{html.escape(f["requires_python"])}"')
        meta = f"sha256={f['metadata_sha256']}"
        attrs.append(f'data-dist-info-metadata="{meta}"')
        attrs.append(f'data-core-metadata="{meta}"')
        lines.append(f"<a {' '.join(attrs)}>{html.escape(f['fn'])}</a><br>")
    for fn in variants:
        lines.append(f'<a href="{html.escape(fn)}">{html.escape(fn)}</a><br>')
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)


def project_page_json(project: str, files: Iterable[Mapping[str, Any]],
                      variants: Mapping[str, bytes] | None = None) -> str:
    """The PEP 691 (v1.1, PEP 700) JSON page of one project."""
    entries: list[dict[str, Any]] = []
    versions: list[str] = []
    for f in files:
        entry: dict[str, Any] = {
            "filename": f["fn"],
            "url": _href(f),
            "hashes": {"sha256": f["sha256"]},
            "requires-python": f.get("requires_python"),
            # PEP 714: JSON carries only the new key; pip 22.3-23.1 crash on the old one
            "core-metadata": {"sha256": f["metadata_sha256"]},
            "size": f["size"],
            "upload-time": _iso(f.get("timestamp")),
        }
        entries.append({k: v for k, v in entry.items() if v is not None})
        if f["version"] not in versions:
            versions.append(f["version"])
    for fn, data in (variants or {}).items():
        entries.append({"filename": fn, "url": fn,
                        "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
                        "size": len(data)})
    page = {"meta": {"api-version": API_VERSION}, "name": project, "files": entries,
            "versions": versions}
    return json.dumps(page, indent=1)


def merge_variants(files: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One ``variants.json`` document from the ``variant.json`` of several variant wheels.

    Providers and default priorities must agree between the wheels; ``variants`` is their union.
    """
    merged: dict[str, Any] = {}
    for f in files:
        data = f["variant"]
        if not merged:
            merged = {k: v for k, v in data.items() if k != "variants"}
            merged["variants"] = {}
        else:
            for key in ("providers", "default-priorities"):
                if data.get(key, {}) != merged.get(key, {}):
                    raise BadMetadata(f["fn"], f"variant.json {key!r} differs from the other "
                                      "wheels of the same version")
        for label, props in data.get("variants", {}).items():
            known = merged["variants"].get(label)
            if known is not None and known != props:
                raise BadMetadata(f["fn"], f"variant label {label!r} is defined differently "
                                  "by another wheel")
            merged["variants"][label] = props
    merged["variants"] = dict(sorted(merged["variants"].items()))
    return merged


def _variants_files(files: Iterable[Mapping[str, Any]]) -> dict[str, bytes]:
    by_version: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for f in files:
        if f.get("variant"):
            dist = f["fn"].split("-", 1)[0]
            by_version.setdefault((dist, f["version"]), []).append(f)
    return {f"{dist}-{version}{_VARIANT_SUFFIX}":
            (json.dumps(merge_variants(group), indent=4) + "\n").encode()
            for (dist, version), group in sorted(by_version.items())}


def _href(f: Mapping[str, Any]) -> str:
    return "../../" + str(f["url"])


def _root_html(projects: list[str]) -> str:
    links = [f'<a href="{html.escape(p)}/">{html.escape(p)}</a><br>' for p in projects]
    return "\n".join(["<!DOCTYPE html>", "<html>", "<head>",
                      f'<meta name="pypi:repository-version" content="{API_VERSION}">',
                      "<title>Simple index</title>", "</head>", "<body>", *links,
                      "</body>", "</html>", ""])


def _root_json(projects: list[str]) -> str:
    return json.dumps({"meta": {"api-version": API_VERSION},
                       "projects": [{"name": p} for p in projects]}, indent=1)


def _iso(timestamp_ms: int | None) -> str | None:
    if not timestamp_ms:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp_ms / 1000, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)

