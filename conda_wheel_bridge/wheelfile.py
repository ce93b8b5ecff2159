"""Streaming, validating wheel reader (PEP 427/491, core metadata 2.1-2.5, RECORD, entry points).

``open_wheel`` checks the whole archive layout at open time (safe names, no duplicates, sane
sizes, one ``.dist-info``, METADATA/WHEEL/RECORD present and consistent) without reading any
payload; member contents are then streamed and checked against RECORD as they are read.
"""

from __future__ import annotations

import base64
import email.message
import hashlib
import io
import itertools
import stat
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, Any, NoReturn, cast

from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .distinfo import (
    SIGNATURE_FILES,
    parse_entry_points,
    parse_headers,
    parse_record,
    parse_variant_json,
    parse_wheel_file,
)
from .errors import BadArchive, BadMetadata, UnsafePath
from .wheelname import WheelFilename, check_member_name, parse_tags, parse_wheel_filename

__all__ = [
    "DATA_SCHEMES",
    "MAX_COMPRESSION_RATIO",
    "MAX_MEMBER_SIZE",
    "MAX_METADATA_SIZE",
    "WheelFilename",
    "WheelInfo",
    "WheelMember",
    "WheelReader",
    "open_wheel",
    "parse_tags",
    "parse_wheel_filename",
]

#: deflate cannot expand data by more than ~1032:1 (a 258-byte match coded in 1 bit, plus block
#: overhead), so a member declaring more than this times its compressed size is lying (zip bomb).
MAX_COMPRESSION_RATIO = 1032
#: no single file in a wheel may claim more than this uncompressed (the largest real wheels on PyPI
#: carry single CUDA libraries of ~1-3 GiB); anything beyond is refused as absurd.
MAX_MEMBER_SIZE = 16 * 1024**3
#: the install schemes a wheel's ``.data`` directory may hold (the wheel spec; pip refuses others).
DATA_SCHEMES = frozenset({"purelib", "platlib", "headers", "scripts", "data"})
#: members read whole into memory (``WheelReader.read``: METADATA, WHEEL, RECORD ...) are capped.
MAX_METADATA_SIZE = 64 * 1024**2

_CHUNK = 1024 * 1024
# what zipfile and zlib raise on damaged archives (bad headers, bad deflate data, odd versions)
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    OverflowError,
)
_LOCAL_HEADER_SIZE = 30


@dataclass(frozen=True)
class WheelMember:
    """One file in the archive: its safe ``/``-separated path, declared size and unix mode."""

    name: str
    size: int
    mode: int = 0o644
    is_symlink: bool = False


@dataclass(frozen=True)
class WheelInfo:
    """Everything a wheel says about itself, parsed and cross-checked at open time."""

    path: Path
    filename: WheelFilename
    dist_info: str
    data_dir: str
    metadata: email.message.Message
    metadata_bytes: bytes
    root_is_purelib: bool
    wheel_tags: frozenset[Tag]
    entry_points: Mapping[str, Mapping[str, str]]
    variant_json: Mapping[str, Any] | None
    record: Mapping[str, tuple[str | None, int | None]] = field(repr=False)

    @property
    def name(self) -> str:
        """Canonical project name (PEP 503) from METADATA."""
        return canonicalize_name(str(self.metadata["Name"]))

    @property
    def version(self) -> str:
        """Version as written in METADATA."""
        return str(self.metadata["Version"])

    @property
    def requires_dist(self) -> list[str]:
        """``Requires-Dist`` lines, in order."""
        return [str(v) for v in self.metadata.get_all("Requires-Dist") or []]

    @property
    def requires_python(self) -> str | None:
        """``Requires-Python`` or None."""
        value = self.metadata.get("Requires-Python")
        return None if value is None else str(value).strip()

    @property
    def license_expression(self) -> str | None:
        """``License-Expression`` (core metadata 2.4) or None."""
        value = self.metadata.get("License-Expression")
        return None if value is None else str(value).strip()

    @property
    def license(self) -> str | None:
        """The free-text ``License`` field (often a whole license text) or None."""
        value = self.metadata.get("License")
        return None if value is None else str(value)

    @property
    def tags_match(self) -> bool:
        """Whether the file name's tags equal the WHEEL ``Tag:`` lines (the name is trusted)."""
        return self.filename.tags == self.wheel_tags


