"""A pure-Python wheel as a ``v3.whl`` repodata record (draft CEP in conda/ceps pull request 145).

Key ``{name}-{version}-{build}``, ``build`` = ``py{major}_{abi}_{platform}_{build_number}``,
``fn`` = the wheel's file name, ``subdir`` noarch, ``noarch`` python, ``depends`` from
``Requires-Python`` and ``Requires-Dist`` (markers as CEP 43 ``when=``), extras as CEP 44
``extra_depends``, translated by :mod:`conda_wheel_bridge.mapping.requirements` and the shared
name map.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from ..mapping.names import NameMap, load_name_map
from ..mapping.requirements import requires_dist_to_conda, requires_python_to_conda
from ..mapping.variantrank import combined_build_number
from ..mapping.variants import conda_for_variant, read_variant_json
from .wheelinfo import WheelFacts

__all__ = ["conda_name", "translate_requirements", "whl_build_string", "whl_record"]


def conda_name(pypi_name: str) -> str:
    """The conda name of a PyPI project, through the shared name map."""
    return str(_names().pypi_to_conda(pypi_name))


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
    """``Requires-Python`` + ``Requires-Dist`` as conda ``depends`` and ``extra_depends``, with
    markers kept as CEP 43 ``when=`` conditions (the target is noarch, so nothing is fixed)."""
    result = requires_dist_to_conda(list(requires_dist), names=_names(), environment=None)
    depends = list(result.depends)
    python = requires_python_to_conda(requires_python)
    if python and python not in depends:
        depends.append(python)
    return depends, {k: list(v) for k, v in result.extra_depends.items()}


def _variant(facts: WheelFacts) -> tuple[list[str], int]:
    label = facts["variant_label"]
    desc = read_variant_json(facts["variant"] or {}, label=label, where=facts["fn"])
    built = conda_for_variant(desc, label)
    return list(built.depends), combined_build_number(built.build_number, facts["build_number"])


@functools.cache
def _names() -> NameMap:
    return load_name_map()
