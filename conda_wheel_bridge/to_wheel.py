"""Conda package -> wheel (or, with ``metadata_only``, a core-metadata document).

The site-packages content of a conda package that carries a Python distribution (a ``.dist-info``
or an ``.egg-info``) becomes a wheel: METADATA completed from index.json/about.json, Requires-Dist
and Requires-Python from the conda depends, WHEEL tags from subdir, pins and ``__glibc``/``__osx``
floors, entry points from link.json, variant.json from virtual-package depends, and the rest of the
prefix under ``.data/``. The payload is streamed; only small dist-info files are held in memory.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .atomic import atomic_write_bytes
from .condasource import CondaPackage, PayloadMember, iter_payload, read_conda_info
from .distinfo import INSTALL_FILES
from .errors import BadArchive, BadMetadata, CwbError
from .launchers import launcher_stem
from .mapping.names import NameMap, load_name_map
from .to_wheel_meta import (
    DistInfo,
    Requirements,
    check_depends,
    entry_points_txt,
    script_names,
    variant_json,
    wheel_file,
    wheel_filename_for,
    wheel_metadata,
    wheel_name_for_conda,
    wheel_tags,
)
from .wheelwriter import WheelWriter

__all__ = [
    "PythonLayout",
    "conda_to_wheel",
    "core_metadata_for_conda",
    "python_layout",
    "wheel_core_metadata",
    "wheel_name_for_conda",
]

_SITE_RE = re.compile(r"^(lib/python\d+\.\d+t?/site-packages|Lib/site-packages|site-packages)/")
_DIST_RE = re.compile(r"^([^/]+\.(?:dist-info|egg-info))(?:/|$)")
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


def core_metadata_for_conda(package: str | Path, *, names: NameMap | None = None) -> bytes:
    """The core-metadata document describing ``package`` (its carried METADATA, completed).

    Packages without a Python distribution get one synthesised from index.json and about.json.
    """
    with _naming(package):
        info = read_conda_info(package)
        names = names if names is not None else load_name_map()
        return _core_metadata(info, python_layout(info), names)[0]


def wheel_core_metadata(info: CondaPackage, layout: PythonLayout | None, names: NameMap, *,
                        payload: Iterable[PayloadMember] | None = None) -> tuple[bytes, str]:
    """(METADATA, wheel file name) of the wheel ``info`` becomes, from the ``info/`` and
    :func:`python_layout` the caller has already (only the dist-info is streamed, if any).

    ``payload``: the package's members as the caller streams them (``condasource.scan_conda``
    reads a ``.tar.bz2`` once), instead of a pass of :func:`iter_payload` here.
    Errors name ``info.source``, as :func:`core_metadata_for_conda`'s do.
    """
    with _naming(info.source):
        return _core_metadata(info, layout, names, payload)


def _core_metadata(info: CondaPackage, layout: PythonLayout | None, names: NameMap,
                   payload: Iterable[PayloadMember] | None = None) -> tuple[bytes, str]:
    """(METADATA, wheel file name) without writing the wheel: only the dist-info is read."""
    dist = DistInfo()
    if layout is not None and layout.dist_dir is not None:
        prefix = f"{layout.site_packages}/{layout.dist_dir}/"
        members = payload if payload is not None else iter_payload(info.source, info,
                                                                   complete=False)
        for member in members:
            rel = _dist_member(member.path, prefix)
            if rel is not None and member.stream is not None:
                _collect(info, dist, rel, member)
    metadata, _, filename = _metadata_and_name(info, dist, names, check_depends(info, names))
    return metadata, filename


def _metadata_and_name(info: CondaPackage, dist: DistInfo, names: NameMap,
                       requires: Requirements) -> tuple[bytes, tuple[str, bytes] | None, str]:
    """METADATA, (label, variant.json) and the wheel file name, from the depends translated once
    (``requires``) and the tags computed once here, so METADATA's markers and the name agree."""
    tags = wheel_tags(info, dist.wheel)
    metadata = wheel_metadata(info, dist, names, requires, tags)
    variant = variant_json(info, dist)
    filename = wheel_filename_for(metadata, tags, dist.wheel, variant[0] if variant else None)
    return metadata, variant, filename


