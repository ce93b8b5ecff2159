"""PyPI <-> conda package names, in layers: user overlay > shipped tables > normalised fallback.

The shipped tables (``data/names.json.gz``, derived by ``tools/derive_tables.py``) hold only the
names the fallback would get wrong: PyPI -> conda pairs from conda-forge's grayskull table, and
conda -> PyPI facts from parselmouth (which conda packages hold which distributions, and which hold
none). A name that maps ambiguously raises :class:`~conda_wheel_bridge.errors.NameConflict` naming
the candidates, unless the overlay settles it; :meth:`NameMap.conflicts` lists every such case.

Overlay file (JSON)::

    {"pypi_to_conda": {"torch": "pytorch-cpu"},
     "conda_to_pypi": {"py-opencv": "opencv-python-headless", "my-c-lib": null}}

``null`` on the conda side says "not a Python package".
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from conda_wheel_bridge.errors import BadMetadata, NameConflict

__all__ = [
    "NameEntry",
    "NameMap",
    "conda_name",
    "load_name_map",
]

_TABLE = "names.json.gz"


def conda_name(name: str) -> str:
    """A name as conda spells it: lower case, otherwise unchanged (conda keeps ``_`` and ``.``)."""
    return name.strip().lower()


@dataclass(frozen=True)
class NameEntry:
    """One ambiguous or conflicting name: which side, the name, the candidates, and why."""

    side: str  # "pypi" (a PyPI name with several conda candidates) or "conda"
    name: str
    candidates: tuple[str, ...]
    reason: str

    def __str__(self) -> str:
        return f"{self.side} name {self.name!r}: {self.reason} ({', '.join(self.candidates)})"


@dataclass(frozen=True, eq=False)
class NameMap:
    """Layered PyPI <-> conda name map; see the module docstring for the layers and the overlay.

    Immutable; hashed by identity (its tables are large mappings), so it can key a cache.
    """

    pypi_to_conda_table: Mapping[str, str] = field(default_factory=dict, repr=False)
    conda_to_pypi_table: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    conda_claims: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    pypi_ambiguous: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    non_python: frozenset[str] = field(default=frozenset(), repr=False)
    overlay_pypi_to_conda: Mapping[str, str] = field(default_factory=dict)
    overlay_conda_to_pypi: Mapping[str, str | None] = field(default_factory=dict)
    _reverse: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        merged = {**self.pypi_to_conda_table, **self.overlay_pypi_to_conda}
        reverse: dict[str, set[str]] = {}
        for conda, pypis in self.conda_claims.items():
            reverse[conda] = {p for p in pypis if merged.get(p, p) == conda or p not in merged}
        for pypi, conda in merged.items():
            reverse.setdefault(conda, set()).add(pypi)
        frozen = {c: tuple(sorted(p)) for c, p in reverse.items() if p}
        object.__setattr__(self, "_reverse", frozen)

    def pypi_to_conda(self, name: str) -> str:
        """The conda package that provides PyPI distribution ``name``.

        Raises :class:`NameConflict` when several conda packages hold it and none is its own.
        """
        key = canonicalize_name(name)
        if key in self.overlay_pypi_to_conda:
            return self.overlay_pypi_to_conda[key]
        if key in self.pypi_ambiguous:
            raise NameConflict(name, _ambiguous("pypi", self.pypi_ambiguous[key]))
        return self.pypi_to_conda_table.get(key, str(key))

    def conda_to_pypi(self, name: str) -> str | None:
        """The PyPI distribution held by conda package ``name``; ``None`` for a non-Python package.

        Raises :class:`NameConflict` when the tables name several distributions and nothing
        (overlay, the PyPI -> conda table, the package's own name) singles one out.
        """
        key = conda_name(name)
        if key in self.overlay_conda_to_pypi:
            return self.overlay_conda_to_pypi[key]
        if key.startswith("__") or key in self.non_python:
            return None
        candidates = self.conda_to_pypi_table.get(key)
        reverse = self._reverse.get(key, ())
        if candidates is None:
            if len(reverse) > 1:
                raise NameConflict(name, _ambiguous("conda", reverse))
            return reverse[0] if reverse else str(canonicalize_name(key))
        narrowed = candidates
        for keep in (set(reverse), {str(canonicalize_name(key))}):
            if len(narrowed) > 1 and keep & set(narrowed):
                narrowed = tuple(c for c in narrowed if c in keep)
        if len(narrowed) == 1:
            return narrowed[0]
        raise NameConflict(name, _ambiguous("conda", candidates))

    def conflicts(self) -> tuple[NameEntry, ...]:
        """Every ambiguous or contradictory entry of the tables that the overlay does not settle."""
        found: list[NameEntry] = []
        several = {c for c, p in self._reverse.items() if len(p) > 1}
        several |= {c for c, p in self.conda_to_pypi_table.items() if len(p) > 1}
        for conda in sorted(several - set(self.overlay_conda_to_pypi)):
            try:
                self.conda_to_pypi(conda)
            except NameConflict:
                candidates = self.conda_to_pypi_table.get(conda) or self._reverse[conda]
                found.append(
                    NameEntry("conda", conda, candidates, "several PyPI names, none singled out")
                )
        for pypi, holders in sorted(self.pypi_ambiguous.items()):
            if pypi not in self.overlay_pypi_to_conda:
                found.append(NameEntry("pypi", pypi, holders, "held by several conda packages"))
        for pypi, conda in sorted(self.pypi_to_conda_table.items()):
            if pypi not in self.overlay_pypi_to_conda and conda in self.non_python:
                reason = "maps to a conda package that holds no Python distribution"
                found.append(NameEntry("pypi", pypi, (conda,), reason))
        return tuple(found)


def _ambiguous(side: str, candidates: tuple[str, ...]) -> str:
    return (
        f"ambiguous {side} -> {'PyPI' if side == 'conda' else 'conda'} name, candidates "
        f"{', '.join(candidates)}; settle it in a --name-map overlay"
    )


@cache
def _shipped() -> dict[str, Any]:
    blob = (resources.files("conda_wheel_bridge.mapping") / "data" / _TABLE).read_bytes()
    data = json.loads(gzip.decompress(blob))
    return {
        "pypi_to_conda_table": dict(data["pypi_to_conda"]),
        "conda_to_pypi_table": {k: tuple(v) for k, v in data["conda_to_pypi"].items()},
        "conda_claims": {k: tuple(v) for k, v in data["conda_claims"].items()},
        "pypi_ambiguous": {k: tuple(v) for k, v in data["pypi_ambiguous"].items()},
        "non_python": frozenset(data["non_python"]),
    }


def _read_overlay(path: Path) -> tuple[dict[str, str], dict[str, str | None]]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BadMetadata(path, f"cannot read name map: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BadMetadata(path, f"name map is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict) or set(data) - {"pypi_to_conda", "conda_to_pypi"}:
        raise BadMetadata(
            path, "name map must be an object with keys pypi_to_conda and/or conda_to_pypi"
        )
    forward_raw, reverse_raw = data.get("pypi_to_conda", {}), data.get("conda_to_pypi", {})
    if not isinstance(forward_raw, dict) or not isinstance(reverse_raw, dict):
        raise BadMetadata(path, "pypi_to_conda and conda_to_pypi must be objects")
    forward: dict[str, str] = {}
    for key, value in forward_raw.items():
        if not isinstance(value, str) or not value.strip():
            raise BadMetadata(path, f"pypi_to_conda[{key!r}] must be a conda package name")
        forward[canonicalize_name(key)] = conda_name(value)
    reverse: dict[str, str | None] = {}
    for key, value in reverse_raw.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise BadMetadata(path, f"conda_to_pypi[{key!r}] must be a PyPI name or null")
        reverse[conda_name(key)] = None if value is None else str(canonicalize_name(value))
    return forward, reverse


def load_name_map(overlay: str | Path | None = None) -> NameMap:
    """The shipped tables, with the JSON ``overlay`` file (if any) on top."""
    forward, reverse = _read_overlay(Path(overlay)) if overlay is not None else ({}, {})
    return NameMap(**_shipped(), overlay_pypi_to_conda=forward, overlay_conda_to_pypi=reverse)
