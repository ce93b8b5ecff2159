"""Read what a channel index needs from one artifact: hashes, size and the few info/ files.

A ``.conda`` is read through its ``info-*.tar.zst`` member only, so the payload is never
decompressed; a ``.tar.bz2`` is streamed until every wanted ``info/`` file was seen. Hashing and
parsing share one read of the file when it is small, and stream it when it is large.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import zstandard
from conda_package_streaming.package_streaming import stream_conda_info

from ..defaults import CONDA_SUFFIXES
from ..errors import BadArchive, BadMetadata

__all__ = [
    "CONDA_SUFFIXES",
    "CondaFacts",
    "file_hashes",
    "read_conda_facts",
]


#: info/ files the index keeps; paths.json only to learn whether a Python distribution is inside
_WANTED = {
    "info/index.json",
    "info/about.json",
    "info/run_exports.json",
    "info/paths.json",
    "info/link.json",
}
_IN_MEMORY_LIMIT = 32 * 1024 * 1024
_CHUNK = 1024 * 1024

#: one artifact as the index sees it: ``record`` (repodata), ``about``, ``run_exports``, and
#: ``python_dist`` (the site-packages dist-info/egg-info directory, or ``None``)
CondaFacts = dict[str, Any]


def file_hashes(path: Path) -> tuple[str, str, int]:
    """Stream ``path`` once; return ``(md5, sha256, size)``."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return md5.hexdigest(), sha.hexdigest(), size


def read_conda_facts(path: Path, *, hashes: bool = True) -> CondaFacts:
    """Return the repodata record and side facts of the conda artifact at ``path``.

    Raises :class:`BadArchive` for an unreadable archive and :class:`BadMetadata` for a
    missing or malformed ``info/index.json``. ``hashes=False`` reads only the ``info/`` part and
    leaves ``md5``, ``sha256`` and ``size`` out of the record (for callers that hash it later).
    """
    size = path.stat().st_size
    md5 = sha = ""
    try:
        if not hashes:
            with open(path, "rb") as fh:
                files = _info_files(path.name, fh)
        elif size <= _IN_MEMORY_LIMIT:
            data = path.read_bytes()
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            sha = hashlib.sha256(data).hexdigest()
            files = _info_files(path.name, io.BytesIO(data))
        else:
            md5, sha, size = file_hashes(path)
            with open(path, "rb") as fh:
                files = _info_files(path.name, fh)
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, LookupError,
            AssertionError) as exc:
        raise BadArchive(path, f"cannot read the conda archive ({exc})") from exc
    except Exception as exc:  # zstd / bz2 decoders raise their own error types
        if type(exc).__module__.split(".")[0] in {"zstd", "zstandard", "backports", "compression",
                                                    "_bz2", "bz2", "_zstd"}:
            raise BadArchive(path, f"cannot decompress the conda archive ({exc})") from exc
        raise
    index = _json(path, files, "info/index.json", required=True)
    for key in ("name", "version", "build"):
        if not isinstance(index.get(key), str) or not index[key]:
            raise BadMetadata(path, f"info/index.json has no {key!r}")
    record = dict(index)
    record.setdefault("build_number", 0)
    record.setdefault("depends", [])
    if hashes:
        record["md5"] = md5
        record["sha256"] = sha
        record["size"] = size
    link = _json(path, files, "info/link.json")
    noarch = link.get("noarch")
    if "noarch" not in record and isinstance(noarch, Mapping) and noarch.get("type"):
        record["noarch"] = noarch["type"]
    return {
        "record": record,
        "about": _json(path, files, "info/about.json"),
        "run_exports": _json(path, files, "info/run_exports.json"),
        "python_dist": _python_dist(_json(path, files, "info/paths.json")),
    }


def _info_files(name: str, fileobj: IO[bytes]) -> dict[str, bytes]:
    if name.endswith(".conda") and isinstance(fileobj, io.BytesIO):
        fast = _fast_conda_info(name, fileobj.getbuffer())
        if fast is not None:
            return fast
    found: dict[str, bytes] = {}
    for tar, member in stream_conda_info(name, fileobj):
        if member.name in _WANTED and member.isfile():
            extracted = tar.extractfile(member)
            if extracted is not None:
                found[member.name] = extracted.read()
            if len(found) == len(_WANTED):
                break
    return found


