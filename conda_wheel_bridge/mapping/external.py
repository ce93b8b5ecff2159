"""PEP 725 external dependencies (DepURLs) <-> conda packages, through the PEP 804 mappings.

Wheel -> conda: each ``Requires-External-Dep`` DepURL (and each legacy ``Requires-External`` name)
becomes conda specs from conda-forge's PEP 804 mapping (``data/external.json``, derived by
``tools/derive_tables.py``); an unknown DepURL raises :class:`MappingError`, never dropped.
Conda -> wheel: a non-Python conda dependency becomes the DepURL that conda-forge's mapping names
for it, or ``dep:conda/<name>`` (the PURL ``conda`` type) when the mapping has none.
docs/external-dependencies.md has the table and what each direction loses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import unquote

from packaging.markers import InvalidMarker, Marker
from packaging.version import Version

from conda_wheel_bridge.errors import MappingError, NameConflict
from conda_wheel_bridge.mapping import _markers
from conda_wheel_bridge.mapping.names import NameMap, conda_name
from conda_wheel_bridge.mapping.requirements import (
    conda_spec_to_pep440,
    specifier_to_conda,
    split_matchspec,
)
from conda_wheel_bridge.model import CondaDepends

__all__ = [
    "EXTERNAL_FIELDS",
    "PROVIDES_EXTERNAL_EXTRA",
    "DepURL",
    "ExternalTranslation",
    "conda_spec_to_depurl",
    "conda_to_depurl",
    "conda_to_external",
    "depurl_to_conda",
    "external_field_values",
    "external_to_conda",
    "external_to_conda_depends",
    "parse_depurl",
]

#: Core-metadata fields that carry external dependencies: PEP 725's DepURL field (metadata 2.5)
#: and the legacy free-form field of metadata 1.2 that PEP 725 deprecates.
EXTERNAL_FIELDS: tuple[str, ...] = ("Requires-External-Dep", "Requires-External")
#: PEP 725's field naming an extra that only carries external dependencies.
PROVIDES_EXTERNAL_EXTRA = "Provides-External-Extra"

_DEP_OPERATORS = re.compile(r"^(>=|<=|==|>|<)")  # PEP 725 allows only these in a DepURL version


@dataclass(frozen=True)
class DepURL:
    """A parsed ``dep:type/namespace/name@version?qualifiers#subpath``."""

    type: str
    namespace: str
    name: str
    version: str = ""
    qualifiers: str = ""
    subpath: str = ""

    @property
    def id(self) -> str:
        """The versionless identifier, as the PEP 804 registry and mappings spell it."""
        path = "/".join(p for p in (self.type, self.namespace, self.name) if p)
        return f"dep:{path}" + (f"?{self.qualifiers}" if self.qualifiers else "")

    def __str__(self) -> str:
        text = "dep:" + "/".join(p for p in (self.type, self.namespace, self.name) if p)
        text += f"@{self.version}" if self.version else ""
        text += f"?{self.qualifiers}" if self.qualifiers else ""
        return text + (f"#{self.subpath}" if self.subpath else "")


def parse_depurl(text: str) -> DepURL:
    """Parse a DepURL (without its ``; marker``); raises :class:`MappingError` if it is not one."""
    raw = text.strip()
    if not raw.startswith("dep:"):
        raise MappingError(text, "not a DepURL (must start with 'dep:')")
    rest, _, subpath = raw[4:].partition("#")
    rest, _, qualifiers = rest.partition("?")
    path, at, version = rest.rpartition("@")
    if not at:
        path, version = rest, ""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) < 2:
        raise MappingError(text, "a DepURL needs a type and a name (dep:type/name)")
    return DepURL(
        type=parts[0].lower(),
        namespace="/".join(parts[1:-1]),
        name=parts[-1],
        version=unquote(version).strip(),
        qualifiers=qualifiers,
        subpath=subpath,
    )


@cache
def _tables() -> dict[str, Any]:
    blob = (resources.files("conda_wheel_bridge.mapping") / "data" / "external.json").read_bytes()
    data: dict[str, Any] = json.loads(blob)
    return data