class _VerifyingReader(io.RawIOBase):
    """Raw stream over one zip member; checks the RECORD hash as soon as the last byte is read.

    RECORD sizes are matched against the zip's declared sizes at open time, so the declared size
    tells when the member is complete: a caller that reads exactly ``size`` bytes is verified too.
    """

    def __init__(self, where: str, name: str, raw: IO[bytes], size: int, hash_spec: str | None):
        super().__init__()
        self._where, self._name, self._raw = where, name, raw
        self._size, self._hash_spec = size, hash_spec
        algo = hash_spec.split("=", 1)[0] if hash_spec else "sha256"
        self._hasher = hashlib.new(algo)
        self._seen = 0
        self._done = False
        self._error: BadArchive | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._error is not None:
            raise self._error
        view = memoryview(buffer).cast("B")
        if self._done or not len(view):
            return 0
        if self._seen == self._size:  # an empty member: nothing to read, but still verified
            self._finish()
            return 0
        try:
            data = self._raw.read(min(len(view), self._size - self._seen))
        except _ZIP_ERRORS as exc:
            self._fail(f"corrupt member {self._name}: {exc}")
        if not data:
            self._fail(f"member {self._name} ended after {self._seen} of {self._size} bytes")
        self._hasher.update(data)
        self._seen += len(data)
        view[: len(data)] = data
        if self._seen == self._size:
            self._finish()
        return len(data)

    def _fail(self, reason: str) -> NoReturn:
        self._error = BadArchive(self._where, reason)
        raise self._error

    def _finish(self) -> None:
        self._done = True
        if self._hash_spec:
            want = self._hash_spec.partition("=")[2].rstrip("=")
            got = base64.urlsafe_b64encode(self._hasher.digest()).rstrip(b"=").decode()
            if got != want:
                self._fail(f"RECORD hash mismatch for {self._name}")

    def close(self) -> None:
        self._raw.close()
        super().close()


class WheelReader:
    """An open wheel: ``info`` and ``members`` are validated; ``open`` streams a verified member."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, members: tuple[WheelMember, ...]):
        self._path = path
        self._zf = zf
        self.members = members
        self._by_name = {m.name: m for m in members}
        self._record: Mapping[str, tuple[str | None, int | None]] = {}
        self.info: WheelInfo = _read_info(self)

    @property
    def path(self) -> Path:
        """The wheel file."""
        return self._path

    def __enter__(self) -> WheelReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying archive."""
        self._zf.close()

    def open(self, member: WheelMember | str) -> IO[bytes]:
        """A binary stream of ``member``; reading it to EOF checks its size and hash with RECORD."""
        name = member.name if isinstance(member, WheelMember) else member
        if name not in self._by_name:
            raise BadArchive(self._path, f"no member {name} in the archive")
        hash_spec = self._record.get(name, (None, None))[0]
        size = self._by_name[name].size
        try:
            raw = self._zf.open(name)
        except _ZIP_ERRORS as exc:
            raise BadArchive(self._path, f"cannot read member {name}: {exc}") from None
        stream = _VerifyingReader(str(self._path), name, raw, size, hash_spec)
        return cast(IO[bytes], io.BufferedReader(stream, buffer_size=_CHUNK))

    def read(self, name: str) -> bytes:
        """The whole (verified) content of a small member such as METADATA."""
        member = self._by_name.get(name)
        if member is None:
            raise BadArchive(self._path, f"no member {name} in the archive")
        if member.size > MAX_METADATA_SIZE:
            raise BadArchive(
                self._path, f"{name} declares {member.size} bytes, too large to read whole"
            )
        with self.open(member) as fh:
            return fh.read()

    def verify(self) -> None:
        """Stream every member once, checking it against RECORD (bounded memory)."""
        for member in self.members:
            with self.open(member) as fh:
                while fh.read(_CHUNK):
                    pass


