"""Wheel → conda package: a wheel's files, metadata and tags become a correct conda package.

The wheel is the source, a conda package is the destination (pypa/installer's shape). Every rule of
translation lives in :mod:`conda_wheel_bridge.mapping`; this module lays the files out, writes the
``info/`` metadata and streams the payload (bounded memory whatever the wheel's size).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from packaging.version import InvalidVersion, Version

from . import __version__
from .condafile import DEFAULT_ZSTD_LEVEL, FORMATS, conda_writer
from .digest import HashingReader, sha256_stream
from .errors import BadArchive, BadMetadata, CwbError, UnsafePath, UnsupportedTag
from .launchers import (
    PREFIX_PLACEHOLDER,
    entry_point_target,
    posix_launcher,
    rewrite_python_shebang,
    windows_launcher,
)
from .licenses import license_files, spdx_license
from .mapping.external import external_field_values, external_to_conda_depends
from .mapping.names import NameMap, load_name_map
from .mapping.platform import subdirs_for_wheel, targets_for_wheel
from .mapping.requirements import requires_dist_to_conda
from .model import CondaTarget
from .wheelfile import WheelInfo, WheelMember, WheelReader, open_wheel

__all__ = [
    "ConvertResult",
    "WheelVariant",
    "wheel_depends",
    "wheel_to_conda",
    "wheel_to_conda_all",
    "wheel_variant",
]

_CHUNK = 1 << 20
#: scripts up to this size are read whole to rewrite a ``#!python`` shebang; larger ones are copied
_MAX_SCRIPT = 8 << 20
#: dist-info files that conda must not carry over (see docs/convert.md)
_DROPPED = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD", "RECORD.jws", "RECORD.p7s")
_FORBIDDEN_TOP = ("info", "conda-meta")
#: a script name becomes a file name in bin/ or Scripts/: no separators, no leading dot
_SCRIPT_NAME = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class ConvertResult:
    """One conda package written: its path, subdir, the index.json it carries, and ``notes``: one
    line per requirement the translation changed or dropped (markers conda cannot say ...)."""

    path: Path
    subdir: str
    index: Mapping[str, Any] = field(repr=False)
    notes: tuple[str, ...] = ()


@dataclass
class _Entry:
    """One payload file: where it installs, where its bytes come from, and its paths.json row."""

    path: str
    size: int
    sha256: str | None
    mode: int = 0o644
    member: WheelMember | None = None  # streamed from the wheel
    data: bytes | None = None  # made here (launchers, RECORD, rewritten scripts)
    placeholder: bool = False


def _b64_to_hex(spec: str | None) -> str | None:
    if not spec or not spec.startswith("sha256="):
        return None
    digest = spec.split("=", 1)[1]
    return base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()


def _hex_to_record(hexdigest: str) -> str:
    return "sha256=" + base64.urlsafe_b64encode(bytes.fromhex(hexdigest)).rstrip(b"=").decode()


def _bytes_entry(path: str, data: bytes, mode: int = 0o644, placeholder: bool = False) -> _Entry:
    return _Entry(path, len(data), hashlib.sha256(data).hexdigest(), mode, None, data, placeholder)


def _conda_version(version: str, where: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:
        raise BadMetadata(where, f"version {version!r} is not PEP 440") from None


class _Layout:
    """Where each wheel member goes in the conda package (DESIGN.md §4, ``.data`` schemes)."""

    def __init__(self, info: WheelInfo, target: CondaTarget, where: str) -> None:
        self.info, self.target, self.where = info, target, where
        if target.noarch_python:
            self.headers = f"include/{info.metadata['Name']}"
        elif target.is_windows:
            self.headers = f"Include/{info.metadata['Name']}"
        else:
            major, minor = target.python_version or (3, 0)
            t = "t" if target.free_threaded else ""
            self.headers = f"include/python{major}.{minor}{t}/{info.metadata['Name']}"

    def place(self, name: str) -> tuple[str, str]:
        """``(scheme, installed path)`` for a wheel member name."""
        data_prefix = self.info.data_dir + "/"
        site = self.target.site_packages
        if not name.startswith(data_prefix):
            return "root", f"{site}/{name}"
        scheme, _, rest = name[len(data_prefix) :].partition("/")
        if not rest:
            raise BadArchive(self.where, f"{name}: a .data member outside any scheme directory")
        if scheme in ("purelib", "platlib"):
            return scheme, f"{site}/{rest}"
        if scheme == "scripts":
            return scheme, f"{self.target.scripts_dir}/{rest}"
        if scheme == "headers":
            return scheme, f"{self.headers}/{rest}"
        if scheme == "data":
            top = rest.split("/", 1)[0]
            if top in _FORBIDDEN_TOP:
                raise UnsafePath(self.where, f"{name} would install into the package's {top}/")
            return scheme, rest
        raise BadArchive(self.where, f"{name}: unknown .data scheme {scheme!r}")

    def record_path(self, path: str) -> str:
        """The RECORD path (relative to site-packages as installed) of an installed path."""
        site = self.target.site_packages
        if self.target.noarch_python:
            # RECORD of noarch packages is written for the POSIX layout (see docs/convert.md)
            site = "lib/pythonX.Y/site-packages"
            if path.startswith("site-packages/"):
                path = site + path[len("site-packages") :]
            elif path.startswith("python-scripts/"):
                path = "bin" + path[len("python-scripts") :]
        return posixpath.relpath(path, site)


def _read_limited(reader: WheelReader, member: WheelMember, limit: int) -> bytes:
    with reader.open(member) as fh:
        data = fh.read(limit + 1)
        if len(data) > limit:
            raise BadArchive(reader.info.path, f"{member.name} is larger than {limit} bytes")
        while fh.read(_CHUNK):  # pragma: no cover - only if size lied; reading on verifies
            pass
    return data


def _hash_member(reader: WheelReader, member: WheelMember) -> str:
    with reader.open(member) as fh:
        return sha256_stream(fh)


def _plan(reader: WheelReader, target: CondaTarget, where: str) -> tuple[list[_Entry], list[str]]:
    """The payload entries (RECORD last to be computed) and the link.json entry points."""
    info = reader.info
    layout = _Layout(info, target, where)
    entries: list[_Entry] = []
    dist_info = info.dist_info
    for member in reader.members:
        if (
            member.name.startswith(dist_info + "/")
            and member.name[len(dist_info) + 1 :] in _DROPPED
        ):
            continue
        scheme, path = layout.place(member.name)
        executable = bool(member.mode & 0o111) or scheme == "scripts"
        mode = 0o755 if executable else 0o644
        if scheme == "scripts" and member.size <= _MAX_SCRIPT:
            data = _read_limited(reader, member, _MAX_SCRIPT)
            rewritten = None if target.is_windows else rewrite_python_shebang(data)
            if rewritten is not None:
                entries.append(_bytes_entry(path, rewritten, mode, placeholder=True))
                continue
            entries.append(_bytes_entry(path, data, mode))
            continue
        sha = _b64_to_hex(info.record.get(member.name, (None, None))[0])
        if sha is None:
            sha = _hash_member(reader, member)  # RECORD used another algorithm: hash it here
        entries.append(_Entry(path, member.size, sha, mode, member))

    link_entry_points: list[str] = []
    groups = (("console_scripts", False), ("gui_scripts", True))
    for group, gui in groups:
        for name, value in sorted(info.entry_points.get(group, {}).items()):
            if not _SCRIPT_NAME.match(name):
                raise UnsafePath(where, f"entry_points.txt [{group}]: script name {name!r}")
            try:
                entry_point_target(value)
            except ValueError as exc:
                raise BadMetadata(where, f"entry_points.txt [{group}] {name}: {exc}") from None
            if target.noarch_python:
                link_entry_points.append(f"{name} = {value.split('[')[0].strip()}")
            elif target.is_windows:
                for fname, data in windows_launcher(name, value, gui=gui).items():
                    mode = 0o755 if fname.endswith(".cmd") else 0o644
                    entries.append(_bytes_entry(f"{target.scripts_dir}/{fname}", data, mode))
            else:
                entries.append(
                    _bytes_entry(
                        f"{target.scripts_dir}/{name}",
                        posix_launcher(value),
                        0o755,
                        placeholder=True,
                    )
                )

    installer = _bytes_entry(f"{target.site_packages}/{dist_info}/INSTALLER", b"conda\n")
    entries.append(installer)
    _check_unique(entries, where)
    record_path = f"{target.site_packages}/{dist_info}/RECORD"
    rows = []
    for e in sorted(entries, key=lambda e: e.path):
        rec = layout.record_path(e.path)
        if e.placeholder or e.sha256 is None:
            rows.append(f"{_csv(rec)},,")  # rewritten at install time: no honest hash to give
        else:
            rows.append(f"{_csv(rec)},{_hex_to_record(e.sha256)},{e.size}")
    rows.append(f"{_csv(layout.record_path(record_path))},,")
    entries.append(_bytes_entry(record_path, ("\n".join(rows) + "\n").encode()))
    entries.sort(key=lambda e: e.path)
    return entries, link_entry_points


def _csv(path: str) -> str:
    return f'"{path}"' if ("," in path or '"' in path) else path


def _check_unique(entries: Sequence[_Entry], where: str) -> None:
    seen: set[str] = set()
    for e in entries:
        key = e.path.lower() if e.path.startswith(("Lib/", "Scripts/")) else e.path
        if key in seen:
            raise BadArchive(where, f"two members install to {e.path}")
        seen.add(key)


def _load_names(names: NameMap | None) -> NameMap:
    return names if names is not None else load_name_map()


def wheel_depends(
    info: WheelInfo,
    target: CondaTarget,
    names: NameMap,
    where: str,
    variant: WheelVariant | None = None,
) -> tuple[list[str], dict[str, list[str]], tuple[str, ...]]:
    """A wheel's conda ``depends`` for ``target`` (tag pins, Requires-Dist, PEP 725 externals,
    variant properties), its ``extra_depends`` and what the translation lost."""
    environment = target.marker_environment
    try:
        translated = requires_dist_to_conda(
            info.requires_dist, names=names, environment=environment
        )
        external = external_to_conda_depends(
            external_field_values(info.metadata), environment=environment, names=names
        )
    except CwbError as exc:
        raise BadMetadata(where, f"{exc.where}: {exc.reason}") from None
    except ValueError as exc:
        raise BadMetadata(where, f"Requires-Dist: {exc}") from None
    depends = [*target.depends, *translated.depends, *external.depends]
    extras = {k: list(v) for k, v in translated.extra_depends.items()}
    for extra, specs in external.extra_depends.items():
        extras[extra] = _dedupe([*extras.get(extra, []), *specs])
    depends += (variant or wheel_variant(info, where)).depends
    return _dedupe(depends), extras, tuple(getattr(translated, "losses", ()))


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class WheelVariant:
    """What a variant wheel's ``variant.json`` adds: depends, build-string label, build rank."""

    depends: tuple[str, ...] = ()
    label: str | None = None
    build_number: int = 0