def conda_to_wheel(
    package: Path | str,
    out_dir: Path | str,
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
        raise exc.about(package) from None


def _conda_to_wheel(package: Path, out_dir: Path, names: NameMap | None,
                    metadata_only: bool) -> Path:
    info = read_conda_info(package)
    names = names if names is not None else load_name_map()
    layout = python_layout(info)
    if metadata_only:
        data, filename = _core_metadata(info, layout, names)
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
    """Stream the payload into a wheel; the dist-info files are written last, RECORD by finish."""
    assert layout.dist_dir is not None
    site = layout.site_packages + "/"
    dist_prefix = f"{site}{layout.dist_dir}/"
    stem = _dist_stem(info, layout.dist_dir)
    dist_info, data_dir = f"{stem}.dist-info", f"{stem}.data"
    requires = check_depends(info, names)  # fails here, before any output, on an unmapped depend
    dist = DistInfo()
    sources = {p.path for p in info.paths or ()}
    scripts: list[tuple[str, bytes, int]] = []  # held until the entry points are all known
    links: dict[str, str] = {}  # arcname -> payload path whose content it needs (second pass)
    symlinks: dict[str, str] = {}  # every symlink of the package -> what it points to
    # the final name (tags, label) is known only once the payload is read: the writer's
    # temporary file lives beside it, and finish() renames it straight to writer.path
    with WheelWriter(out_dir / f"{stem}.whl") as writer:
        for member in iter_payload(info.source, info):
            if member.kind == "directory":
                continue
            if member.kind == "symlink":
                symlinks[member.path] = _link_source(member)
            rel = _dist_member(member.path, dist_prefix)
            if rel is not None:
                _collect(info, dist, rel, member)
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
        entry_points = entry_points_txt(info, dist)
        launchers = script_names(entry_points)
        for arcname, data, mode in scripts:
            script = launcher_stem(arcname.rsplit("/", 1)[1])
            if script not in launchers:  # an entry point's launcher: the installer writes its own
                writer.add_bytes(arcname, _fix_script(data), mode=mode | 0o755)
        if links:
            _add_links(info, writer, links, symlinks)
        metadata, variant, filename = _metadata_and_name(info, dist, names, requires)
        if "-".join(filename.split("-")[:2]) != stem:
            raise BadMetadata(info.source, f"{layout.dist_dir} does not match the name and "
                                           f"version of its METADATA ({filename})")
        writer.add_bytes(f"{dist_info}/METADATA", metadata)
        writer.add_bytes(f"{dist_info}/WHEEL", wheel_file(info, dist.wheel, filename))
        if entry_points:
            writer.add_bytes(f"{dist_info}/entry_points.txt", entry_points)
        if variant:
            writer.add_bytes(f"{dist_info}/variant.json", variant[1])
        for rel, data in dist.extras:
            writer.add_bytes(f"{dist_info}/{rel}", data)
        writer.path = out_dir / filename
        writer.finish(dist_info)
    return writer.path


def _dist_member(path: str, prefix: str) -> str | None:
    """``path`` relative to the distribution's metadata directory; an egg-info that is one
    file (as distutils wrote it) is its PKG-INFO."""
    if path.startswith(prefix):
        return path[len(prefix):]
    if path == prefix[:-1] and path.endswith(".egg-info"):
        return "PKG-INFO"
    return None


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


def _collect(info: CondaPackage, dist: DistInfo, rel: str, member: PayloadMember) -> None:
    """Keep one file of the distribution's metadata directory (they are small)."""
    if member.kind != "file" or member.stream is None:
        raise BadArchive(info.source, f"{member.path}: links inside the metadata directory "
                                      "are not supported")
    if rel in INSTALL_FILES:
        return
    data = _read_small(info, member)
    egg = ".egg-info/" in member.path or member.path.endswith(".egg-info")
    if rel in ("METADATA", "PKG-INFO"):
        dist.metadata = data
    elif rel == "WHEEL":
        dist.wheel = data
    elif rel == "entry_points.txt":
        dist.entry_points = data
    elif rel == "requires.txt":
        dist.requires_txt = data
    elif rel == "variant.json":
        dist.variant_json = data
    elif egg and rel in _DROP_EGG_INFO:
        return
    else:
        dist.extras.append((rel, data))


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


def _add_links(info: CondaPackage, writer: WheelWriter, links: Mapping[str, str],
               symlinks: Mapping[str, str]) -> None:
    """Wheels hold no links: copy each link's target content under the link's name (one more
    pass over the payload; a target with one link is streamed, with several it is read once)."""
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
            names = wanted[member.path]
            if len(names) == 1:
                writer.add_stream(names[0], member.stream, mode=member.mode, size=member.size)
            else:
                data = _read_small(info, member)
                for arcname in names:
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


