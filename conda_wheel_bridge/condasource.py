"""Safe streaming reader of conda packages (``.conda`` and ``.tar.bz2``).

:func:`read_conda_info` parses ``info/`` (index.json, paths.json or the old ``info/files``,
about.json, link.json); :func:`iter_payload` streams the payload member by member, refusing names
that escape the prefix, links that point outside it, and contents whose hash or size disagree with
``info/paths.json``. :func:`scan_conda` does both with one decompression of a ``.tar.bz2``.
Memory stays bounded: nothing but ``info/`` metadata (and, for :func:`scan_conda`, one header and
digest per member plus the few small files its caller asks to keep) is held.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import posixpath
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

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
    "scan_conda",
]

MemberKind = Literal["file", "symlink", "hardlink", "directory"]
_T = TypeVar("_T")

#: info/ documents kept parsed on :class:`CondaPackage`; larger ones are refused
_MAX_INFO_JSON = 64 * 1024 * 1024
_CHUNK = 1024 * 1024
#: payload bytes :func:`scan_conda` may hold for its consumer (dist-info files are small)
_MAX_KEPT = 16 * 1024 * 1024
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
    docs = _InfoDocs()
    try:
        for tar, member in _members(source, "info"):
            name = _safe_name(source, member.name)
            docs.add(source, tar, member, name)
    except CwbError:
        raise
    except _CORRUPT as exc:
        raise BadArchive(source, f"corrupt or unreadable archive ({_why(exc)})") from exc
    return docs.package(source)


def scan_conda(
    package: str | Path,
    consume: Callable[[CondaPackage, Iterator[PayloadMember]], _T],
    *,
    keep: Callable[[str], bool],
    complete: bool = True,
) -> _T:
    """``consume(info, payload)`` as with :func:`read_conda_info` then :func:`iter_payload`, but
    decompressing a ``.tar.bz2`` once instead of twice.

    A ``.tar.bz2`` is one bzip2 stream whose ``info/`` often comes after the payload (the listing
    that says where the dist-info is arrives last), so each payload member is hashed while
    streaming past and kept as its header and digest; only the bytes of files whose path ``keep``
    accepts (small metadata files, 16 MiB in all at most) are held. The members are then replayed
    to ``consume`` with the same checks and errors as :func:`iter_payload`. Reading a file
    ``keep`` refused, or any error, falls back to the two passes, which give the result or error
    they always gave; so ``consume`` must be a pure function that lets exceptions other than
    :class:`CwbError` through. ``.conda`` packages keep ``info/`` and the payload in separate
    members, read once each.
    """
    source = Path(package)
    if str(source).endswith(".tar.bz2"):
        try:
            info, streamed = _scan_tar_bz2(source, keep)
            return consume(info, _replay(source, info, streamed, complete))
        except (CwbError, _NotKept, *_CORRUPT):
            pass  # the two passes below answer exactly as they always did
    info = read_conda_info(source)
    return consume(info, iter_payload(source, info, complete=complete))


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
    try:
        yield from _verified(source, info, _tar_payload(source), complete)
    except CwbError:
        raise
    except _CORRUPT as exc:
        raise BadArchive(source, f"corrupt or unreadable archive ({_why(exc)})") from exc


#: a file member's content: (stream, finish) where finish() reads the rest and gives
#: (sha256, size) of the whole file
_Content = Callable[[], tuple[IO[bytes], Callable[[], tuple[str, int]]]]


def _tar_payload(source: Path) -> Iterator[tuple[tarfile.TarInfo, str, _Content]]:
    """The payload members of ``source`` as they stream, ``info/`` left out."""
    for tar, member in _members(source, "pkg"):
        name = _safe_name(source, member.name)
        if name.startswith("info/") or name == "info":
            continue
        yield member, name, _tar_content(source, tar, member)


def _tar_content(source: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> _Content:
    def content() -> tuple[IO[bytes], Callable[[], tuple[str, int]]]:
        raw = tar.extractfile(member)
        if raw is None:  # pragma: no cover - isfile() members always have data
            raise BadArchive(source, f"{member.name}: no data")
        hashed = HashingReader(raw)

        def finish() -> tuple[str, int]:
            hashed.drain()
            return hashed.hexdigest(), hashed.count

        return io.BufferedReader(hashed, _CHUNK), finish

    return content


def _verified(
    source: Path,
    info: CondaPackage,
    members: Iterable[tuple[tarfile.TarInfo, str, _Content]],
    complete: bool,
) -> Iterator[PayloadMember]:
    """Payload members checked against the listing, in archive order (see :func:`iter_payload`)."""
    listed = {e.path: e for e in info.paths} if info.paths is not None else None
    seen: dict[str, str] = {}  # path -> sha256 of files streamed so far (for hardlink checks)
    for member, name, content in members:
        yield from _payload_member(source, member, name, listed, seen, content)
    if listed and complete:
        missing = [p for p, e in listed.items() if p not in seen and e.path_type != "directory"]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise BadArchive(source, f"{missing[0]}{more} listed in {info.listing} but missing "
                                     "from the archive")


def _payload_member(
    source: Path,
    member: tarfile.TarInfo,
    name: str,
    listed: dict[str, PathEntry] | None,
    seen: dict[str, str],
    content: _Content,
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
        stream, finish = content()
        yield PayloadMember(name, "file", member.mode, member.size, None, entry, stream)
        digest, count = finish()
        _check(source, name, entry, digest, count)
        seen[name] = digest
    else:
        raise BadArchive(source, f"{name} is a device, fifo or other special member")


# --- one pass over a .tar.bz2 ----------------------------------------------------------------

class _NotKept(Exception):
    """A consumer read a file :func:`scan_conda` streamed past without keeping it."""


class _Unkept(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise _NotKept


@dataclass(frozen=True)
class _Streamed:
    """One payload member as the single pass saw it: its header, digest and size, and its bytes
    when they were kept."""

    member: tarfile.TarInfo
    name: str
    digest: str
    size: int
    data: bytes | None

    def content(self) -> tuple[IO[bytes], Callable[[], tuple[str, int]]]:
        stream = io.BytesIO(self.data) if self.data is not None else io.BufferedReader(_Unkept())
        return stream, lambda: (self.digest, self.size)


def _scan_tar_bz2(source: Path,
                  keep: Callable[[str], bool]) -> tuple[CondaPackage, list[_Streamed]]:
    """``info/`` and every payload member's facts from one decompression of ``source``."""
    docs = _InfoDocs()
    streamed: list[_Streamed] = []
    room = _MAX_KEPT
    with bz2.open(source, "rb") as fh:
        for tar, member in _tar_stream(fh):
            name = _safe_name(source, member.name)
            if name.startswith("info/") or name == "info":
                docs.add(source, tar, member, name)
                continue
            digest, size, data = "", 0, None
            if member.isfile():
                raw = tar.extractfile(member)
                if raw is None:  # pragma: no cover - isfile() members always have data
                    raise BadArchive(source, f"{name}: no data")
                digest, size, data = _digest(raw, keep(name) and member.size <= room)
                room -= len(data or b"")
            streamed.append(_Streamed(member, name, digest, size, data))
    return docs.package(source), streamed