def wheel_variant(info: WheelInfo, where: str) -> WheelVariant:
    """The variant facts of a wheel (empty for a wheel without ``variant.json``)."""
    if info.variant_json is None:
        return WheelVariant()
    from .mapping.variants import conda_for_variant, read_variant_json

    label = info.filename.variant_label
    desc = read_variant_json(dict(info.variant_json), where=f"{info.dist_info}/variant.json")
    build = conda_for_variant(desc, label or "")
    return WheelVariant(tuple(build.depends), build.build_label or label, int(build.build_number))


def _build_string(
    target: CondaTarget, depends: Sequence[str], label: str | None, number: int
) -> str:
    if target.python_version is None:
        prefix = "py"
    else:
        major, minor = target.python_version
        prefix = f"py{major}{minor}{'t' if target.free_threaded else ''}"
    digest = hashlib.sha1("\n".join(sorted(depends)).encode()).hexdigest()[:7]
    middle = f"_{label}" if label else ""
    return f"{prefix}h{digest}{middle}_{number}"


def _wheel_build_number(build: str | None) -> int:
    if not build:
        return 0
    digits = ""
    for ch in build:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits or 0)


_ARCH = {
    "64": "x86_64",
    "32": "x86",
    "aarch64": "aarch64",
    "arm64": "arm64",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "armv7l": "armv7l",
    "riscv64": "riscv64",
}


