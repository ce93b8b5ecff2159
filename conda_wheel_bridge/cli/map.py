"""``cwb map THING... [--json]``: one fact in both vocabularies, with what the rule loses.

A THING is a variant property (``nvidia :: sm_arch :: 90_real``), a conda virtual-package spec
(``__cuda>=12.8``, ``__glibc>=2.28``, ``__archspec 1 icelake``, ``_x86_64-microarch-level >=3``),
a wheel tag (``manylinux_2_28_x86_64`` or ``cp311-cp311-macosx_11_0_arm64``), a DepURL
(``dep:generic/zlib``), a package name, a PEP 508 requirement (``torch>=2; python_version<'3.12'``)
or an ordinary conda spec (``numpy 2.1.*``).
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from ..errors import MappingError, UnsupportedTag

__all__ = ["add_parser", "map_thing", "run"]

#: default subdir per platform virtual package, for showing its wheel tag
_PLATFORM_SUBDIR = {
    "__glibc": "linux-64",
    "__linux": "linux-64",
    "__osx": "osx-arm64",
    "__win": "win-64",
    "__unix": "linux-64",
    "__musl": "linux-64",
}
_PLATFORM_TAG_RE = re.compile(r"(manylinux|musllinux|macosx|win|linux|ios|android)[_0-9]|any$")
_NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_TAG_LOSS = {
    "manylinux": "exact: the manylinux floor is the __glibc floor (manylinux1 = 2.5, 2010 = 2.12, "
    "2014 = 2.17)",
    "macosx": "exact: the macOS deployment target is the __osx floor (universal2 gives two)",
    "win": "__win carries no version floor: any Windows of that architecture",
    "linux": "a plain linux_<arch> tag promises nothing about glibc: no __glibc floor",
    "musllinux": "no conda-forge counterpart (its linux subdirs are glibc): cwb convert refuses "
    "it unless --allow-musllinux, then depends on __musl as rattler names it",
    "any": "noarch: python; no platform facts",
}

_ABI3_LOSS = (
    "abi3 becomes `python >=3.N` only: conda's pin also admits PyPy and free-threaded CPython, "
    "where a stable-ABI extension does not load"
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``cwb map``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "map",
        help="translate a virtual package, variant property or wheel tag to the other side",
        description="Translate between conda virtual packages, wheel-variant properties and "
        "wheel platform tags, saying what each rule loses.",
    )
    p.add_argument(
        "things",
        nargs="+",
        metavar="THING",
        help="'ns :: feature :: value', a conda spec ('__cuda>=12.8') or a wheel tag",
    )
    p.add_argument(
        "--subdir",
        default=None,
        metavar="SUBDIR",
        help="conda subdir for platform virtual packages (default: by name)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list")
    return p


def _losses(props: tuple[Any, ...]) -> list[str]:
    from ..mapping import variants

    seen: dict[str, None] = {}
    for prop in props:
        seen[f"{prop.namespace} :: {prop.feature}: {variants.loss_for(prop)}"] = None
    return list(seen)


def _map_property(thing: str) -> dict[str, Any]:
    from ..mapping import variants

    prop = variants.parse_property(thing)
    depends = variants.conda_for_property(prop)
    return {
        "input": thing,
        "kind": "variant-property",
        "conda": list(depends),
        "variant_properties": [str(prop)],
        "loss": _losses((prop,)),
    }


def _map_conda(thing: str, subdir: str | None) -> dict[str, Any]:
    from ..mapping import variants
    from ..mapping.platform import tags_for_conda

    name, version, _ = variants.split_spec(thing)
    if name in _PLATFORM_SUBDIR:
        sub = subdir or _PLATFORM_SUBDIR[name]
        tags = [str(t) for t in tags_for_conda(sub, [f"{name} {version}".strip()])]
        platform_loss = variants.LOSSES["__glibc / __osx / __win / __linux / __unix"]
        return {
            "input": thing,
            "kind": "virtual-package",
            "conda": [thing],
            "subdir": sub,
            "wheel_tags": tags,
            "variant_properties": [],
            "loss": [platform_loss],
        }
    props = variants.variant_properties_for_conda([thing])
    if not props:
        raise MappingError(thing, "no variant property: an ordinary package or an open constraint")
    loss = _losses(props)
    if name == "__archspec":
        loss.insert(0, variants.LOSSES["__archspec"])
    return {
        "input": thing,
        "kind": "virtual-package",
        "conda": [thing],
        "variant_properties": [str(p) for p in props],
        "loss": loss,
    }


def _map_tag(thing: str) -> dict[str, Any]:
    from packaging.tags import parse_tag

    from ..mapping.platform import targets_for_wheel

    text = thing if thing.count("-") == 2 else f"py3-none-{thing}"
    try:
        tags = parse_tag(text)
    except ValueError:
        raise MappingError(thing, "not a wheel tag") from None
    targets = targets_for_wheel(tags, None, where=thing, allow_musllinux=True)
    plat = next(iter(tags)).platform
    family = next((k for k in _TAG_LOSS if plat.startswith(k)), "any")
    loss = [_TAG_LOSS[family]]
    if any(t.abi == "abi3" for t in tags):
        loss.append(_ABI3_LOSS)
    return {
        "input": thing,
        "kind": "platform-tag",
        "targets": [{"subdir": t.subdir, "depends": list(t.depends)} for t in targets],
        "conda": sorted({d for t in targets for d in t.depends if d.startswith("__")}),
        "variant_properties": [],
        "loss": loss,
    }


def _map_depurl(thing: str) -> dict[str, Any]:
    from ..mapping.external import depurl_to_conda

    conda = list(depurl_to_conda(thing))
    loss = "PEP 804 conda-forge mapping: the first listed conda package is used"
    return {
        "input": thing,
        "kind": "depurl",
        "conda": conda,
        "variant_properties": [],
        "loss": [loss],
    }


def _map_name(thing: str) -> dict[str, Any]:
    from ..mapping.external import conda_to_depurl
    from ..mapping.names import load_name_map

    names = load_name_map()
    return {
        "input": thing,
        "kind": "package-name",
        "conda": [names.pypi_to_conda(thing)],
        "pypi": names.conda_to_pypi(thing),
        "depurl": conda_to_depurl(thing),
        "variant_properties": [],
        "loss": [
            "names: overlay > shipped PyPI⇄conda tables > normalised name; a conda package "
            "without a Python distribution has no PyPI name"
        ],
    }


def _map_requirement(thing: str) -> dict[str, Any] | None:
    """A PEP 508 requirement with a version, marker, extra or URL; None if ``thing`` is not."""
    from packaging.requirements import InvalidRequirement, Requirement

    from ..mapping.names import load_name_map
    from ..mapping.requirements import requires_dist_to_conda

    try:
        req = Requirement(thing)
    except InvalidRequirement:
        return None
    if not (req.specifier or req.marker or req.extras or req.url):
        return None
    converted = requires_dist_to_conda([thing], names=load_name_map(), environment=None)
    loss = list(converted.losses) or [
        "PEP 440 specifiers in conda syntax; markers become CEP 43 `when=` conditions on noarch "
        "(evaluated away on a fixed platform); extras become `[extras=...]`"
    ]
    conda = list(converted.depends)
    for extra, specs in converted.extra_depends.items():
        conda += [f"{spec}  (extra_depends[{extra!r}])" for spec in specs]
    return {
        "input": thing,
        "kind": "requirement",
        "conda": conda,
        "variant_properties": [],
        "loss": loss,
    }


def _map_conda_spec(thing: str) -> dict[str, Any] | None:
    """An ordinary conda MatchSpec with a version or build; None if ``thing`` is not."""
    from ..mapping import variants
    from ..mapping.external import conda_spec_to_depurl
    from ..mapping.names import load_name_map
    from ..mapping.requirements import conda_depends_to_requires_dist

    try:
        _, version, build = variants.split_spec(thing)
    except MappingError:
        return None
    if not (version or build):
        return None
    back = conda_depends_to_requires_dist([thing], names=load_name_map())
    # a build-pinned mutex (``blas * mkl``, ``libblas * *_mkl``) is also a variant property
    props = variants.variant_properties_for_conda([thing])
    loss = list(back.losses) or ["conda version syntax read back as PEP 440"]
    return {
        "input": thing,
        "kind": "conda-spec",
        "conda": [thing],
        "requires_dist": list(back.requires_dist),
        "requires_python": back.requires_python,
        "external": [conda_spec_to_depurl(thing)[0]] if back.external else [],
        "variant_properties": [str(p) for p in props],
        "loss": loss + _losses(props),
    }


def map_thing(thing: str, *, subdir: str | None = None) -> dict[str, Any]:
    """Translate one THING; raises :class:`MappingError` when it has no counterpart."""
    text = thing.strip()
    if "::" in text:
        return _map_property(thing)
    if text.startswith("_"):
        return _map_conda(thing, subdir)
    if text.startswith("dep:"):
        return _map_depurl(thing)
    if text.count("-") == 2 or _PLATFORM_TAG_RE.match(text):
        try:
            return _map_tag(thing)
        except UnsupportedTag as exc:
            raise MappingError(thing, exc.reason) from None
    if _NAME_RE.fullmatch(text):
        return _map_name(text)
    result = _map_requirement(text) or _map_conda_spec(text)
    if result is not None:
        return result
    raise MappingError(thing, "not a variant property, conda spec, wheel tag, DepURL or name")


def _print(result: dict[str, Any]) -> None:
    print(result["input"])
    if result["kind"] == "platform-tag":
        for target in result["targets"]:
            print(f"  -> conda {target['subdir']}: {', '.join(target['depends'])}")
    elif result["kind"] in ("variant-property", "requirement"):
        for dep in result["conda"]:
            print(f"  -> conda depends: {dep}")
    elif result["kind"] == "package-name":
        print(f"  -> conda name: {result['conda'][0]}; PyPI name: {result['pypi']}")
        if result["depurl"]:
            print(f"  -> DepURL: {result['depurl']}")
    elif result["kind"] == "conda-spec":
        for req in result["requires_dist"]:
            print(f"  -> Requires-Dist: {req}")
        if result["requires_python"]:
            print(f"  -> Requires-Python: {result['requires_python']}")
        for dep in result["external"]:
            print(f"  -> external (PEP 725 DepURL): {dep}")
        for prop in result["variant_properties"]:
            print(f"  -> variant property: {prop}")
    elif result["kind"] == "depurl":
        print(f"  -> conda: {', '.join(result['conda'])}")
    elif result.get("wheel_tags"):
        print(f"  -> wheel tags ({result['subdir']}): {', '.join(result['wheel_tags'])}")
    else:
        for prop in result["variant_properties"]:
            print(f"  -> variant property: {prop}")
    for loss in result["loss"]:
        print(f"  loss: {loss}")


def run(args: argparse.Namespace) -> int:
    """Map every THING (all or nothing: the first without a counterpart is an error)."""
    results = [map_thing(thing, subdir=args.subdir) for thing in args.things]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            _print(result)
    return 0
