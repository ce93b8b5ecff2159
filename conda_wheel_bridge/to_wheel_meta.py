"""The dist-info of a wheel made from a conda package: METADATA, WHEEL, entry points, variant.

Pure functions over the parsed ``info/`` of the package and the small files of the distribution
it carries (:class:`DistInfo`); :mod:`conda_wheel_bridge.to_wheel` streams the payload around them.
"""

from __future__ import annotations

import configparser
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from packaging.tags import Tag

from . import __version__
from .condameta import (
    MetadataAdditions,
    compose_metadata,
    egg_requires_to_requires_dist,
    header_mapping,
    missing_requirements,
)
from .condasource import CondaPackage
from .errors import BadMetadata
from .mapping import requirements, variantjson, variants
from .mapping.external import conda_to_external
from .mapping.names import NameMap
from .mapping.platform import marker_environment, tags_for_conda
from .model import VariantProperty
from .wheelfile import parse_wheel_filename
from .wheelname import parse_tags
from .wheelwriter import wheel_filename

__all__ = [
    "DistInfo",
    "Requirements",
    "check_depends",
    "entry_points_txt",
    "script_names",
    "variant_json",
    "wheel_file",
    "wheel_filename_for",
    "wheel_metadata",
    "wheel_name_for_conda",
    "wheel_tags",
]


@dataclass
class DistInfo:
    """Small files of the carried .dist-info/.egg-info, read while the payload streams by."""

    metadata: bytes | None = None
    entry_points: bytes | None = None
    wheel: bytes | None = None
    requires_txt: bytes | None = None
    variant_json: bytes | None = None
    extras: list[tuple[str, bytes]] = field(default_factory=list)


class Requirements(NamedTuple):
    """The conda depends as core metadata, translated once per conversion by :func:`check_depends`
    and handed on to :func:`wheel_metadata`."""

    requires_dist: list[str]
    requires_python: str | None
    requires_external: list[str]
    provides_extra: list[str]


def wheel_name_for_conda(package: CondaPackage, names: NameMap) -> str:
    """The PyPI project name for a conda package (through the name map, else the conda name)."""
    return names.conda_to_pypi(package.name) or package.name


def wheel_file(info: CondaPackage, carried: bytes | None, filename: str) -> bytes:
    """The WHEEL file: tags of ``filename``, purelib for noarch, the carried build tag."""
    build = _wheel_build(carried)
    lines = ["Wheel-Version: 1.0", f"Generator: conda-wheel-bridge {__version__}",
             f"Root-Is-Purelib: {'true' if info.noarch == 'python' else 'false'}"]
    lines += [f"Tag: {tag}" for tag in sorted(str(t) for t in parse_wheel_filename(filename).tags)]
    if build:
        lines.append(f"Build: {build}")
    return ("\n".join(lines) + "\n\n").encode()


def _wheel_build(carried: bytes | None) -> str | None:
    if not carried:
        return None
    m = re.search(rb"^Build:\s*(\S+)", carried, re.MULTILINE)
    return m[1].decode() if m else None


def wheel_filename_for(metadata: bytes, tags: Sequence[Tag], carried_wheel: bytes | None = None,
                       label: str | None = None) -> str:
    """The wheel file name: name and version from ``metadata``, ``tags`` (from
    :func:`wheel_tags`), the carried WHEEL's build tag, the variant label."""
    fields = header_mapping(metadata)
    return wheel_filename(fields["name"][0].strip(), fields["version"][0].strip(),
                          tags, build=_wheel_build(carried_wheel), variant_label=label)


def variant_json(info: CondaPackage, dist: DistInfo) -> tuple[str, bytes] | None:
    """(label, variant.json): the one the distribution carries, else one from the depends."""
    return _carried_variant(info, dist.variant_json) or _variant(info)


def _carried_variant(info: CondaPackage, data: bytes | None) -> tuple[str, bytes] | None:
    """A variant.json the distribution already carries (a variant wheel gone through conda)."""
    if data is None:
        return None
    try:
        desc = variantjson.read_variant_json(json.loads(data))
    except (ValueError, TypeError) as exc:
        raise BadMetadata(info.source, f"carried variant.json is unreadable ({exc})") from exc
    return desc.label, data


def wheel_tags(info: CondaPackage, carried_wheel: bytes | None = None) -> list[Tag]:
    """The tags conda's subdir and depends give; the carried WHEEL's tags when they name the
    same platforms (they keep what conda cannot say: ``abi3``, ``py2.py3``)."""
    computed = tags_for_conda(info.subdir, info.depends)
    if carried_wheel:
        where = f"{info.source}: carried WHEEL"
        carried = [parse_tags(where, m.decode().strip()) for m in
                   re.findall(rb"^Tag:\s*(\S+)", carried_wheel, re.MULTILINE)]
        tags = [t for group in carried for t in group]
        if tags and {t.platform for t in tags} == {t.platform for t in computed}:
            return tags
    return computed


# --- entry points, variants, metadata -------------------------------------------------------------