def _index(
    info: WheelInfo,
    target: CondaTarget,
    conda_name: str,
    depends: list[str],
    extras: dict[str, list[str]],
    variant: WheelVariant,
    timestamp: int,
    where: str,
) -> dict[str, Any]:
    number = _wheel_build_number(info.filename.build)
    if info.variant_json is not None:
        # the variant's rank dominates; the wheel's build tag only orders rebuilds of one variant
        from .mapping.variantrank import combined_build_number

        number = combined_build_number(variant.build_number, number)
    build = _build_string(target, depends, variant.label, number)
    index: dict[str, Any] = {
        "name": conda_name,
        "version": _conda_version(info.version, where),
        "build": build,
        "build_number": number,
        "depends": depends,
    }
    if extras:
        index["extra_depends"] = extras
    lic = spdx_license(info.metadata)
    if lic:
        index["license"] = lic
    index["subdir"] = target.subdir
    if target.subdir != "noarch":
        plat, _, arch = target.subdir.partition("-")
        index["platform"] = plat
        index["arch"] = _ARCH.get(arch, arch)
    if target.noarch_python:
        index["noarch"] = "python"
    index["timestamp"] = timestamp
    return index


def _about(info: WheelInfo, license_names: Sequence[str]) -> dict[str, Any]:
    meta = info.metadata
    about: dict[str, Any] = {}
    if meta.get("Summary"):
        about["summary"] = str(meta["Summary"]).strip()
    urls: dict[str, str] = {}
    for raw in meta.get_all("Project-URL") or []:
        label, _, url = str(raw).partition(",")
        urls[label.strip().lower().replace(" ", "").replace("-", "").replace("_", "")] = url.strip()
    home = str(meta.get("Home-page") or "").strip() or urls.get("homepage")
    if home and home.upper() != "UNKNOWN":
        about["home"] = home
    for key, labels in (
        ("dev_url", ("source", "sourcecode", "repository", "code")),
        ("doc_url", ("documentation", "docs")),
    ):
        for label in labels:
            if label in urls:
                about[key] = urls[label]
                break
    lic = spdx_license(meta)
    if lic:
        about["license"] = lic
    if license_names:
        about["license_file"] = list(license_names)
    about["extra"] = {
        "converted_from": info.path.name,
        "converter": f"conda-wheel-bridge {__version__}",
    }
    return about


