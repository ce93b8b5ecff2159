"""Conda package -> wheel (or, with ``metadata_only``, a core-metadata document).

The site-packages content of a conda package that carries a Python distribution (a ``.dist-info``
or an ``.egg-info``) becomes a wheel: METADATA completed from index.json/about.json, Requires-Dist
and Requires-Python from the conda depends, WHEEL tags from subdir, pins and ``__glibc``/``__osx``
floors, entry points from link.json, variant.json from virtual-package depends, and the rest of the
prefix under ``.data/``. The payload is streamed; only small dist-info files are held in memory.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from . import __version__
from .condameta import (
    MetadataAdditions,
    compose_metadata,
    egg_requires_to_requires_dist,
    header_mapping,
    missing_requirements,
)
from .condasource import CondaPackage, PayloadMember, iter_payload, read_conda_info
from .errors import BadArchive, BadMetadata, CwbError
from .mapping import requirements, variantjson, variants
from .mapping.external import conda_to_external
from .mapping.names import NameMap, load_name_map
from .mapping.platform import marker_environment, tags_for_conda
from .model import VariantProperty
from .wheelwriter import WheelWriter, wheel_filename

__all__ = [
    "PythonLayout",
    "conda_to_wheel",
    "core_metadata_for_conda",
    "python_layout",
    "wheel_name_for_conda",
]

_SITE_RE = re.compile(r"^(lib/python\d+\.\d+t?/site-packages|Lib/site-packages|site-packages)/")
_DIST_RE = re.compile(r"^([^/]+\.(?:dist-info|egg-info))(?:/|$)")
#: installation records that describe one install, not the distribution (PEP 376, 610, 627)
_DROP_DIST_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "RECORD.jws",
                   "RECORD.p7s", "WHEEL"}
#: egg-info files with no dist-info counterpart
_DROP_EGG_INFO = {"SOURCES.txt", "dependency_links.txt", "not-zip-safe", "zip-safe",
                  "installed-files.txt", "requires.txt", "PKG-INFO", "pbr.json"}
_SMALL = 16 * 1024 * 1024
_LINK_SCRIPT = re.compile(r"^\..+-(pre-link|post-link|pre-unlink)\.(sh|bat|ps1)$")
_PY_SHEBANG = re.compile(rb"^#![^\n]*python[\w.]*[^\n]*\n")


@dataclass(frozen=True)
class PythonLayout:
    """Where a conda package keeps its Python distribution."""

    site_packages: str  # "site-packages", "lib/python3.10/site-packages", "Lib/site-packages"
    scripts: tuple[str, ...]  # prefix directories whose files are scripts
    dist_dir: str | None  # "foo-1.0.dist-info" / "foo-1.0-py3.7.egg-info" inside site-packages


@dataclass
class _Collected:
    """Small files of the distribution's metadata directory, read while streaming."""

    metadata: bytes | None = None
    entry_points: bytes | None = None
    wheel: bytes | None = None
    requires_txt: bytes | None = None
    variant_json: bytes | None = None
    extras: list[tuple[str, bytes]] = field(default_factory=list)


def python_layout(package: CondaPackage) -> PythonLayout | None:
    """The site-packages location and distribution directory, or None if there is no Python."""
    paths = [p.path for p in package.paths] if package.paths is not None else None
    if paths is None:
        paths = [m.path for m in iter_payload(package.source, package) if m.kind != "directory"]
    if package.noarch == "python":
        site = "site-packages"
        scripts: tuple[str, ...] = ("python-scripts",)
    else:
        sites = {m[1] for p in paths if (m := _SITE_RE.match(p)) and m[1] != "site-packages"}
        if not sites:
            return None
        if len(sites) > 1:
            raise BadMetadata(package.source, f"several site-packages directories: {sorted(sites)}")
        site = sites.pop()
        scripts = ("Scripts",) if site.startswith("Lib/") else ("bin",)
    dists = {m[1] for p in paths if p.startswith(site + "/")
             and (m := _DIST_RE.match(p[len(site) + 1:]))}
    if len(dists) > 1:
        raise BadMetadata(package.source, f"carries {len(dists)} Python distributions "
                                          f"({', '.join(sorted(dists))}); a wheel holds one")
    if not any(p.startswith(site + "/") for p in paths):
        return None
    return PythonLayout(site, scripts, dists.pop() if dists else None)


def wheel_name_for_conda(package: CondaPackage, names: NameMap) -> str:
    """The PyPI project name for a conda package (through the name map, else the conda name)."""
    return names.conda_to_pypi(package.name) or package.name


