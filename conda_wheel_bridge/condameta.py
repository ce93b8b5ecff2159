"""Core metadata for a conda package: the METADATA (or egg-info PKG-INFO) it carries, completed.

Fields the distribution already declares are kept byte for byte; fields it lacks are filled from
``info/index.json`` and ``info/about.json`` (summary, URLs, license, description), from the conda
dependencies (Requires-Dist, Requires-Python, Requires-External) and the setuptools placeholder
value ``UNKNOWN`` is dropped. ``Metadata-Version`` is raised to the lowest version that has every
field written.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .condasource import CondaPackage
from .errors import BadMetadata

__all__ = [
    "MetadataAdditions",
    "compose_metadata",
    "egg_requires_to_requires_dist",
    "missing_requirements",
]

#: the core-metadata version that introduced each field we may add (packaging.metadata's table)
_FIELD_VERSION = {
    "summary": "1.0", "home-page": "1.0", "license": "1.0", "description": "1.0",
    "requires-dist": "1.2", "requires-python": "1.2", "requires-external": "1.2",
    "project-url": "1.2", "provides-extra": "2.1", "description-content-type": "2.1",
    "license-expression": "2.4",
}
_VALID_VERSIONS = ("1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5")
_PLACEHOLDER = "UNKNOWN"


@dataclass(frozen=True)
class MetadataAdditions:
    """What the conda side adds to a distribution's metadata (each used only where it is absent)."""

    name: str
    version: str
    requires_dist: Sequence[str] = ()
    requires_python: str | None = None
    requires_external: Sequence[str] = ()
    provides_extra: Sequence[str] = ()
    #: marker environment of a fixed target (platform builds), None for noarch
    marker_environment: Mapping[str, str] | None = None
    extra_headers: Sequence[tuple[str, str]] = ()


def compose_metadata(base: bytes | None, package: CondaPackage, add: MetadataAdditions) -> bytes:
    """The METADATA document for ``package``: ``base`` (carried METADATA/PKG-INFO) completed."""
    original, body = _parse(package, base) if base else ([], "")
    headers = [(k, v) for k, v in original if v.strip() != _PLACEHOLDER]
    present = {k.lower() for k, _ in headers}
    out = list(headers)

    def put(key: str, value: str | None) -> None:
        if value and key.lower() not in present:
            out.append((key, value))

    if not base:
        out.append(("Metadata-Version", "2.1"))
        out.append(("Name", add.name))
        out.append(("Version", _pep440(package, add.version)))
        present.update({"metadata-version", "name", "version"})
    about = package.about
    put("Summary", _one_line(about.get("summary")))
    if "home-page" not in present and "project-url" not in present:
        for label, key in (("Homepage", "home"), ("Documentation", "doc_url"),
                           ("Source", "dev_url")):
            if isinstance(about.get(key), str) and about[key].strip():
                out.append(("Project-URL", f"{label}, {about[key].strip()}"))
    license_classifier = any(k.lower() == "classifier" and v.strip().startswith("License ::")
                             for k, v in headers)
    if not present & {"license", "license-expression"} and not license_classifier:
        version = next((v.strip() for k, v in headers if k.lower() == "metadata-version"
                        and v.strip() in _VALID_VERSIONS), None)
        out.extend(_license(package, version))
    declared = [v for k, v in headers if k.lower() == "requires-dist"]
    out += [("Requires-Dist", r) for r in
            missing_requirements(declared, add.requires_dist, add.marker_environment)]
    known = {canonicalize_name(v.strip()) for k, v in headers if k.lower() == "provides-extra"}
    for extra in add.provides_extra:
        if canonicalize_name(extra) not in known:
            known.add(canonicalize_name(extra))
            out.append(("Provides-Extra", extra))
    put("Requires-Python", add.requires_python)
    if "requires-external" not in present:
        out += [("Requires-External", r) for r in add.requires_external]
    for key, value in add.extra_headers:
        put(key, value)
    description = about.get("description")
    if not body.strip() and "description" not in present and isinstance(description, str):
        body = description.strip() + "\n"
        put("Description-Content-Type", "text/plain")
    if base and out == original:
        return base  # nothing to complete: the distribution's own bytes, line endings and all
    out = _with_version(out)
    text = "".join(f"{k}: {v}\n" for k, v in out)
    if body:
        text += "\n" + body
    return text.encode("utf-8")