def _paths_json(entries: Sequence[_Entry]) -> bytes:
    rows = []
    for e in entries:
        row: dict[str, Any] = {
            "_path": e.path,
            "path_type": "hardlink",
            "sha256": e.sha256,
            "size_in_bytes": e.size,
        }
        if e.placeholder:
            row["file_mode"] = "text"
            row["prefix_placeholder"] = PREFIX_PLACEHOLDER
        rows.append(row)
    return _json({"paths": rows, "paths_version": 1})


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _check_streamed(src: IO[bytes], hashed: HashingReader, entry: _Entry, where: str) -> None:
    """After a wheel member streamed into the tar: nothing left over, and size and sha256 as planned
    (reading ``src`` to EOF lets the wheel reader verify RECORD too)."""
    if src.read(1):
        raise BadArchive(where, f"{entry.path}: more data than its declared size")
    if hashed.count != entry.size or hashed.hexdigest() != entry.sha256:
        raise BadArchive(where, f"{entry.path}: content does not match RECORD")


def _convert_one(
    reader: WheelReader,
    target: CondaTarget,
    out_dir: Path,
    *,
    fmt: str,
    zstd_level: int,
    zstd_threads: int,
    names: NameMap,
) -> ConvertResult:
    info = reader.info
    where = str(info.path)
    conda_name = names.pypi_to_conda(info.name)
    variant = wheel_variant(info, where)
    depends, extras, notes = wheel_depends(info, target, names, where, variant)
    timestamp = int(os.stat(info.path).st_mtime)
    index = _index(info, target, conda_name, depends, extras, variant, timestamp * 1000, where)
    entries, link_eps = _plan(reader, target, where)
    licenses = license_files(reader)
    about = _about(info, [name for name, _ in licenses])

    stem = f"{index['name']}-{index['version']}-{index['build']}"
    path = out_dir / target.subdir / (stem + FORMATS[fmt])
    with conda_writer(path, zstd_level=zstd_level, zstd_threads=zstd_threads, mtime=timestamp) as w:
        w.add_info("index.json", _json(index))
        w.add_info("about.json", _json(about))
        w.add_info("paths.json", _paths_json(entries))
        w.add_info("files", "".join(e.path + "\n" for e in entries).encode())
        if target.noarch_python:
            link = {
                "noarch": {"type": "python", "entry_points": link_eps},
                "package_metadata_version": 1,
            }
            w.add_info("link.json", _json(link))
        for name, data in licenses:
            w.add_info(f"licenses/{name}", data)
        w.set_payload_size_hint(sum(e.size for e in entries))
        for e in entries:
            if e.data is not None:
                w.add_bytes(e.path, e.data, mode=e.mode)
                continue
            assert e.member is not None
            with reader.open(e.member) as src:
                hashed = HashingReader(src)
                w.add_file(e.path, hashed, e.size, mode=e.mode)  # type: ignore[arg-type]
                _check_streamed(src, hashed, e, where)
    return ConvertResult(path, target.subdir, index, notes)