def open_wheel(path: str | Path) -> WheelReader:
    """Open and validate the wheel at ``path``; bad input raises a ``CwbError`` naming it."""
    path = Path(path)
    filename = parse_wheel_filename(str(path))
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BadArchive(path, "no such file") from None
    except IsADirectoryError:
        raise BadArchive(path, "is a directory, not a wheel file") from None
    except _ZIP_ERRORS as exc:
        raise BadArchive(path, f"not a zip archive or truncated ({exc})") from None
    try:
        members = _check_members(path, zf)
        reader = WheelReader(path, zf, members)
        if filename != reader.info.filename:  # pragma: no cover - defensive
            raise BadArchive(path, "file name changed while reading")
    except BaseException:
        zf.close()
        raise
    return reader


def _check_members(path: Path, zf: zipfile.ZipFile) -> tuple[WheelMember, ...]:
    """Check the central directory without reading data; return file members in archive order."""
    infos = zf.infolist()
    seen: set[str] = set()
    members: list[WheelMember] = []
    for info in infos:
        name = info.filename
        check_member_name(path, name)
        if name in seen:
            raise BadArchive(path, f"duplicate member {name}")
        seen.add(name)
        unix_mode = info.external_attr >> 16
        if stat.S_ISLNK(unix_mode):
            raise UnsafePath(path, f"member {name} is a symbolic link; wheels cannot carry links")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise BadArchive(path, f"member {name} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise BadArchive(
                    path,
                    f"member {name} is stored but declares {info.file_size} bytes "
                    f"in {info.compress_size}",
                )
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > MAX_COMPRESSION_RATIO * info.compress_size + 1024:
                raise BadArchive(
                    path,
                    f"member {name} declares {info.file_size} bytes from "
                    f"{info.compress_size} compressed: "
                    f"beyond deflate's {MAX_COMPRESSION_RATIO}:1 limit",
                )
        else:
            raise BadArchive(
                path,
                f"member {name} uses zip compression method {info.compress_type}, "
                "not stored or deflate",
            )
        if info.file_size > MAX_MEMBER_SIZE:
            raise BadArchive(
                path, f"member {name} declares an absurd size of {info.file_size} bytes"
            )
        mode = (unix_mode & 0o777) if unix_mode & 0o777 else 0o644
        members.append(WheelMember(name, info.file_size, mode, False))
    _check_overlap(path, infos)
    return tuple(members)