def core_metadata_for_conda(package: str | Path, *, names: NameMap | None = None) -> bytes:
    """The core-metadata document describing ``package`` (its carried METADATA, completed).

    Packages without a Python distribution get one synthesised from index.json and about.json.
    """
    with _naming(package):
        info = read_conda_info(package)
        return _core_metadata(info, names if names is not None else load_name_map())[0]


def _core_metadata(info: CondaPackage, names: NameMap) -> tuple[bytes, str]:
    """(METADATA, wheel file name) without writing the wheel: only the dist-info is read."""
    layout = python_layout(info)
    collected = _Collected()
    if layout is not None and layout.dist_dir is not None:
        prefix = f"{layout.site_packages}/{layout.dist_dir}/"
        for member in iter_payload(info.source, info, complete=False):
            if member.path.startswith(prefix) and member.stream is not None:
                _collect(info, collected, member.path[len(prefix):], member)
    metadata = _metadata(info, collected, names)
    variant = _carried_variant(info, collected.variant_json) or _variant(info)
    return metadata, _filename(info, metadata, collected.wheel, variant[0] if variant else None)


def conda_to_wheel(
    package: Path,
    out_dir: Path,
    *,
    names: NameMap | None = None,
    metadata_only: bool = False,
) -> Path:
    """Convert ``package`` into a wheel in ``out_dir`` and return its path.

    With ``metadata_only`` write ``<wheel name>.metadata`` (the PEP 658 form) instead; that works
    for any conda package. Without it, a package that carries no Python distribution is refused.
    Errors name ``package`` (a rule that failed on one value says which, after it).
    """
    with _naming(package):
        return _conda_to_wheel(Path(package), Path(out_dir), names, metadata_only)


@contextlib.contextmanager
def _naming(package: str | Path) -> Iterator[None]:
    """Re-raise a mapping error about one value (a name, a spec) as an error about ``package``."""
    try:
        yield
    except CwbError as exc:
        if exc.where == str(package):
            raise
        raise type(exc)(package, f"{exc.where}: {exc.reason}") from None


def _conda_to_wheel(package: Path, out_dir: Path, names: NameMap | None,
                    metadata_only: bool) -> Path:
    from .atomic import atomic_write_bytes

    info = read_conda_info(package)
    names = names if names is not None else load_name_map()
    layout = python_layout(info)
    if metadata_only:
        data, filename = _core_metadata(info, names)
        target = Path(out_dir) / f"{filename}.metadata"
        atomic_write_bytes(target, data)
        return target
    if layout is None or layout.dist_dir is None:
        where = "no site-packages content" if layout is None else (
            f"site-packages content but no .dist-info or .egg-info in {layout.site_packages}/")
        raise BadMetadata(info.source, f"carries no Python distribution ({where}); nothing to "
                                       "make a wheel of (use --metadata-only for its metadata)")
    return _write_wheel(info, layout, names, Path(out_dir))


# --- the wheel ---------------------------------------------------------------------------------

def _write_wheel(info: CondaPackage, layout: PythonLayout, names: NameMap, out_dir: Path) -> Path:
    assert layout.dist_dir is not None
    site = layout.site_packages + "/"
    dist_prefix = f"{site}{layout.dist_dir}/"
    stem = _dist_stem(info, layout.dist_dir)
    dist_info, data_dir = f"{stem}.dist-info", f"{stem}.data"
    _translate_depends(info, names)  # a name or spec with no answer fails before any output
    collected = _Collected()
    sources = {p.path for p in info.paths or ()}
    scripts: list[tuple[str, bytes, int]] = []  # held until the entry points are all known
    links: dict[str, str] = {}  # arcname -> payload path whose content it needs (second pass)
    partial = out_dir / f"{stem}-0-py3-none-any.whl"
    with WheelWriter(partial) as writer:
        for member in iter_payload(info.source, info):
            if member.kind == "directory":
                continue
            if member.path.startswith(dist_prefix):
                _collect(info, collected, member.path[len(dist_prefix):], member)
                continue
            arcname = _arcname(member.path, site, layout, data_dir, sources)
            if arcname is None:
                continue
            if member.kind in ("symlink", "hardlink"):
                links[arcname] = _link_source(member)
            elif arcname.startswith(f"{data_dir}/scripts/"):
                scripts.append((arcname, _read_small(info, member), member.mode))
            else:
                assert member.stream is not None
                writer.add_stream(arcname, member.stream, mode=member.mode, size=member.size)
        entry_points = _entry_points(info, collected)
        launchers = _script_names(entry_points)
        for arcname, data, mode in scripts:
            script = re.sub(r"(-script\.pyw?|\.exe)$", "", arcname.rsplit("/", 1)[1])
            if script not in launchers:  # an entry point's launcher: the installer writes its own
                writer.add_bytes(arcname, _fix_script(data), mode=mode | 0o755)
        if links:
            _add_links(info, writer, links)
        metadata = _metadata(info, collected, names)
        variant = _carried_variant(info, collected.variant_json) or _variant(info)
        filename = _filename(info, metadata, collected.wheel, variant[0] if variant else None)
        if "-".join(filename.split("-")[:2]) != stem:
            raise BadMetadata(info.source, f"{layout.dist_dir} does not match the name and "
                                           f"version of its METADATA ({filename})")
        writer.add_bytes(f"{dist_info}/METADATA", metadata)
        writer.add_bytes(f"{dist_info}/WHEEL", _wheel_file(info, collected.wheel, filename))
        if entry_points:
            writer.add_bytes(f"{dist_info}/entry_points.txt", entry_points)
        if variant:
            writer.add_bytes(f"{dist_info}/variant.json", variant[1])
        for rel, data in collected.extras:
            writer.add_bytes(f"{dist_info}/{rel}", data)
        writer.finish(dist_info)
    target = out_dir / filename
    partial.replace(target)
    return target