def wheel_to_conda_all(
    wheel: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "conda",
    zstd_level: int = DEFAULT_ZSTD_LEVEL,
    zstd_threads: int = 0,
    names: NameMap | None = None,
    allow_musllinux: bool = False,
    subdirs: Collection[str] | None = None,
) -> tuple[ConvertResult, ...]:
    """Convert ``wheel`` into one conda package per subdir it reaches (two for macOS universal2),
    or only those in ``subdirs``. Packages land in ``out_dir/<subdir>/``; on any error none is
    left.
    """
    if fmt not in FORMATS:
        raise CwbError(str(wheel), f"unknown output format {fmt!r} (choose conda or tar.bz2)")
    out = Path(out_dir)
    names = _load_names(names)
    done: list[ConvertResult] = []
    try:
        with open_wheel(Path(wheel)) as reader:
            targets = targets_for_wheel(
                reader.info.filename.tags,
                reader.info.requires_python,
                where=str(wheel),
                allow_musllinux=allow_musllinux,
            )
            if subdirs is not None:
                targets = tuple(t for t in targets if t.subdir in subdirs)
                if not targets:
                    raise UnsupportedTag(
                        wheel, f"wheel reaches none of {', '.join(sorted(subdirs))}"
                    )
            for target in targets:
                done.append(
                    _convert_one(
                        reader,
                        target,
                        out,
                        fmt=fmt,
                        zstd_level=zstd_level,
                        zstd_threads=zstd_threads,
                        names=names,
                    )
                )
    except BaseException as exc:
        for result in done:
            result.path.unlink(missing_ok=True)
        if isinstance(exc, CwbError) and exc.where != str(wheel):
            # a rule failed on one value: say which wheel it came from, in one line
            raise type(exc)(str(wheel), f"{exc.where}: {exc.reason}") from None
        raise
    return tuple(done)


def wheel_to_conda(
    wheel: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "conda",
    zstd_level: int = DEFAULT_ZSTD_LEVEL,
    zstd_threads: int = 0,
    names: NameMap | None = None,
    allow_musllinux: bool = False,
    subdir: str | None = None,
) -> ConvertResult:
    """Convert ``wheel`` into one conda package under ``out_dir/<subdir>/``; ``subdir`` picks one
    when the wheel reaches several (universal2; default: the first), :func:`wheel_to_conda_all`
    writes them all."""
    if subdir is None:
        with open_wheel(Path(wheel)) as reader:
            subdir = subdirs_for_wheel(
                reader.info.filename.tags, where=str(wheel), allow_musllinux=allow_musllinux
            )[0]
    return wheel_to_conda_all(
        wheel,
        out_dir,
        fmt=fmt,
        zstd_level=zstd_level,
        zstd_threads=zstd_threads,
        names=names,
        allow_musllinux=allow_musllinux,
        subdirs=(subdir,),
    )[0]