def _digest(raw: IO[bytes], hold: bool) -> tuple[str, int, bytes | None]:
    """(sha256, size, the bytes if ``hold``) of a member; only a held one (small, the caller
    checked) is read whole, the rest stream through the hash in bounded chunks."""
    hashed = HashingReader(raw)
    data = hashed.readall() if hold else None
    hashed.drain()
    return hashed.hexdigest(), hashed.count, data


def _replay(source: Path, info: CondaPackage, streamed: list[_Streamed],
            complete: bool) -> Iterator[PayloadMember]:
    """The streamed members again, checked as :func:`iter_payload` checks them."""
    return _verified(source, info, ((s.member, s.name, s.content) for s in streamed), complete)


# --- info/ -------------------------------------------------------------------------------------

class _InfoDocs:
    """The ``info/`` documents of one package, gathered member by member."""

    def __init__(self) -> None:
        self.docs: dict[str, Any] = {}
        self.files_text: str | None = None

    def add(self, source: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        if not name.startswith("info/") or not member.isfile():
            return
        if name == "info/files":
            self.files_text = _read_small(source, tar, member).decode("utf-8", "replace")
        elif name.endswith(".json") and name.count("/") == 1:
            self.docs[name] = _parse_json(source, name, _read_small(source, tar, member))

    def package(self, source: Path) -> CondaPackage:
        """The parsed :class:`CondaPackage`; :class:`BadMetadata` without a usable index.json."""
        docs = dict(self.docs)
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
        elif self.files_text is not None:
            listing = "info/files"
            paths = tuple(PathEntry(path=_safe_name(source, p.strip(), listed=True))
                          for p in self.files_text.splitlines() if p.strip())
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