def _conda_version(version: str, where: str) -> str:
    """A DepURL version (a literal, or PEP 440 ranges) as a conda version spec."""
    if not version:
        return ""
    spec = version if _DEP_OPERATORS.match(version) else f"=={version}"
    try:
        conda, _ = specifier_to_conda(spec)
    except MappingError:
        raise MappingError(where, f"version {version!r} is neither a version nor a range") from None
    return conda


def _with_version(spec: str, version: str) -> str:
    """Add conda version constraints to a mapped spec.

    A build-pinned spec (``libblas * *_openblas``) selects an implementation through a proxy
    package whose version is not the library's, so it keeps no version (docs say so).
    """
    name, *rest = spec.split()
    if not version or len(rest) >= 2:
        return spec
    current = rest[0] if rest else "*"
    merged = version if current == "*" else f"{current},{version}"
    return " ".join([name, merged, *rest[1:]])


def _alternatives(dep_id: str) -> list[list[str]] | None:
    table: dict[str, list[list[str]]] = _tables()["conda_forge"]
    if dep_id in table:
        return table[dep_id]
    folded = {k.lower(): v for k, v in table.items()}
    return folded.get(dep_id.lower())


def _resolve(dep: DepURL, seen: frozenset[str] = frozenset()) -> list[str]:
    for dep_id in dict.fromkeys([dep.id, DepURL(dep.type, dep.namespace, dep.name).id]):
        found = _alternatives(dep_id)
        if found is not None:
            if not found:
                raise MappingError(str(dep), "the conda-forge mapping lists no package for it")
            return found[0]
    provides: dict[str, list[str]] = _tables()["provides"]
    for dep_id in (dep.id, DepURL(dep.type, dep.namespace, dep.name).id):
        # registry aliases (dep:github/OpenMathLib/OpenBLAS provides dep:generic/openblas):
        # a concrete package first, the virtual interface it implements last
        for target in sorted(provides.get(dep_id, []), key=lambda t: t.startswith("dep:virtual/")):
            if target not in seen:
                try:
                    return _resolve(parse_depurl(target), seen | {dep_id})
                except MappingError:
                    continue
    raise MappingError(str(dep), "no conda package known for it (PEP 804 conda-forge mapping)")


def depurl_to_conda(depurl: str, *, names: NameMap | None = None) -> tuple[str, ...]:
    """The conda specs that provide a DepURL: ``"dep:generic/zlib@>=1.2"`` -> ``("zlib >=1.2",)``.

    ``dep:conda/NAME`` is the conda package itself and ``dep:pypi/NAME`` goes through ``names``;
    anything else through conda-forge's PEP 804 mapping (its first, main alternative).
    """
    dep = parse_depurl(depurl)
    version = _conda_version(dep.version, depurl)
    if dep.type == "conda":
        specs = [conda_name(dep.name)]
    elif dep.type == "pypi":
        if names is None:
            raise MappingError(depurl, "a dep:pypi DepURL needs a name map")
        specs = [names.pypi_to_conda(dep.name)]
    else:
        specs = _resolve(dep)
    return tuple(_with_version(spec, version) for spec in specs)


_LEGACY = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._+-]*)\s*(?:\((?P<version>[^)]*)\))?\s*$")


def _legacy_to_conda(value: str) -> tuple[str, ...]:
    """A ``Requires-External`` value (``libpng (>=1.5)``) read as ``dep:generic/<name>``."""
    m = _LEGACY.match(value)
    if not m:
        raise MappingError(value, "Requires-External value is not 'name' or 'name (version)'")
    version = (m.group("version") or "").replace(" ", "")
    try:
        return depurl_to_conda(
            f"dep:generic/{m.group('name').lower()}" + (f"@{version}" if version else "")
        )
    except MappingError as exc:
        raise MappingError(value, f"Requires-External: {exc.reason}") from None