def script_names(entry_points: bytes | None) -> set[str]:
    """Console and GUI script names in an entry_points.txt (their conda launchers are dropped)."""
    if not entry_points:
        return set()
    parser = _entry_point_parser()
    parser.read_string(entry_points.decode("utf-8"))
    return {name for section in ("console_scripts", "gui_scripts") if parser.has_section(section)
            for name in parser.options(section)}


def _entry_point_parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


def entry_points_txt(info: CondaPackage, dist: DistInfo) -> bytes | None:
    """entry_points.txt: the carried one (kept as is) plus link.json's console scripts."""
    carried = dist.entry_points
    parser = _entry_point_parser()
    if carried:
        try:
            parser.read_string(carried.decode("utf-8"))
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise BadMetadata(info.source, f"entry_points.txt is malformed ({exc})") from exc
    added = False
    for entry in info.entry_points:
        name, sep, target = entry.partition("=")
        if not sep:
            raise BadMetadata(info.source, f"info/link.json entry point {entry!r} has no '='")
        if not parser.has_section("console_scripts"):
            parser.add_section("console_scripts")
        if not parser.has_option("console_scripts", name.strip()):
            parser.set("console_scripts", name.strip(), target.strip())
            added = True
    if not added:
        return carried
    out = io.StringIO()
    for section in parser.sections():
        out.write(f"[{section}]\n")
        for key, value in parser.items(section):
            out.write(f"{key} = {value}\n")
        out.write("\n")
    return out.getvalue().encode()


def _variant(info: CondaPackage) -> tuple[str, bytes] | None:
    """(label, variant.json) from virtual-package depends (``__cuda``, ``__archspec`` ...)."""
    props = variants.variant_properties_for_conda(info.depends)
    if not props:
        return None
    label = _variant_label(props)
    desc = variantjson.VariantDescription(label=label, properties=props)
    text = json.dumps(variantjson.write_variant_json(desc), indent=2, sort_keys=True) + "\n"
    return label, text.encode()


def _variant_label(props: Iterable[VariantProperty]) -> str:
    """variantlib's default label for these properties (the hash of the description)."""
    from variantlib.models.variant import VariantDescription as _Desc
    from variantlib.models.variant import VariantProperty as _Prop

    desc = _Desc(properties=[_Prop(namespace=p.namespace, feature=p.feature, value=p.value)
                             for p in props])
    return str(desc.hexdigest)


def wheel_metadata(info: CondaPackage, dist: DistInfo, names: NameMap, requires: Requirements,
                   tags: Sequence[Tag]) -> bytes:
    """The wheel's METADATA: the carried one (or egg-info PKG-INFO) completed from conda, with
    the depends as :func:`check_depends` translated them and the tags of :func:`wheel_tags`."""
    requires_dist, python, external, extras = requires
    environment = _marker_environment(info, tags)
    if dist.requires_txt:
        egg_requires, egg_extras = egg_requires_to_requires_dist(
            dist.requires_txt.decode("utf-8", "replace"))
        requires_dist = egg_requires + missing_requirements(egg_requires, requires_dist,
                                                            environment)
        extras = egg_extras + [e for e in extras if e not in egg_extras]
    additions = MetadataAdditions(
        name=wheel_name_for_conda(info, names), version=info.version, requires_dist=requires_dist,
        requires_python=python, requires_external=external, provides_extra=extras,
        marker_environment=environment)
    return compose_metadata(dist.metadata, info, additions)


def _marker_environment(info: CondaPackage, tags: Iterable[Tag]) -> dict[str, str] | None:
    """The marker environment of a build for one CPython version (None for noarch)."""
    for tag in tags:
        m = re.fullmatch(r"cp(\d)(\d+)", tag.interpreter)
        if m:
            return marker_environment(info.subdir, (int(m[1]), int(m[2])))
    return None


def check_depends(info: CondaPackage, names: NameMap) -> Requirements:
    """Translate the depends before any output, so a name or spec with no answer fails first; hand
    the result to :func:`wheel_metadata` instead of translating again."""
    return _translate_depends(info, names)


def _translate_depends(info: CondaPackage, names: NameMap) -> Requirements:
    """(Requires-Dist, Requires-Python, Requires-External, Provides-Extra) from the depends.

    Non-Python depends become PEP 725 DepURLs. They are written as ``Requires-External`` values:
    PEP 725's own ``Requires-External-Dep`` field is not yet core metadata that packaging (and so
    twine, pip and PyPI) accepts, while every reader takes ``Requires-External``.
    """
    extra_depends = info.index.get("extra_depends")
    result = requirements.conda_depends_to_requires_dist(
        info.depends, names=names,
        extra_depends=extra_depends if isinstance(extra_depends, dict) else None)
    # python_abi is a pin of the interpreter, which the wheel tags already say
    specs = [s for s in result.external if s.split()[0] != "python_abi"]
    external = list(conda_to_external(specs).requires_external_dep)
    return Requirements(list(result.requires_dist), result.requires_python, external,
                        list(result.extras))
