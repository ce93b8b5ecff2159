"""PEP 508 markers <-> CEP 43 ``when=`` conditions (private helper of :mod:`.requirements`).

A marker is evaluated for the variables a target fixes; each remaining atom becomes a condition on
``python`` or on the ``__linux`` / ``__osx`` / ``__win`` / ``__unix`` virtual packages, a constant,
or *unknown* (``platform_machine`` on a noarch target: conda has no virtual package that says it).
The marker tree is read from ``Marker._markers`` (packaging keeps no public accessor for it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedComparison
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from conda_wheel_bridge.errors import MappingError

__all__ = ["FALSE", "TRUE", "Condition", "condition_to_marker", "mentioned_extras", "translate"]


@dataclass(frozen=True)
class Condition:
    """A translated marker: constant, unknown, an atom, or an and/or of conditions."""

    kind: str  # "true" | "false" | "unknown" | "atom" | "and" | "or"
    atom: str = ""
    children: tuple[Condition, ...] = ()
    reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def is_true(self) -> bool:
        return self.kind == "true"

    @property
    def unknown(self) -> bool:
        return self.kind == "unknown"

    @property
    def text(self) -> str:
        """The CEP 43 ``when`` expression (``and`` binds tighter than ``or``)."""
        if self.kind == "atom":
            return self.atom
        if self.kind == "and":
            return " and ".join(f"({c.text})" if c.kind == "or" else c.text for c in self.children)
        if self.kind == "or":
            return " or ".join(c.text for c in self.children)
        raise ValueError(f"a {self.kind} condition has no text")

    def _structure(self) -> tuple[Any, ...]:
        return (self.kind, self.atom, tuple(c._structure() for c in self.children))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and self._structure() == other._structure()

    def __hash__(self) -> int:
        return hash(self._structure())


TRUE = Condition("true")
FALSE = Condition("false")


def _notes(parts: Iterable[Condition]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for p in parts for n in p.notes))


def _combine(kind: str, parts: list[Condition]) -> Condition:
    absorbing, neutral = (FALSE, TRUE) if kind == "and" else (TRUE, FALSE)
    notes = _notes(parts)
    if any(p.kind == absorbing.kind for p in parts):
        return Condition(absorbing.kind, notes=notes)
    unknown = [p for p in parts if p.unknown]
    if unknown:
        return Condition(
            "unknown", reason="; ".join(dict.fromkeys(p.reason for p in unknown)), notes=notes
        )
    flat: list[Condition] = []
    for p in parts:
        if p.kind == neutral.kind:
            continue
        for c in p.children if p.kind == kind else (p,):
            if c not in flat:
                flat.append(c)
    if not flat:
        return Condition(neutral.kind, notes=notes)
    if len(flat) == 1:
        only = flat[0]
        return Condition(only.kind, only.atom, only.children, only.reason, notes)
    return Condition(kind, children=tuple(flat), notes=notes)


# --- the platforms conda targets, and what each says for the platform marker variables ----------

_PLATFORMS: dict[str, dict[str, str]] = {
    "__linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"},
    "__osx": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"},
    "__win": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"},
}
_ASSUMED = {"implementation_name": "cpython", "platform_python_implementation": "CPython"}
_PYTHON_VARS = ("python_version", "python_full_version", "implementation_version")
_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!=", "===": "==="}


def _quote(value: str) -> str:
    return f"'{value}'" if '"' in value else f'"{value}"'


def _eval_atom(lhs: str, op: str, rhs: str, variable: str, value: str) -> bool:
    left = variable if lhs == variable else _quote(lhs)
    right = variable if rhs == variable and lhs != variable else _quote(rhs)
    return Marker(f"{left} {op} {right}").evaluate({variable: value})


def _platform_condition(lhs: str, op: str, rhs: str, variable: str, literal: str) -> Condition:
    true_on = [
        vp
        for vp, values in _PLATFORMS.items()
        if _eval_atom(lhs, op, rhs, variable, values[variable])
    ]
    known = {values[variable] for values in _PLATFORMS.values()}
    notes = (
        ()
        if literal in known
        else (f"{variable} {literal!r} is no conda platform (conda targets linux, osx, win)",)
    )
    if len(true_on) == len(_PLATFORMS):
        return Condition("true", notes=notes)
    if not true_on:
        return Condition("false", notes=notes)
    if set(true_on) == {"__linux", "__osx"}:
        return Condition("atom", "__unix", notes=notes)
    return _combine("or", [Condition("atom", vp, notes=notes) for vp in true_on])


def _series(v: Version) -> tuple[int, int]:
    release = (*v.release, 0)
    return release[0], release[1]


def _next(series: tuple[int, int]) -> tuple[int, int]:
    return series[0], series[1] + 1


def _floor(series: tuple[int, int]) -> str:
    return f"{series[0]}.{series[1]}dev0"


def _python_minor_condition(op: str, value: str) -> Condition:
    """``python_version OP value`` (python_version is ``X.Y``) as conditions on the full version."""
    if op in ("in", "not in"):
        # string containment ('python_version in "2.7 3.6"'): judged on every series 2.0 - 4.49
        grid = [(x, y) for x in (2, 3, 4) for y in range(50)]
        marker = Marker(f"python_version {op} {_quote(value)}")
        flags = [marker.evaluate({"python_version": f"{x}.{y}"}) for x, y in grid]
        return _ranges(grid, flags)
    if op not in ("==", "!=", "<", "<=", ">", ">=", "~="):
        return Condition("unknown", reason=f"python_version {op} {value!r} has no conda form")
    spec = SpecifierSet(f"{op}{value}")
    # python_version only takes X.Y values: the satisfying set is a union of X.Y series; find its
    # boundaries by scanning the series around every version the specifier mentions.
    points: set[tuple[int, int]] = set()
    for s in spec:
        v = Version(s.version[:-2] if s.version.endswith(".*") else s.version)
        base = _series(v)
        points |= {
            base,
            _next(base),
            (base[0], max(base[1] - 1, 0)),
            (base[0] + 1, 0),
            (base[0], 0),
        }
    ordered = sorted(points | {(0, 0)})
    inside = [spec.contains(f"{x}.{y}", prereleases=True) for x, y in ordered]
    return _ranges(ordered, inside)


def _ranges(ordered: list[tuple[int, int]], inside: list[bool]) -> Condition:
    """Python series (sorted) and whether each satisfies: the ranges where they do."""
    ranges: list[tuple[tuple[int, int] | None, tuple[int, int] | None]] = []
    for i, (series, ok) in enumerate(zip(ordered, inside, strict=True)):
        if ok and (i == 0 or not inside[i - 1]):
            start = None if i == 0 else series
            ranges.append((start, None))
        if not ok and i > 0 and inside[i - 1]:
            ranges[-1] = (ranges[-1][0], series)
    if not ranges:
        return FALSE
    parts: list[Condition] = []
    for low, high in ranges:
        clauses = ([f">={_floor(low)}"] if low else []) + ([f"<{_floor(high)}"] if high else [])
        parts.append(Condition("atom", "python" + ",".join(clauses)) if clauses else TRUE)
    return _combine("or", parts)


def _python_condition(variable: str, op: str, value: str) -> Condition:
    from conda_wheel_bridge.mapping.requirements import specifier_to_conda

    notes: tuple[str, ...] = ()
    if variable == "implementation_version":
        notes = ("implementation_version read as python_full_version (CPython assumed)",)
    try:
        if variable == "python_version":
            found = _python_minor_condition(op, value)
            return Condition(found.kind, found.atom, found.children, found.reason, notes)
        if op in ("in", "not in", "==="):
            raise InvalidSpecifier(op)
        conda, _ = specifier_to_conda(f"{op}{value}")
    except (InvalidSpecifier, InvalidVersion, MappingError):
        return Condition("unknown", reason=f"{variable} {op} {value!r} has no conda form")
    found = _python_spec_condition(conda)
    return Condition(found.kind, found.atom, found.children, found.reason, notes)


def _star_range(prefix: str) -> tuple[str, str]:
    """``3.10`` (from ``3.10.*``) as the conda range ``[3.10dev0, 3.11dev0)``."""
    epoch, bang, release = prefix.rpartition("!")
    parts = release.split(".")
    upper = [*parts[:-1], str(int(parts[-1]) + 1)]
    mark = f"{epoch}{bang}"
    return f"{mark}{release}dev0", f"{mark}{'.'.join(upper)}dev0"


def _python_spec_condition(conda: str) -> Condition:
    """A conda version spec on ``python`` as ``when`` atoms.

    Inside ``when`` a query is ``{name}{operator}{version}``, so wildcards become ranges
    (``3.10.*`` -> ``python>=3.10dev0,<3.11dev0``) and ``|`` becomes ``or``.
    """
    if not conda:
        return TRUE
    branches: list[Condition] = []
    for branch in conda.split("|"):
        plain: list[str] = []
        parts: list[Condition] = []
        for clause in branch.split(","):
            if clause.endswith(".*"):
                low, high = _star_range(clause.removeprefix("!=")[:-2])
                if clause.startswith("!="):
                    outside = [
                        Condition("atom", f"python<{low}"),
                        Condition("atom", f"python>={high}"),
                    ]
                    parts.append(_combine("or", outside))
                else:
                    plain += [f">={low}", f"<{high}"]
            else:
                plain.append(clause)
        if plain:
            parts.insert(0, Condition("atom", "python" + ",".join(plain)))
        branches.append(_combine("and", parts))
    return _combine("or", branches)


def _atom(
    item: tuple[Any, Any, Any], environment: Mapping[str, str], extra: str | None
) -> Condition:
    lhs_node, op_node, rhs_node = item
    lhs, op, rhs = str(lhs_node.value), str(op_node.value), str(rhs_node.value)
    is_var = type(lhs_node).__name__ == "Variable"
    variable, literal = (lhs, rhs) if is_var else (rhs, lhs)
    if variable == "extra":
        if op not in ("==", "!="):
            return Condition("unknown", reason=f"extra {op} {literal!r} has no conda form")
        same = canonicalize_name(literal) == canonicalize_name(extra or "")
        return TRUE if same == (op == "==") else FALSE
    if variable in environment:
        try:
            return TRUE if _eval_atom(lhs, op, rhs, variable, environment[variable]) else FALSE
        except (UndefinedComparison, InvalidMarker, InvalidVersion) as exc:
            return Condition("unknown", reason=f"{variable} {op} {literal!r}: {exc}")
    if variable in _PYTHON_VARS:
        # '"3.10" > python_version' reads as 'python_version < "3.10"'
        flipped = op if is_var else _MIRROR.get(op, "")
        if flipped:
            return _python_condition(variable, flipped, literal)
    if variable in ("sys_platform", "platform_system", "os_name"):
        return _platform_condition(lhs, op, rhs, variable, literal)
    if variable in _ASSUMED:
        ok = _eval_atom(lhs, op, rhs, variable, _ASSUMED[variable])
        note = f"{variable} assumed {_ASSUMED[variable]!r} (conda's python is CPython)"
        return Condition("true" if ok else "false", notes=(note,))
    return Condition("unknown", reason=f"{variable} {op} {literal!r} has no conda form")


def _walk(markers: list[Any], environment: Mapping[str, str], extra: str | None) -> Condition:
    groups: list[list[Condition]] = [[]]
    for item in markers:
        if isinstance(item, list):
            groups[-1].append(_walk(item, environment, extra))
        elif isinstance(item, tuple):
            groups[-1].append(_atom(item, environment, extra))
        elif item == "or":
            groups.append([])
    return _combine("or", [_combine("and", g) for g in groups])


def translate(
    marker: Marker | None, environment: Mapping[str, str] | None, *, extra: str | None
) -> Condition:
    """``marker`` with ``extra`` set (``None``: no extra) as a condition for the given target."""
    if marker is None:
        return TRUE
    return _walk(marker._markers, environment or {}, extra)


def mentioned_extras(marker: Marker) -> set[str]:
    """The (normalised) extra names a marker compares ``extra`` with."""
    found: set[str] = set()

    def walk(items: list[Any]) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
            elif isinstance(item, tuple):
                lhs, _, rhs = item
                for side, other in ((lhs, rhs), (rhs, lhs)):
                    if type(side).__name__ == "Variable" and side.value == "extra":
                        found.add(str(canonicalize_name(str(other.value))))

    walk(marker._markers)
    return found


# --- CEP 43 conditions back to PEP 508 markers ----------------------------------------------------

_TOKEN = re.compile(r"\s*(\(|\)|\band\b|\bor\b|[^\s()\[]+(?:\[[^\]]*\])?)")
_VIRTUAL_MARKERS = {
    "__linux": 'sys_platform == "linux"',
    "__osx": 'sys_platform == "darwin"',
    "__win": 'sys_platform == "win32"',
    "__unix": 'sys_platform != "win32"',
}


def _atom_marker(atom: str) -> str:
    from conda_wheel_bridge.mapping.requirements import conda_spec_to_pep440

    if atom in _VIRTUAL_MARKERS:
        return _VIRTUAL_MARKERS[atom]
    m = re.match(r"^python(?![\w.-])\s*(.*)$", atom)
    if m and "[" not in atom:
        pep = conda_spec_to_pep440(m.group(1))
        if not pep:
            return 'python_full_version >= "0"'
        clauses = pep.split(",")
        parts = []
        for clause in clauses:
            found = re.match(r"^(==|!=|>=|<=|>|<|~=)(.*)$", clause)
            if found is None:
                raise MappingError(atom, f"cannot read {clause!r}")
            op, version = found.groups()
            series = re.fullmatch(r"(\d+\.\d+)dev0", version)
            if series and op in ("<", ">="):  # a series floor: python_version says it plainly
                parts.append(f'python_version {op} "{series.group(1)}"')
            else:
                parts.append(f'python_full_version {op} "{version}"')
        return " and ".join(parts)
    raise MappingError(atom, "condition on a package has no PEP 508 marker form")


def condition_to_marker(condition: str) -> str:
    """A CEP 43 ``when`` expression as a PEP 508 marker (platform and python atoms only)."""
    tokens = [t for t in _TOKEN.findall(condition) if t]
    out: list[str] = []
    for token in tokens:
        if token in ("(", ")", "and", "or"):
            out.append(token)
        else:
            text = _atom_marker(token)
            out.append(f"({text})" if " and " in text else text)
    marker = " ".join(out).replace("( ", "(").replace(" )", ")")
    try:
        return str(Marker(marker))
    except InvalidMarker as exc:
        raise MappingError(condition, f"makes an invalid marker {marker!r}: {exc}") from None