def missing_requirements(declared: Sequence[str], conda: Sequence[str],
                         environment: Mapping[str, str] | None) -> list[str]:
    """The conda-derived requirements that ``declared`` (the distribution's own) lacks.

    A conditional conda requirement is covered by any declared one of the same name. An
    unconditional one is covered only by a declared one that applies here: without a marker, or
    with a marker true in ``environment`` (a fixed target); an ``extra`` never applies. So a
    dependency conda always installs stays a dependency of the wheel.
    """
    names: set[str] = set()
    applying: set[str] = set()
    for text in declared:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            names.add(_req_name(text))
            continue
        name = canonicalize_name(req.name)
        names.add(name)
        if req.marker is None or (environment is not None and "extra" not in str(req.marker)
                                  and req.marker.evaluate(dict(environment))):
            applying.add(name)
    out = []
    for text in conda:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if (name in names) if req.marker is not None else (name in applying):
            continue
        out.append(text)
    return out


def egg_requires_to_requires_dist(text: str) -> tuple[list[str], list[str]]:
    """(Requires-Dist lines, Provides-Extra names) from an egg-info ``requires.txt``.

    Sections are ``[extra]``, ``[:marker]`` or ``[extra:marker]`` as setuptools writes them.
    """
    requires: list[str] = []
    extras: list[str] = []
    extra, marker = "", ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            extra, _, marker = line[1:-1].partition(":")
            extra, marker = extra.strip(), marker.strip()
            if extra and extra not in extras:
                extras.append(extra)
            continue
        wrapped = marker.startswith("(") and marker.endswith(")")
        conditions = [marker if wrapped else f"({marker})"] if marker else []
        if extra:
            conditions.append(f'extra == "{extra}"')
        requires.append(line + ("; " + " and ".join(conditions) if conditions else ""))
    return requires, extras


def _parse(package: CondaPackage, data: bytes) -> tuple[list[tuple[str, str]], str]:
    """Headers in order (values as written, folding included) and the body."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadMetadata(package.source, f"the carried METADATA is not UTF-8 ({exc})") from exc
    msg = email.parser.Parser(policy=email.policy.compat32).parsestr(text)
    headers = [(k, str(v)) for k, v in msg.items()]
    for key in ("Name", "Version"):
        if not msg.get(key):
            raise BadMetadata(package.source, f"the carried METADATA has no {key}")
    payload = msg.get_payload()
    return headers, payload if isinstance(payload, str) else ""


def _with_version(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Set Metadata-Version to the lowest version that has every field present."""
    items = list(headers)
    declared = next((v.strip() for k, v in items if k.lower() == "metadata-version"), "1.0")
    needed = [declared if declared in _VALID_VERSIONS else "2.1"]
    needed += [_FIELD_VERSION[k.lower()] for k, _ in items if k.lower() in _FIELD_VERSION]
    version = max(needed, key=Version)
    rest = [(k, v) for k, v in items if k.lower() != "metadata-version"]
    return [("Metadata-Version", version), *rest]


def _license(package: CondaPackage, declared: str | None) -> list[tuple[str, str]]:
    """The conda license: ``License-Expression`` when it is SPDX and the document is new enough
    (a carried METADATA older than 2.4 gets the free-text ``License`` so its version stays)."""
    value = package.index.get("license") or package.about.get("license")
    if not isinstance(value, str) or not value.strip():
        return []
    if declared is not None and Version(declared) < Version("2.4"):
        return [("License", _one_line(value) or value.strip())]
    try:
        from packaging.licenses import canonicalize_license_expression

        return [("License-Expression", canonicalize_license_expression(value.strip()))]
    except (ImportError, ValueError):
        return [("License", _one_line(value) or value.strip())]


def _pep440(package: CondaPackage, version: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:
        raise BadMetadata(package.source, f"version {version!r} is not a PEP 440 version; "
                                          "no wheel can carry it") from None


def _one_line(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return re.sub(r"\s+", " ", value).strip()


def _req_name(requirement: str) -> str:
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return canonicalize_name(re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0])


def header_mapping(data: bytes) -> Mapping[str, list[str]]:
    """Lower-cased field name -> values, for tests and ``cwb inspect``."""
    msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)
    out: dict[str, list[str]] = {}
    for key, value in msg.items():
        out.setdefault(key.lower(), []).append(str(value))
    return out