def _check_overlap(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse members whose data ranges overlap (the overlapping-entry zip bomb)."""
    spans = sorted((i.header_offset, _data_end(i), i.filename) for i in infos)
    for (_, end, name), (start, _, nxt) in itertools.pairwise(spans):
        if end > start:
            raise BadArchive(path, f"members {name} and {nxt} overlap in the archive")


def _data_end(info: zipfile.ZipInfo) -> int:
    """Lowest possible end offset of a member's local header plus data."""
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    try:
        name_len = len(info.orig_filename.encode(encoding))
    except UnicodeEncodeError:
        name_len = len(info.orig_filename.encode("utf-8"))
    return info.header_offset + _LOCAL_HEADER_SIZE + name_len + info.compress_size


def _find_dist_info(path: Path, filename: WheelFilename, members: tuple[WheelMember, ...]) -> str:
    """The single top-level ``*.dist-info`` directory, whose name must match the file name."""
    tops = {m.name.split("/", 1)[0] for m in members if "/" in m.name}
    dist_infos = sorted(t for t in tops if t.endswith(".dist-info"))
    if not dist_infos:
        raise BadArchive(path, "no .dist-info directory at the top of the archive")
    if len(dist_infos) > 1:
        raise BadArchive(path, f"several .dist-info directories: {', '.join(dist_infos)}")
    found = dist_infos[0]
    stem = found[: -len(".dist-info")]
    di_name = stem.rsplit("-", 1)[0]
    if canonicalize_name(di_name) != canonicalize_name(filename.name):
        raise BadArchive(
            path, f"{found} does not match the project name {filename.name!r} in the file name"
        )
    return found


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _read_info(reader: WheelReader) -> WheelInfo:
    """Read and cross-check the dist-info files of an open wheel."""
    path = reader._path
    filename = parse_wheel_filename(str(path))
    dist_info = _find_dist_info(path, filename, reader.members)
    names = {m.name for m in reader.members}
    for required in ("METADATA", "WHEEL", "RECORD"):
        if f"{dist_info}/{required}" not in names:
            raise BadMetadata(path, f"{dist_info}/{required} is missing")

    record = parse_record(path, reader.read(f"{dist_info}/RECORD"))
    exempt = {f"{dist_info}/{n}" for n in SIGNATURE_FILES}
    for name in sorted(names - record.keys() - exempt):
        raise BadArchive(path, f"{name} is not listed in RECORD")
    for name in sorted(record.keys() - names):
        if name.endswith("/") or name in exempt:
            continue
        raise BadArchive(path, f"RECORD lists {name}, which is not in the archive")
    sizes = {m.name: m.size for m in reader.members}
    for name, (hash_spec, size) in record.items():
        if name in exempt or name not in names:
            continue
        if hash_spec is None:
            raise BadMetadata(path, f"RECORD gives no hash for {name}")
        if size is not None and size != sizes[name]:
            raise BadArchive(
                path, f"RECORD size mismatch for {name}: RECORD says {size}, zip says {sizes[name]}"
            )
    reader._record = MappingProxyType(record)
    data_dir = dist_info[: -len(".dist-info")] + ".data"
    for name in sorted(names):
        if name.startswith(data_dir + "/"):
            scheme, sep, rest = name[len(data_dir) + 1 :].partition("/")
            if scheme not in DATA_SCHEMES or not sep or not rest:
                raise BadArchive(
                    path,
                    f"{name} is not under a known {data_dir} scheme "
                    f"({', '.join(sorted(DATA_SCHEMES))})",
                )

    root_is_purelib, wheel_tags = parse_wheel_file(path, reader.read(f"{dist_info}/WHEEL"))

    metadata_bytes = reader.read(f"{dist_info}/METADATA")
    metadata = parse_headers(path, "METADATA", metadata_bytes)
    for key in ("Metadata-Version", "Name", "Version"):
        if not metadata.get(key):
            raise BadMetadata(path, f"METADATA has no {key}")
    mv = str(metadata["Metadata-Version"]).strip()
    if mv.split(".")[0] not in ("1", "2"):
        raise BadMetadata(path, f"unsupported Metadata-Version {mv}")
    if canonicalize_name(str(metadata["Name"])) != canonicalize_name(filename.name):
        raise BadMetadata(path, f"METADATA Name {metadata['Name']!s} does not match the file name")
    if not _same_version(str(metadata["Version"]).strip(), filename.version):
        raise BadMetadata(
            path, f"METADATA Version {metadata['Version']!s} does not match the file name"
        )

    ep_name = f"{dist_info}/entry_points.txt"
    entry_points = (
        parse_entry_points(path, reader.read(ep_name)) if ep_name in names else MappingProxyType({})
    )

    vj_name = f"{dist_info}/variant.json"
    variant_json = parse_variant_json(path, reader.read(vj_name)) if vj_name in names else None

    return WheelInfo(
        path=path,
        filename=filename,
        dist_info=dist_info,
        data_dir=data_dir,
        metadata=metadata,
        metadata_bytes=metadata_bytes,
        root_is_purelib=root_is_purelib,
        wheel_tags=wheel_tags,
        entry_points=entry_points,
        variant_json=variant_json,
        record=reader._record,
    )