def _dist_stem(info: CondaPackage, dist_dir: str) -> str:
    """``{name}-{version}`` of the wheel's dist-info, from the carried dist-info/egg-info name."""
    base = dist_dir.rsplit(".", 1)[0]
    name, _, rest = base.partition("-")
    version = rest.split("-py", 1)[0] if dist_dir.endswith(".egg-info") else rest
    try:
        version = str(Version(version))
    except InvalidVersion:
        reason = f"{dist_dir}: {version!r} is not a PEP 440 version"
        raise BadMetadata(info.source, reason) from None
    return f"{canonicalize_name(name).replace('-', '_')}-{version}"


def _arcname(path: str, site: str, layout: PythonLayout, data_dir: str,
             sources: set[str]) -> str | None:
    """Where a payload file goes in the wheel; None for files a wheel must not carry."""
    if path.startswith(site):
        rel = path[len(site):]
        if rel.endswith((".pyc", ".pyo")) and (
                "/__pycache__/" in f"/{rel}" or path[:-1] in sources):
            return None  # bytecode of one interpreter; installers compile their own
        return rel
    top, _, rest = path.partition("/")
    if top in layout.scripts and rest and "/" not in rest:
        if _LINK_SCRIPT.match(rest):
            return None  # conda link scripts have no meaning for a wheel installer
        return f"{data_dir}/scripts/{rest}"
    return f"{data_dir}/data/{path}"


def _collect(info: CondaPackage, collected: _Collected, rel: str, member: PayloadMember) -> None:
    """Keep one file of the distribution's metadata directory (they are small)."""
    if member.kind != "file" or member.stream is None:
        raise BadArchive(info.source, f"{member.path}: links inside the metadata directory "
                                      "are not supported")
    if rel in _DROP_DIST_INFO and rel != "WHEEL":
        return
    data = _read_small(info, member)
    egg = ".egg-info" in member.path.split("/")[-2] if "/" in member.path else False
    if rel in ("METADATA", "PKG-INFO"):
        collected.metadata = data
    elif rel == "WHEEL":
        collected.wheel = data
    elif rel == "entry_points.txt":
        collected.entry_points = data
    elif rel == "requires.txt":
        collected.requires_txt = data
    elif rel == "variant.json":
        collected.variant_json = data
    elif egg and rel in _DROP_EGG_INFO:
        return
    else:
        collected.extras.append((rel, data))


def _read_small(info: CondaPackage, member: PayloadMember) -> bytes:
    assert member.stream is not None
    data = member.stream.read(_SMALL + 1)
    if len(data) > _SMALL:
        raise BadArchive(info.source, f"{member.path} is too large for a metadata/script file")
    return data


def _link_source(member: PayloadMember) -> str:
    assert member.target is not None
    if member.kind == "hardlink":
        return member.target
    return posixpath.normpath(posixpath.join(posixpath.dirname(member.path), member.target))


def _add_links(info: CondaPackage, writer: WheelWriter, links: Mapping[str, str]) -> None:
    """Wheels hold no links: copy each link's target content under the link's name."""
    symlinks = {m.path: _link_source(m) for m in iter_payload(info.source, info)
                if m.kind == "symlink"}
    wanted: dict[str, list[str]] = {}
    for arcname, source in links.items():
        seen = set()
        while source in symlinks and source not in seen:
            seen.add(source)
            source = symlinks[source]
        wanted.setdefault(source, []).append(arcname)
    found = set()
    for member in iter_payload(info.source, info):
        if member.kind == "file" and member.path in wanted:
            assert member.stream is not None
            data = _read_small(info, member)
            for arcname in wanted[member.path]:
                writer.add_bytes(arcname, data, mode=member.mode)
            found.add(member.path)
    missing = sorted(set(wanted) - found)
    if missing:
        raise BadArchive(info.source, f"link to {missing[0]} cannot go in a wheel: its target is "
                                      "not a file of this package")