def external_field_values(metadata: Any) -> list[str]:
    """The external-dependency values to translate from a wheel's core metadata.

    ``metadata`` is an ``email.message.Message`` (or anything with ``get_all``). When the PEP 725
    field ``Requires-External-Dep`` is present, the legacy ``Requires-External`` values are its
    copies for older readers and are skipped, unless they are DepURLs themselves; without it, the
    legacy values are read (as ``dep:generic/<name>``).
    """
    dep = [str(v) for v in metadata.get_all("Requires-External-Dep") or []]
    legacy = [str(v) for v in metadata.get_all("Requires-External") or []]
    if dep:
        legacy = [v for v in legacy if v.strip().startswith("dep:")]
    return list(dict.fromkeys([*dep, *legacy]))


def external_to_conda_depends(
    values: Iterable[str],
    *,
    environment: Mapping[str, str] | None = None,
    names: NameMap | None = None,
) -> CondaDepends:
    """External-dependency field values of a wheel as conda ``depends`` and ``extra_depends``.

    DepURLs (``Requires-External-Dep``) and legacy names (``Requires-External``) are both accepted.
    Markers are evaluated for ``environment`` or become ``when=`` conditions; a marker conda cannot
    say keeps the dependency unconditional (a missing library breaks more than an extra one).
    ``extra == "x"`` (a ``Provides-External-Extra`` group) goes to ``extra_depends["x"]``.
    An unknown DepURL raises :class:`MappingError`.
    """
    depends: list[str] = []
    extras: dict[str, list[str]] = {}
    for raw in values:
        text, _, marker_text = raw.partition(";")
        marker: Marker | None = None
        if marker_text.strip():
            try:
                marker = Marker(marker_text.strip())
            except InvalidMarker as exc:
                raise MappingError(raw, f"invalid marker: {exc}") from None
        text = text.strip()
        specs = (
            depurl_to_conda(text, names=names)
            if text.startswith("dep:")
            else _legacy_to_conda(text)
        )
        base = _markers.translate(marker, environment, extra=None)
        groups = sorted(_markers.mentioned_extras(marker)) if marker is not None else []
        for extra in [None, *groups]:
            condition = (
                base if extra is None else _markers.translate(marker, environment, extra=extra)
            )
            if extra is not None and condition == base:
                continue
            if condition.unknown:
                condition = _markers.TRUE
            if condition == _markers.FALSE:
                continue
            target = depends if extra is None else extras.setdefault(extra, [])
            for spec in specs:
                entry = spec if condition.is_true else f'{spec}[when="{condition.text}"]'
                if entry not in target:
                    target.append(entry)
    return CondaDepends(tuple(depends), {k: tuple(v) for k, v in sorted(extras.items())})


def external_to_conda(
    values: Iterable[str],
    *,
    environment: Mapping[str, str] | None = None,
    names: NameMap | None = None,
) -> tuple[str, ...]:
    """External-dependency field values of a wheel as conda ``depends`` (see
    :func:`external_to_conda_depends`, which also returns the ``extra == "x"`` groups)."""
    return external_to_conda_depends(values, environment=environment, names=names).depends


# --- conda -> DepURL ---------------------------------------------------------------------------


@cache
def _reverse() -> tuple[dict[str, tuple[str, ...]], dict[tuple[str, str], tuple[str, ...]]]:
    """conda name -> DepURL ids (bare specs), and (name, build) -> ids (build-pinned specs)."""
    bare: dict[str, list[str]] = {}
    pinned: dict[tuple[str, str], list[str]] = {}
    tables = _tables()
    for dep_id, alternatives in tables["conda_forge"].items():
        for alternative in alternatives:
            for spec in alternative:
                name, *rest = spec.split()
                if len(rest) >= 2:
                    pinned.setdefault((name, rest[1]), []).append(dep_id)
                else:
                    bare.setdefault(name, []).append(dep_id)
    for name, dep_id in tables["curated_reverse"].items():
        bare.setdefault(name, [dep_id])

    def best(ids: list[str]) -> tuple[str, ...]:
        unique = list(dict.fromkeys(ids))
        concrete = [i for i in unique if not i.startswith("dep:virtual/")]
        return tuple(concrete or unique)

    return (
        {k: best(v) for k, v in bare.items()},
        {k: best(v) for k, v in pinned.items()},
    )


