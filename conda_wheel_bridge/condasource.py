"""Safe streaming reader of conda packages (``.conda`` and ``.tar.bz2``).

:func:`read_conda_info` parses ``info/`` (index.json, paths.json or the old ``info/files``,
about.json, link.json); :func:`iter_payload` streams the payload member by member, refusing names
that escape the prefix, links that point outside it, and contents whose hash or size disagree with
``info/paths.json``. Memory stays bounded: nothing but ``info/`` metadata is held.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from conda_package_streaming.package_streaming import stream_conda_component

from .defaults import CONDA_SUFFIXES
from .digest import HashingReader
from .errors import BadArchive, BadMetadata, CwbError, UnsafePath

__all__ = [
    "CondaPackage",
    "MemberKind",
    "PathEntry",
    "PayloadMember",
    "is_conda_package",
    "iter_payload",
    "read_conda_info",
]

MemberKind = Literal["file", "symlink", "hardlink", "directory"]

#: info/ documents kept parsed on :class:`CondaPackage`; larger ones are refused
_MAX_INFO_JSON = 64 * 1024 * 1024
_CHUNK = 1024 * 1024
_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, lzma.LZMAError, ValueError)


@dataclass(frozen=True)
class PathEntry:
    """One row of ``info/paths.json`` (or of ``info/files``, which has only ``path``)."""

    path: str
    path_type: str = "hardlink"
    sha256: str | None = None
    size_in_bytes: int | None = None
    prefix_placeholder: str | None = None
    file_mode: str | None = None
    no_link: bool = False


@dataclass(frozen=True)
class CondaPackage:
    """The parsed ``info/`` of one conda package; the payload stays in the archive."""

    source: Path
    index: Mapping[str, Any]
    about: Mapping[str, Any]
    link: Mapping[str, Any] | None
    #: ``None`` when the package lists no paths at all (neither paths.json nor info/files)
    paths: tuple[PathEntry, ...] | None
    #: which info/ file gave ``paths``: "info/paths.json", "info/files" or ""
    listing: str
    #: other small JSON documents found in info/ (run_exports.json, ...), by member name
    extra_info: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.index["name"])

    @property
    def version(self) -> str:
        return str(self.index["version"])

    @property
    def build(self) -> str:
        return str(self.index.get("build", ""))

    @property
    def build_number(self) -> int:
        return int(self.index.get("build_number", 0) or 0)

    @property
    def subdir(self) -> str:
        """The conda platform; old packages without ``subdir`` get it from platform/arch."""
        subdir = self.index.get("subdir")
        if subdir:
            return str(subdir)
        if self.noarch:
            return "noarch"
        platform, arch = self.index.get("platform"), self.index.get("arch")
        if platform and arch:
            bits = {"x86_64": "64", "x86": "32", "aarch64": "aarch64", "arm64": "arm64"}
            return f"{platform}-{bits.get(str(arch), str(arch))}"
        return "noarch"

    @property
    def noarch(self) -> str | None:
        """``"python"``, ``"generic"`` or ``None`` (the legacy ``noarch: true`` is generic)."""
        value = self.index.get("noarch")
        if value is None and self.link is not None:
            value = (self.link.get("noarch") or {}).get("type")
        if value in (None, False, "", "false", "False"):
            return None
        if value in (True, "true", "True"):
            return "generic"
        return str(value)

    @property
    def depends(self) -> tuple[str, ...]:
        return tuple(str(d) for d in self.index.get("depends") or ())

    @property
    def constrains(self) -> tuple[str, ...]:
        return tuple(str(d) for d in self.index.get("constrains") or ())

    @property
    def entry_points(self) -> tuple[str, ...]:
        """``name = module:func`` console entry points declared in link.json (noarch: python)."""
        if not self.link:
            return ()
        noarch = self.link.get("noarch") or {}
        return tuple(str(e) for e in noarch.get("entry_points") or ())

    @property
    def filename(self) -> str:
        return self.source.name


@dataclass(frozen=True)
class PayloadMember:
    """One payload member, valid only until the iterator advances.

    ``stream`` (files only) reads the content; whatever the caller leaves unread is read and
    verified against paths.json when the iterator moves on. ``target`` is a link's target: for a
    symlink relative to the link's directory, for a hardlink another member's path.
    """

    path: str
    kind: MemberKind
    mode: int
    size: int
    target: str | None
    entry: PathEntry | None
    stream: IO[bytes] | None


def is_conda_package(path: str | Path) -> bool:
    """Whether ``path`` names a conda archive by its extension."""
    return str(path).endswith(CONDA_SUFFIXES)


def read_conda_info(package: str | Path) -> CondaPackage:
    """Parse the ``info/`` metadata of ``package``; :class:`BadArchive` if it is unreadable."""
    source = Path(package)
    docs: dict[str, Any] = {}
    files_text: str | None = None
    try:
        for tar, member in _members(source, "info"):
            name = _safe_name(source, member.name)
            if not name.startswith("info/") or not member.isfile():
                continue
            if name == "info/files":
                files_text = _read_small(source, tar, member).decode("utf-8", "replace")
            elif name.endswith(".json") and name.count("/") == 1:
                docs[name] = _parse_json(source, name, _read_small(source, tar, member))
    except CwbError:
        raise
    except _CORRUPT as exc:
        raise BadArchive(source, f"corrupt or unreadable archive ({_why(exc)})") from exc
    index = docs.pop("info/index.json", None)
    if not isinstance(index, dict):
        raise BadMetadata(source, "info/index.json is missing or not a JSON object")
    for key in ("name", "version"):
        if not isinstance(index.get(key), str) or not index[key]:
            raise BadMetadata(source, f"info/index.json has no {key!r}")
    paths: tuple[PathEntry, ...] | None
    if "info/paths.json" in docs:
        listing = "info/paths.json"
        paths = _parse_paths_json(source, docs.pop("info/paths.json"))
    elif files_text is not None:
        listing = "info/files"
        paths = tuple(PathEntry(path=_safe_name(source, p.strip(), listed=True))
                      for p in files_text.splitlines() if p.strip())
    else:
        listing, paths = "", None
    about = docs.pop("info/about.json", None)
    link = docs.pop("info/link.json", None)
    return CondaPackage(
        source=source,
        index=index,
        about=about if isinstance(about, dict) else {},
        link=link if isinstance(link, dict) else None,
        paths=paths,
        listing=listing,
        extra_info=docs,
    )


def iter_payload(
    package: str | Path, info: CondaPackage | None = None, *, complete: bool = True
) -> Iterator[PayloadMember]:
    """Stream the payload of ``package`` (everything but ``info/``), verified against its listing.

    Raises :class:`UnsafePath` for names or links that escape the prefix and :class:`BadArchive`
    for corrupt archives, members missing from or absent in the listing, and hash or size
    mismatches. Directory members are yielded too (with ``kind == "directory"``). With
    ``complete=False`` listed paths absent from the archive are not an error (metadata-only
    packages, whose payload was stripped, can still be read).
    """
    source = Path(package)
    info = info if info is not None else read_conda_info(source)
    listed = {e.path: e for e in info.paths} if info.paths is not None else None
    seen: dict[str, str] = {}  # path -> sha256 of files streamed so far (for hardlink checks)
    try:
        for tar, member in _members(source, "pkg"):
            name = _safe_name(source, member.name)
            if name.startswith("info/") or name == "info":
                continue
            yield from _payload_member(source, tar, member, name, listed, seen)
    except CwbError:
        raise
    except _CORRUPT as exc:
        raise BadArchive(source, f"corrupt or unreadable archive ({_why(exc)})") from exc
    if listed and complete:
        missing = [p for p, e in listed.items() if p not in seen and e.path_type != "directory"]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise BadArchive(source, f"{missing[0]}{more} listed in {info.listing} but missing "
                                     "from the archive")


def _payload_member(
    source: Path,
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    name: str,
    listed: dict[str, PathEntry] | None,
    seen: dict[str, str],
) -> Iterator[PayloadMember]:
    entry = listed.get(name) if listed is not None else None
    if member.isdir():
        yield PayloadMember(name, "directory", member.mode, 0, None, entry, None)
        return
    if listed is not None and entry is None:
        raise BadArchive(source, f"{name} is in the archive but not listed in the package's "
                                 "info/ listing")
    if name in seen:
        raise BadArchive(source, f"{name} appears twice in the archive")
    if member.issym():
        target = _safe_link(source, name, member.linkname)
        seen[name] = ""
        yield PayloadMember(name, "symlink", member.mode, 0, target, entry, None)
    elif member.islnk():
        target = _safe_name(source, member.linkname)
        if target not in seen:
            raise BadArchive(source, f"{name} is a hard link to {target}, which is not before it")
        _check(source, name, entry, seen[target], None)
        seen[name] = seen[target]
        yield PayloadMember(name, "hardlink", member.mode, 0, target, entry, None)
    elif member.isfile():
        raw = tar.extractfile(member)
        if raw is None:  # pragma: no cover - isfile() members always have data
            raise BadArchive(source, f"{name}: no data")
        hashed = HashingReader(raw)
        stream = io.BufferedReader(hashed, _CHUNK)
        yield PayloadMember(name, "file", member.mode, member.size, None, entry, stream)
        hashed.drain()
        _check(source, name, entry, hashed.hexdigest(), hashed.count)
        seen[name] = hashed.hexdigest()
    else:
        raise BadArchive(source, f"{name} is a device, fifo or other special member")


def _check(source: Path, name: str, entry: PathEntry | None, digest: str, size: int | None) -> None:
    """Compare a streamed file with its paths.json row (softlinks stored as files are tolerated)."""
    if entry is None or entry.path_type != "hardlink":
        return
    if entry.sha256 and entry.sha256.lower() != digest:
        raise BadArchive(source, f"{name}: sha256 {digest} does not match info/paths.json "
                                 f"({entry.sha256})")
    if size is not None and entry.size_in_bytes is not None and entry.size_in_bytes != size:
        raise BadArchive(source, f"{name}: size {size} does not match info/paths.json "
                                 f"({entry.size_in_bytes})")


def _members(source: Path, component: str) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """(tar, member) pairs of one component; ``.tar.bz2`` packages have one tar for both."""
    name = str(source)
    if name.endswith(".tar.bz2"):
        with bz2.open(source, "rb") as fh:
            yield from _tar_stream(fh)
        return
    if not name.endswith(".conda"):
        raise BadArchive(source, "not a conda package (expected .conda or .tar.bz2)")
    with zipfile.ZipFile(source) as zf:
        stem = source.name[: -len(".conda")]
        names = [i.filename for i in zf.infolist()]
        wanted = f"{component}-{stem}.tar.zst"
        if wanted not in names:
            if component == "pkg" and f"info-{stem}.tar.zst" in names:
                return  # an info-only package: empty payload
            raise BadArchive(source, f"no {wanted} member (the .conda layout is wrong or the file "
                                     "was renamed)")
        yield from stream_conda_component(str(source), component=component, zf=zf)


def _tar_stream(fh: IO[bytes]) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    with tarfile.open(fileobj=fh, mode="r|") as tar:
        for member in tar:
            yield tar, member


def _safe_name(source: Path, name: str, *, listed: bool = False) -> str:
    """Normalise a member (or listed) name; refuse absolute names and ``..`` components."""
    clean = name[2:] if name.startswith("./") else name
    where = "listed path" if listed else "member"
    if not clean or "\x00" in clean:
        raise UnsafePath(source, f"{where} name {name!r} is empty or contains NUL")
    parts = clean.replace("\\", "/").split("/")
    if clean.startswith(("/", "\\")) or (len(parts[0]) == 2 and parts[0][1] == ":"):
        raise UnsafePath(source, f"{where} {name!r} is an absolute path")
    if ".." in parts:
        raise UnsafePath(source, f"{where} {name!r} escapes the prefix with '..'")
    return clean.rstrip("/")


def _safe_link(source: Path, name: str, target: str) -> str:
    """A symlink's target, refused when absolute or when it resolves outside the prefix."""
    if target.startswith(("/", "\\")):
        raise UnsafePath(source, f"symlink {name} -> {target} points to an absolute path")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
        raise UnsafePath(source, f"symlink {name} -> {target} points outside the package prefix")
    return target


def _read_small(source: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > _MAX_INFO_JSON:
        raise BadArchive(source, f"{member.name} is too large ({member.size} bytes)")
    fh = tar.extractfile(member)
    return fh.read() if fh is not None else b""


def _parse_json(source: Path, name: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadMetadata(source, f"{name} is not valid JSON ({exc})") from exc


def _parse_paths_json(source: Path, doc: Any) -> tuple[PathEntry, ...]:
    rows = doc.get("paths") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise BadMetadata(source, "info/paths.json has no 'paths' list")
    entries = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("_path"), str):
            raise BadMetadata(source, f"info/paths.json row without '_path': {row!r:.80}")
        size = row.get("size_in_bytes")
        entries.append(PathEntry(
            path=_safe_name(source, row["_path"], listed=True),
            path_type=str(row.get("path_type", "hardlink")),
            sha256=row.get("sha256") if isinstance(row.get("sha256"), str) else None,
            size_in_bytes=size if isinstance(size, int) else None,
            prefix_placeholder=row.get("prefix_placeholder"),
            file_mode=row.get("file_mode"),
            no_link=bool(row.get("no_link", False)),
        ))
    return tuple(entries)


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
