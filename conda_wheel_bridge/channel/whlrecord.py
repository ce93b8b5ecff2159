"""A pure-Python wheel as a ``v3.whl`` repodata record (draft CEP in conda/ceps pull request 145).

Key ``{name}-{version}-{build}``, ``build`` = ``py{major}_{abi}_{platform}_{build_number}``,
``fn`` = the wheel's file name, ``subdir`` noarch, ``noarch`` python, ``depends`` from
``Requires-Python`` and ``Requires-Dist`` (markers as CEP 43 ``when=``), extras as CEP 44
``extra_depends``. Requirement translation is :mod:`conda_wheel_bridge.mapping.requirements`;
until that module is present a small built-in rule set is used (documented in docs/channel.md).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .wheelinfo import WheelFacts

__all__ = ["conda_name", "translate_requirements", "whl_build_string", "whl_record"]


def conda_name(pypi_name: str) -> str:
    """The conda name of a PyPI project: the shared name map when present, else PEP 503 form."""
    names = _name_map()
    if names is not None:
        return str(names.pypi_to_conda(pypi_name))
    return canonicalize_name(pypi_name)


def whl_build_string(facts: WheelFacts) -> str:
    """``py3_none_any_0``: highest Python major of the tags, ABI, platform, build number."""
    interp, abi, plat = facts["tags"][0].split("-")
    majors = sorted({int(c) for i in interp.split(".") for c in i[2:3] if c.isdigit()}) or [3]
    return f"py{majors[-1]}_{abi}_{plat}_{facts['build_number']}".replace(".", "_")


def whl_record(facts: WheelFacts, *, indexed_timestamp: int) -> tuple[str, dict[str, Any]]:
    """Return ``(key, record)`` for a pure-Python wheel's ``v3.whl`` entry.

    A variant wheel's properties become virtual-package ``depends`` and its rank the build
    number (:func:`conda_wheel_bridge.mapping.variants.conda_for_variant`), with the label in
    the build string, so a solver picks the variant variantlib would pick on the same host. A
    property with no conda counterpart raises :class:`~conda_wheel_bridge.errors.MappingError`.
    """
    name = conda_name(facts["name"])
    build_number = facts["build_number"]
    build = whl_build_string(facts)
    depends, extras = translate_requirements(facts["requires_dist"], facts["requires_python"])
    if facts.get("variant_label"):
        variant_depends, build_number = _variant(facts)
        depends += [d for d in variant_depends if d not in depends]
        build = build.rsplit("_", 1)[0] + f"_{facts['variant_label']}_{build_number}"
    record: dict[str, Any] = {
        "build": build,
        "build_number": build_number,
        "depends": depends,
        "fn": facts["fn"],
        "indexed_timestamp": indexed_timestamp,
        "md5": facts["md5"],
        "name": name,
        "noarch": "python",
        "sha256": facts["sha256"],
        "size": facts["size"],
        "subdir": "noarch",
        "timestamp": facts["timestamp"],
        # rattler needs a url; a relative one resolves against the subdir like ``fn`` does
        "url": facts["fn"],
        "version": facts["version"],
    }
    if extras:
        record["extra_depends"] = extras
    if facts.get("license"):
        record["license"] = facts["license"]
    return f"{name}-{facts['version']}-{build}", record


def translate_requirements(requires_dist: Iterable[str], requires_python: str | None
                           ) -> tuple[list[str], dict[str, list[str]]]:
    """``Requires-Python`` + ``Requires-Dist`` as conda ``depends`` and ``extra_depends``."""
    reqs = importlib.util.find_spec("conda_wheel_bridge.mapping.requirements")
    if reqs is not None:
        module = importlib.import_module("conda_wheel_bridge.mapping.requirements")
        if hasattr(module, "requires_dist_to_conda"):
            names = _name_map()
            result = module.requires_dist_to_conda(list(requires_dist), names=names,
                                                   environment=None)
            depends = list(result.depends)
            python = module.requires_python_to_conda(requires_python)
            if python and python not in depends:
                depends.append(python)
            return depends, {k: list(v) for k, v in result.extra_depends.items()}
    return _fallback(requires_dist, requires_python)


def _variant(facts: WheelFacts) -> tuple[list[str], int]:
    from ..mapping.variantrank import combined_build_number
    from ..mapping.variants import conda_for_variant, read_variant_json

    label = facts["variant_label"]
    desc = read_variant_json(facts["variant"] or {}, label=label, where=facts["fn"])
    built = conda_for_variant(desc, label)
    return list(built.depends), combined_build_number(built.build_number, facts["build_number"])


def _name_map() -> Any:
    if importlib.util.find_spec("conda_wheel_bridge.mapping.names") is None:
        return None
    module = importlib.import_module("conda_wheel_bridge.mapping.names")
    loader = getattr(module, "load_name_map", None)
    return loader() if loader is not None else None


# --- built-in fallback: Python-version markers, platform atoms, extras (draft CEP floor) ----------

_PLATFORM_ATOMS = {
    ("sys_platform", "win32"): "__win", ("sys_platform", "linux"): "__linux",
    ("sys_platform", "darwin"): "__osx", ("platform_system", "Windows"): "__win",
    ("platform_system", "Linux"): "__linux", ("platform_system", "Darwin"): "__osx",
    ("os_name", "nt"): "__win", ("os_name", "posix"): "__unix",
}


def _fallback(requires_dist: Iterable[str], requires_python: str | None
              ) -> tuple[list[str], dict[str, list[str]]]:
    depends: list[str] = []
    extras: dict[str, list[str]] = {}
    for text in requires_dist:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        spec = ",".join(sorted(str(s) for s in req.specifier))
        base = canonicalize_name(req.name) + (f" {spec}" if spec else "")
        if req.marker is None:
            depends.append(base)
            continue
        extra, conditions = _split_marker(req.marker)
        if conditions is None:
            continue  # a marker we cannot express: omitted (lossy, see docs/channel.md)
        dep = base + (f'[when="{" and ".join(conditions)}"]' if conditions else "")
        if extra is not None:
            extras.setdefault(extra, []).append(dep)
        else:
            depends.append(dep)
    if requires_python:
        spec = ",".join(s.strip() for s in requires_python.split(","))
        depends.append(f"python {spec}")
    return depends, extras


def _split_marker(marker: Marker) -> tuple[str | None, list[str] | None]:
    """(extra name, when= conditions) for a conjunction of simple atoms, else (None, None)."""
    markers: Any = marker._markers  # packaging keeps the parsed tree here
    extra: str | None = None
    conditions: list[str] = []
    for item in markers:
        if isinstance(item, str):
            if item != "and":
                return None, None
            continue
        if isinstance(item, list) or len(item) != 3:
            return None, None
        lhs, op, rhs = (getattr(x, "value", x) for x in item)
        if lhs == "extra" and op == "==":
            extra = str(canonicalize_name(rhs))
        elif lhs in ("python_version", "python_full_version"):
            conditions.append(f"python {op}{rhs}")
        elif op == "==" and (lhs, rhs) in _PLATFORM_ATOMS:
            conditions.append(_PLATFORM_ATOMS[(lhs, rhs)])
        else:
            return None, None
    return extra, conditions