def conda_to_depurl(name: str) -> str | None:
    """The DepURL conda-forge's mapping gives conda package ``name`` (``libzlib`` -> zlib's).

    ``None`` when the mapping has none; :class:`NameConflict` when several DepURLs claim it.
    """
    bare, _ = _reverse()
    ids = bare.get(conda_name(name))
    if not ids:
        return None
    if len(ids) > 1:
        raise NameConflict(name, f"several DepURLs map to this conda package: {', '.join(ids)}")
    return ids[0]


def _depurl_version(version: str) -> str:
    """A conda version spec as a DepURL version range, or ``""`` when PEP 725 cannot say it."""
    try:
        pep = conda_spec_to_pep440(version)
    except MappingError:
        return ""
    clauses: list[str] = []
    for clause in (c for c in pep.split(",") if c):
        if clause.startswith("==") and clause.endswith(".*"):  # ==1.2.* is [1.2.dev0, 1.3.dev0)
            star = Version(clause[2:-2])
            upper = [*star.release[:-1], star.release[-1] + 1]
            epoch = f"{star.epoch}!" if star.epoch else ""
            clauses.append(f">={epoch}{'.'.join(map(str, star.release))}.dev0")
            clauses.append(f"<{epoch}{'.'.join(map(str, upper))}.dev0")
        else:
            clauses.append(clause)
    if any(not _DEP_OPERATORS.match(c) or "*" in c for c in clauses):
        return ""
    return ",".join(clauses)


def conda_spec_to_depurl(spec: str) -> tuple[str, bool]:
    """A conda MatchSpec as a DepURL, and whether its version constraint survived.

    A build-pinned spec (``libblas * *_openblas``) maps by name and build; an unmapped package
    becomes ``dep:conda/<name>``.
    """
    name, version, build, _ = split_matchspec(spec)
    _, pinned = _reverse()
    by_build = [ids for (n, pattern), ids in pinned.items() if n == name and pattern == build]
    if build and build != "*" and by_build and len(by_build[0]) == 1:
        return by_build[0][0], not version or version == "*"
    dep_id = conda_to_depurl(name) or f"dep:conda/{name}"
    if not version or version == "*":
        return dep_id, True
    if "?" in dep_id:
        return dep_id, False
    pep = _depurl_version(version)
    return (f"{dep_id}@{pep}" if pep else dep_id), bool(pep)


@dataclass(frozen=True)
class ExternalTranslation:
    """Non-Python conda depends as ``Requires-External-Dep`` and ``Requires-External`` values."""

    requires_external_dep: tuple[str, ...] = ()
    requires_external: tuple[str, ...] = ()
    losses: tuple[str, ...] = ()


def conda_to_external(specs: Iterable[str]) -> ExternalTranslation:
    """Conda specs of non-Python packages as PEP 725 DepURLs plus legacy ``Requires-External``."""
    deps: list[str] = []
    legacy: list[str] = []
    losses: list[str] = []
    for spec in specs:
        name, version, _, keys = split_matchspec(spec)
        if name.startswith("__"):
            raise MappingError(
                spec, "a virtual package is no external dependency (tags / variants)"
            )
        depurl, kept = conda_spec_to_depurl(spec)
        if not kept:
            losses.append(f"{spec!r}: version {version!r} has no DepURL form; dropped")
        if "when" in keys:
            try:
                depurl += f"; {_markers.condition_to_marker(keys['when'])}"
            except MappingError as exc:
                losses.append(f"{spec!r}: when={keys['when']!r}: {exc.reason}; kept unconditional")
        if depurl not in deps:
            deps.append(depurl)
        pep = _depurl_version(version) if version and version != "*" else ""
        entry = f"{name} ({pep})" if pep else name
        if entry not in legacy:
            legacy.append(entry)
    return ExternalTranslation(tuple(deps), tuple(legacy), tuple(losses))
