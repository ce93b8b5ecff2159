"""PEP 508 requirements <-> conda MatchSpecs: versions, specifiers, markers (``when=``) and extras.

Wheel -> conda: each ``Requires-Dist`` becomes a conda ``depends`` entry (names through the
:class:`~conda_wheel_bridge.mapping.names.NameMap`, PEP 440 specifiers in conda syntax); markers are
evaluated for the variables the target fixes and the rest become CEP 43 ``[when="..."]`` conditions;
``extra == "x"`` requirements go to CEP 44 ``extra_depends``. Conda -> wheel goes back the same way.
docs/mapping-requirements.md lists every rule and what it loses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import rattler
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from conda_wheel_bridge.errors import BadMetadata, MappingError
from conda_wheel_bridge.mapping import _markers
from conda_wheel_bridge.mapping._markers import FALSE, TRUE
from conda_wheel_bridge.mapping.names import NameMap
from conda_wheel_bridge.model import CondaDepends

__all__ = [
    "ConvertedDepends",
    "RequiresTranslation",
    "conda_depends_to_requires_dist",
    "conda_spec_to_pep440",
    "conda_version",
    "requires_dist_to_conda",
    "requires_python_to_conda",
    "specifier_to_conda",
    "split_matchspec",
]

Unexpressible = Literal["drop", "keep"]


@dataclass(frozen=True)
class ConvertedDepends(CondaDepends):
    """:class:`CondaDepends` plus ``losses``: one line per requirement changed or dropped."""

    losses: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequiresTranslation:
    """Conda depends read back as wheel metadata.

    ``requires_dist``: PEP 508 strings for the Python packages (extras included, with their
    ``extra == "x"`` marker; ``extras`` repeats them by group); ``requires_python``: from the
    ``python`` pin; ``virtual``: ``__*`` specs (for tags / variants); ``external``: non-Python conda
    specs (for PEP 725 external dependencies); ``losses``: what changed.
    """

    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    virtual: tuple[str, ...] = ()
    external: tuple[str, ...] = ()
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    losses: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# versions and specifiers


def _strip_zeros(release: tuple[int, ...]) -> tuple[int, ...]:
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    return release


def conda_version(version: str | Version) -> str:
    """The conda spelling of a PEP 440 version: its normalised form (``1.0.0RC1`` -> ``1.0.0rc1``).

    It is what converted packages carry (as conda-forge recipes spell upstream versions), so the
    specifiers below are written against it. conda orders such spellings the PEP 440 way except for
    dev releases (``1.5.0.dev0`` sorts above ``1.5.0rc1``), pre- and post-releases beside versions
    with a different number of release parts, and local versions (docs/mapping-requirements.md).
    """
    return str(version if isinstance(version, Version) else Version(version))


def _series_floor(v: Version) -> str:
    """The lowest conda version of ``v``'s release in any spelling: ``2.0`` -> ``2dev0``.

    conda sorts ``dev`` glued to a number below everything, and a shorter release first, so
    ``2dev0`` is below ``2.0.0rc1``, ``2.0rc1``, ``2rc1``, ``2.0.0.dev0`` and ``2.0.dev0`` alike.
    """
    mark = f"{v.epoch}!" if v.epoch else ""
    return f"{mark}{'.'.join(map(str, _strip_zeros(v.release)))}dev0"


_DNF = list[list[str]]  # conda clauses: any of (all of ...)


def _prefix(epoch: int, release: tuple[int, ...], negate: bool) -> _DNF:
    """PEP 440 ``==P.*`` / ``!=P.*`` in conda.

    With trailing zeros (``==2.1.0.*``) the pre-releases of 2.1.0, spelled ``2.1rc1`` by
    :func:`conda_version`, are not under conda's ``2.1.0.*``: they are the range
    ``[2.1dev0, 2.1)``, added as an alternative (``2.1.0.*|>=2.1dev0,<2.1``).
    """
    mark = f"{epoch}!" if epoch else ""
    star = f"{mark}{'.'.join(map(str, release))}.*"
    short = _strip_zeros(release)
    if short == release:
        return [[f"!={star}"]] if negate else [[star]]
    base = f"{mark}{'.'.join(map(str, short))}"
    floor = f"{base}dev0"
    if negate:
        return [[f"!={star}", f"<{floor}"], [f"!={star}", f">={base}"]]
    return [[star], [f">={floor}", f"<{base}"]]


def _one_specifier(spec: Specifier) -> tuple[_DNF, list[str]]:
    """One PEP 440 clause as conda clauses and what the translation loses."""
    op, text = spec.operator, spec.version
    losses: list[str] = []
    if op == "===":
        return [[f"=={text}"]], [f"'==={text}' compares strings; conda compares versions"]
    if text.endswith(".*"):
        star = Version(text[:-2])
        return _prefix(star.epoch, star.release, negate=op == "!="), losses
    v = Version(text)
    rendered = conda_version(v)
    if op == "~=":
        within = _prefix(v.epoch, v.release[:-1], negate=False)
        return [[f">={rendered}", *alt] for alt in within], losses
    if op in ("==", "!="):
        # PEP 440 '==V' also matches V+local; conda does not (docs: local versions).
        return [[f"{op}{rendered}"]], losses
    if op == "<":
        if v.is_prerelease:
            return [[f"<{rendered}"]], losses
        # PEP 440 (as packaging reads it): '<V' is '<V.dev0', so V's own dev releases stay out.
        if v.post is not None:
            return [[f"<{conda_version(Version(f'{v}.dev0'))}"]], losses
        return [[f"<{_series_floor(v)}"]], losses
    if op == ">":
        if v.dev is None and v.post is None:
            losses.append(
                f"'>{text}' excludes {text}'s post-releases in PEP 440; conda admits them"
            )
        return [[f">{rendered}"]], losses
    if op in (">=", "<="):
        return [[f"{op}{rendered}"]], losses
    raise MappingError(str(spec), f"unknown version operator {op!r}")


_OPERATOR_ORDER = ("===", "==", "~=", ">=", ">", "<=", "<", "!=")


def _clause_order(spec: Specifier) -> tuple[int, str]:
    """Lower bounds first, then upper bounds, then exclusions: ``>=1.2,<2dev0,!=1.5``."""
    return _OPERATOR_ORDER.index(spec.operator), spec.version


def specifier_to_conda(specifier: str | SpecifierSet) -> tuple[str, tuple[str, ...]]:
    """PEP 440 specifiers as a conda version spec (``""`` for "any") and the losses.

    ``~=1.4.2`` -> ``>=1.4.2,1.4.*``; ``<2`` -> ``<2dev0``; ``==1.*`` -> ``1.*``. Conda's ``,``
    binds tighter than ``|``; a ``|`` only appears for wildcards with trailing zeros.
    """
    try:
        specs = specifier if isinstance(specifier, SpecifierSet) else SpecifierSet(specifier)
    except InvalidSpecifier as exc:
        raise MappingError(str(specifier), f"not a PEP 440 specifier: {exc}") from None
    alternatives: _DNF = [[]]
    losses: list[str] = []
    for spec in sorted(specs, key=_clause_order):
        more, lost = _one_specifier(spec)
        alternatives = [[*a, *(c for c in b if c not in a)] for a in alternatives for b in more]
        losses.extend(lost)
    return "|".join(",".join(a) for a in alternatives), tuple(losses)


def requires_python_to_conda(spec: str | None) -> str | None:
    """``Requires-Python`` as a conda ``python`` dependency: ``">=3.9"`` -> ``"python >=3.9"``."""
    if spec is None or not spec.strip():
        return None
    try:
        conda, _ = specifier_to_conda(spec)
    except MappingError as exc:
        raise BadMetadata("Requires-Python", f"{spec!r}: {exc.reason}") from None
    return f"python {conda}" if conda else "python"


# ---------------------------------------------------------------------------------------------
# requirements


def _extras_of(marker: Marker | None) -> list[str]:
    return sorted(_markers.mentioned_extras(marker)) if marker is not None else []


def _matchspec(name: str, version: str, extras: Iterable[str], when: str | None) -> str:
    spec = f"{name} {version}" if version else name
    keys = []
    extras = sorted(extras)
    if extras:
        keys.append(f"extras=[{', '.join(extras)}]")
    if when:
        keys.append(f'when="{when}"')
    return f"{spec}[{', '.join(keys)}]" if keys else spec


def requires_dist_to_conda(
    requires: Iterable[str],
    *,
    names: NameMap,
    environment: Mapping[str, str] | None,
    unexpressible: Unexpressible = "drop",
) -> ConvertedDepends:
    """``Requires-Dist`` values as conda ``depends`` and CEP 44 ``extra_depends``.

    ``environment`` holds the marker variables the target fixes (all of them for a platform build);
    other variables become ``when=`` conditions where conda can say them. A requirement whose marker
    conda cannot say is dropped (``unexpressible="drop"``) or kept unconditionally (``"keep"``), and
    either way listed in ``losses``.
    """
    depends: list[str] = []
    extra_depends: dict[str, list[str]] = {}
    losses: list[str] = []
    for raw in requires:
        try:
            req = Requirement(raw)
        except InvalidRequirement as exc:
            raise BadMetadata("Requires-Dist", f"{raw!r}: {exc}") from None
        name = names.pypi_to_conda(req.name)
        version, lost = specifier_to_conda(req.specifier)
        losses.extend(f"{raw!r}: {why}" for why in lost)
        if req.url:
            losses.append(
                f"{raw!r}: direct URL reference {req.url!r} dropped; depends on {name} by name"
            )
        extras = [str(canonicalize_name(e)) for e in req.extras]
        for extra in [None, *_extras_of(req.marker)]:
            condition = _markers.translate(req.marker, environment, extra=extra)
            if extra is not None:
                base = _markers.translate(req.marker, environment, extra=None)
                if condition == base:
                    continue  # the extra adds nothing over the plain requirement
            if condition.unknown:
                losses.append(
                    f"{raw!r}: marker {condition.reason}; "
                    + ("kept unconditionally" if unexpressible == "keep" else "requirement dropped")
                )
                if unexpressible == "drop":
                    continue
                condition = TRUE
            losses.extend(f"{raw!r}: {note}" for note in condition.notes)
            if condition == FALSE:
                continue
            spec = _matchspec(name, version, extras, None if condition.is_true else condition.text)
            target = depends if extra is None else extra_depends.setdefault(extra, [])
            if spec not in target:
                target.append(spec)
    return ConvertedDepends(
        depends=tuple(depends),
        extra_depends={k: tuple(v) for k, v in sorted(extra_depends.items())},
        losses=tuple(dict.fromkeys(losses)),
    )


# ---------------------------------------------------------------------------------------------
# conda -> wheel

_SPEC = re.compile(r"^\s*(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<rest>.*?)\s*(?:\[(?P<keys>.*)\])?\s*$")
_KEY = re.compile(r'(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|\[[^\]]*\]|[^,\]]+)')


def split_matchspec(spec: str) -> tuple[str, str, str, dict[str, str]]:
    """A conda MatchSpec as ``(name, version, build, keys)``; ``keys`` holds ``when`` / ``extras``.

    py-rattler parses it (``pkg==1.0=py_0``, ``conda-forge::numpy``, ``bar[version=">=1"]`` ...);
    a spec rattler refuses falls back to the plain ``name version build[key=value]`` form.
    """
    try:
        parsed = rattler.MatchSpec(spec)
    except Exception:  # rattler's parse errors share no base class but Exception
        parsed = None
    if parsed is not None and parsed.name is not None:
        keys: dict[str, str] = {}
        if parsed.condition is not None:
            keys["when"] = str(parsed.condition)
        if parsed.extras:
            keys["extras"] = ",".join(parsed.extras)
        version = str(parsed.version) if parsed.version is not None else ""
        build = str(parsed.build) if parsed.build is not None else ""
        return parsed.name.normalized, version, build, keys
    m = _SPEC.match(spec)
    if not m:
        raise MappingError(spec, "not a conda MatchSpec")
    keys = {k: v.strip().strip("\"'") for k, v in _KEY.findall(m.group("keys") or "")}
    rest = m.group("rest").split()
    version = rest[0] if rest else ""
    build = rest[1] if len(rest) > 1 else ""
    return m.group("name").lower(), version, build, keys


def conda_spec_to_pep440(version: str) -> str:
    """A conda version spec as PEP 440 specifiers: ``>=1.2,<2.0a0`` stays, ``1.2.*`` -> ``==1.2.*``.

    Raises :class:`MappingError` for what PEP 440 cannot say (``|`` alternatives, globs inside a
    version, ``=1.2`` fuzzy without a star is read as ``==1.2.*``).
    """
    version = version.strip()
    if version in ("", "*"):
        return ""
    if "|" in version:
        raise MappingError(version, "conda 'or' (|) has no PEP 440 form")
    out: list[str] = []
    for clause in version.split(","):
        clause = clause.strip()
        m = re.match(r"^(==|!=|>=|<=|>|<|~=|=)?\s*(.+)$", clause)
        if not m:
            raise MappingError(version, f"cannot read clause {clause!r}")
        op, text = m.group(1) or "", m.group(2)
        if op == "=" or (not op and text.endswith("*")):
            text = text.rstrip("*").rstrip(".")
            op, text = "==", text + ".*"
        elif not op:
            op = "=="
        if "*" in text and not (
            op in ("==", "!=") and text.endswith(".*") and "*" not in text[:-2]
        ):
            raise MappingError(version, f"glob {clause!r} has no PEP 440 form")
        try:
            Specifier(f"{op}{text}")
        except InvalidSpecifier:
            raise MappingError(version, f"{clause!r} is not a PEP 440 version clause") from None
        out.append(f"{op}{text}")
    return ",".join(out)


def conda_depends_to_requires_dist(
    depends: Iterable[str],
    *,
    names: NameMap,
    extra_depends: Mapping[str, Iterable[str]] | None = None,
) -> RequiresTranslation:
    """Conda ``depends`` read back as ``Requires-Dist`` / ``Requires-Python``; the rest set aside.

    ``python`` gives Requires-Python; ``__*`` virtual packages and non-Python packages (as the name
    map knows them) are returned apart; ``when=`` conditions become markers where PEP 508 has them.
    """
    requires: list[str] = []
    python: list[str] = []
    virtual: list[str] = []
    external: list[str] = []
    losses: list[str] = []
    extras_out: dict[str, list[str]] = {}

    def one(spec: str, extra: str | None) -> None:
        name, version, build, keys = split_matchspec(spec)
        if name == "python" and extra is None and "when" not in keys:
            try:
                pep = conda_spec_to_pep440(version)
            except MappingError as exc:
                losses.append(f"{spec!r}: {exc.reason}; Requires-Python left open")
                return
            if build:
                losses.append(f"{spec!r}: build string {build!r} has no Requires-Python form")
            if pep:
                python.append(pep)
            return
        if name.startswith("__"):
            virtual.append(spec)
            return
        pypi = names.conda_to_pypi(name)
        if pypi is None:
            external.append(spec)
            return
        try:
            pep = conda_spec_to_pep440(version)
        except MappingError as exc:
            losses.append(f"{spec!r}: {exc.reason}; version left open")
            pep = ""
        if build and build != "*":
            losses.append(f"{spec!r}: build string {build!r} dropped")
        marker_parts: list[str] = []
        if "when" in keys:
            try:
                marker_parts.append(_markers.condition_to_marker(keys["when"]))
            except MappingError as exc:
                losses.append(f"{spec!r}: when={keys['when']!r}: {exc.reason}; kept unconditional")
        if extra is not None:
            marker_parts.append(f'extra == "{extra}"')
        extras = ""
        if "extras" in keys:
            picked = [
                e.strip().strip("\"'") for e in keys["extras"].strip("[]").split(",") if e.strip()
            ]
            extras = f"[{','.join(picked)}]" if picked else ""
        text = f"{pypi}{extras}{pep}"
        if marker_parts:
            joined = " and ".join(f"({p})" if " or " in p else p for p in marker_parts)
            text += f"; {joined}"
        try:
            Requirement(text)
        except InvalidRequirement as exc:
            raise MappingError(spec, f"makes an invalid requirement {text!r}: {exc}") from None
        requires.append(text)
        if extra is not None:
            extras_out.setdefault(extra, []).append(text)

    for spec in depends:
        one(spec, None)
    for extra, specs in (extra_depends or {}).items():
        for spec in specs:
            one(spec, extra)
    requires_python = ",".join(python) or None
    if requires_python is not None:
        try:
            SpecifierSet(requires_python)
        except InvalidSpecifier:
            losses.append(
                f"python pin {requires_python!r} has no PEP 440 form; Requires-Python left open"
            )
            requires_python = None
    return RequiresTranslation(
        requires_dist=tuple(requires),
        requires_python=requires_python,
        virtual=tuple(virtual),
        external=tuple(external),
        extras={k: tuple(v) for k, v in extras_out.items()},
        losses=tuple(losses),
    )