def _json(path: Path, files: Mapping[str, bytes], name: str, *, required: bool = False
          ) -> dict[str, Any]:
    raw = files.get(name)
    if raw is None:
        if required:
            raise BadMetadata(path, f"no {name} in the archive")
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMetadata(path, f"{name} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise BadMetadata(path, f"{name} is not a JSON object")
    return value


def _python_dist(paths_json: Mapping[str, Any]) -> str | None:
    """The ``site-packages/<dist>.dist-info`` (or ``.egg-info``) path inside the package, if any."""
    for entry in paths_json.get("paths", ()):
        p = entry.get("_path", "") if isinstance(entry, Mapping) else ""
        head, sep, tail = p.rpartition("/")
        if not sep or "site-packages/" not in p:
            continue
        parent = head.rsplit("/", 1)[-1]
        if parent.endswith(".dist-info") and tail == "METADATA":
            return head
        if parent.endswith(".egg-info") and tail == "PKG-INFO":
            return head
    return None


# --- fast path for the common .conda layout ---------------------------------------------------
# A .conda is a stored (uncompressed) zip whose ``info-<stem>.tar.zst`` member holds a plain tar.
# Reading that member straight from the zip's central directory and walking the tar headers by
# hand is several times faster than zipfile + tarfile for the small info/ archives indexing reads.
# Anything unusual (zip64, compression, odd tar types) returns None and takes the general path.

_EOCD = b"PK\x05\x06"
_CDIR = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"


def _fast_conda_info(name: str, data: memoryview) -> dict[str, bytes] | None:
    member = _stored_member(data, f"info-{name[: -len('.conda')]}.tar.zst".encode())
    if member is None:
        return None
    try:
        tar = zstandard.ZstdDecompressor().decompressobj().decompress(member)
    except zstandard.ZstdError:
        return None
    return _tar_members(tar, _WANTED)


def _stored_member(data: memoryview, wanted: bytes) -> bytes | None:
    end = bytes(data[-65557:])
    at = end.rfind(_EOCD)
    if at < 0 or len(end) - at < 22:
        return None
    count, _size, cd_offset = struct.unpack_from("<HII", end, at + 10)
    pos = cd_offset
    for _ in range(count):
        if bytes(data[pos:pos + 4]) != _CDIR:
            return None
        method, = struct.unpack_from("<H", data, pos + 10)
        csize, usize, nlen, xlen, clen = struct.unpack_from("<IIHHH", data, pos + 20)
        local, = struct.unpack_from("<I", data, pos + 42)
        fname = bytes(data[pos + 46:pos + 46 + nlen])
        pos += 46 + nlen + xlen + clen
        if fname != wanted:
            continue
        if method != 0 or csize != usize or csize == 0xFFFFFFFF:
            return None
        if bytes(data[local:local + 4]) != _LOCAL:
            return None
        lnlen, lxlen = struct.unpack_from("<HH", data, local + 26)
        start = local + 30 + lnlen + lxlen
        return bytes(data[start:start + csize])
    return None


def _tar_members(tar: bytes, wanted: set[str]) -> dict[str, bytes] | None:
    found: dict[str, bytes] = {}
    pos, size_total = 0, len(tar)
    long_name: str | None = None
    while pos + 512 <= size_total:
        header = tar[pos:pos + 512]
        if header.count(0) == 512:
            break
        try:
            size = int(header[124:136].rstrip(b"\0 ").decode() or "0", 8)
        except ValueError:
            return None  # base-256 sizes and other rarities: the general reader handles them
        kind = header[156:157]
        body = tar[pos + 512:pos + 512 + size]
        pos += 512 + (size + 511) // 512 * 512
        if kind == b"x":  # PAX extended header: only ``path`` matters here
            long_name = _pax_path(body)
            continue
        if kind == b"L":  # GNU long name
            long_name = body.rstrip(b"\0").decode("utf-8", "surrogateescape")
            continue
        if kind in (b"g",):
            continue
        member = long_name or _ustar_name(header)
        long_name = None
        if kind in (b"0", b"\0") and member in wanted:
            found[member] = body
            if len(found) == len(wanted):
                break
    return found


def _ustar_name(header: bytes) -> str:
    name = header[0:100].split(b"\0", 1)[0]
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape")


def _pax_path(body: bytes) -> str | None:
    pos = 0
    path = None
    while pos < len(body):
        space = body.find(b" ", pos)
        if space < 0:
            break
        length = int(body[pos:space])
        record = body[space + 1:pos + length - 1]
        key, _, value = record.partition(b"=")
        if key == b"path":
            path = value.decode("utf-8", "surrogateescape")
        pos += length
    return path