def _fix_script(data: bytes) -> bytes:
    """A script's python shebang becomes ``#!python`` so the installer points it at its Python."""
    if _PY_SHEBANG.match(data):
        return b"#!python\n" + data[data.index(b"\n") + 1:]
    return data


def _wheel_file(info: CondaPackage, carried: bytes | None, filename: str) -> bytes:
    parts = filename[: -len(".whl")].split("-")
    tags = parts[-3:]
    build = _wheel_build(carried)
    lines = ["Wheel-Version: 1.0", f"Generator: conda-wheel-bridge {__version__}",
             f"Root-Is-Purelib: {'true' if info.noarch == 'python' else 'false'}"]
    for interp in tags[0].split("."):
        for abi in tags[1].split("."):
            for plat in tags[2].split("."):
                lines.append(f"Tag: {interp}-{abi}-{plat}")
    if build:
        lines.append(f"Build: {build}")
    return ("\n".join(lines) + "\n\n").encode()


def _wheel_build(carried: bytes | None) -> str | None:
    if not carried:
        return None
    m = re.search(rb"^Build:\s*(\S+)", carried, re.MULTILINE)
    return m[1].decode() if m else None


def _filename(info: CondaPackage, metadata: bytes, carried_wheel: bytes | None = None,
              label: str | None = None) -> str:
    fields = header_mapping(metadata)
    return wheel_filename(fields["name"][0].strip(), fields["version"][0].strip(),
                          _tags(info, carried_wheel), build=_wheel_build(carried_wheel),
                          variant_label=label)


def _carried_variant(info: CondaPackage, data: bytes | None) -> tuple[str, bytes] | None:
    """A variant.json the distribution already carries (a variant wheel gone through conda)."""
    if data is None:
        return None
    try:
        desc = variantjson.read_variant_json(json.loads(data))
    except (ValueError, TypeError) as exc:
        raise BadMetadata(info.source, f"carried variant.json is unreadable ({exc})") from exc
    return desc.label, data


def _tags(info: CondaPackage, carried_wheel: bytes | None = None) -> list[Tag]:
    """The tags conda's subdir and depends give; the carried WHEEL's tags when they name the
    same platforms (they keep what conda cannot say: ``abi3``, ``py2.py3``)."""
    computed = tags_for_conda(info.subdir, info.depends)
    if carried_wheel:
        carried = [parse_tag(m.decode().strip()) for m in
                   re.findall(rb"^Tag:\s*(\S+)", carried_wheel, re.MULTILINE)]
        tags = [t for group in carried for t in group]
        if tags and {t.platform for t in tags} == {t.platform for t in computed}:
            return tags
    return computed


# --- entry points, variants, metadata -------------------------------------------------------------

def _script_names(entry_points: bytes | None) -> set[str]:
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


def _entry_points(info: CondaPackage, collected: _Collected) -> bytes | None:
    """entry_points.txt: the carried one (kept as is) plus link.json's console scripts."""
    carried = collected.entry_points
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


def _metadata(info: CondaPackage, collected: _Collected, names: NameMap) -> bytes:
    requires, python, external, extras = _translate_depends(info, names)
    environment = _marker_environment(info, collected.wheel)
    if collected.requires_txt:
        egg_requires, egg_extras = egg_requires_to_requires_dist(
            collected.requires_txt.decode("utf-8", "replace"))
        requires = egg_requires + missing_requirements(egg_requires, requires, environment)
        extras = egg_extras + [e for e in extras if e not in egg_extras]
    additions = MetadataAdditions(
        name=wheel_name_for_conda(info, names), version=info.version, requires_dist=requires,
        requires_python=python, requires_external=external, provides_extra=extras,
        marker_environment=environment)
    return compose_metadata(collected.metadata, info, additions)


def _marker_environment(info: CondaPackage, carried_wheel: bytes | None) -> dict[str, str] | None:
    """The marker environment of a build for one CPython version (None for noarch)."""
    for tag in _tags(info, carried_wheel):
        m = re.fullmatch(r"cp(\d)(\d+)", tag.interpreter)
        if m:
            return marker_environment(info.subdir, (int(m[1]), int(m[2])))
    return None


def _translate_depends(info: CondaPackage, names: NameMap) -> tuple[list[str], str | None,
                                                                    list[str], list[str]]:
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
    return list(result.requires_dist), result.requires_python, external, list(result.extras)
