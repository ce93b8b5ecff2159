"""Read what a channel index needs from one artifact: hashes, size and the few info/ files.

A ``.conda`` is read through its ``info-*.tar.zst`` member only, so the payload is never
decompressed; a ``.tar.bz2`` is streamed until every wanted ``info/`` file was seen. Hashing and
parsing share one read of the file when it is small, and stream it when it is large.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from conda_package_streaming.package_streaming import stream_conda_info

from ..errors import BadArchive, BadMetadata

__all__ = [
    "CONDA_SUFFIXES",
    "CondaFacts",
    "file_hashes",
    "is_conda_artifact",
    "read_conda_facts",
]

CONDA_SUFFIXES = (".conda", ".tar.bz2")

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


def is_conda_artifact(name: str) -> bool:
    """Whether ``name`` is a conda package file name."""
    return name.endswith(CONDA_SUFFIXES)


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


def read_conda_facts(path: Path) -> CondaFacts:
    """Return the repodata record and side facts of the conda artifact at ``path``.

    Raises :class:`BadArchive` for an unreadable archive and :class:`BadMetadata` for a
    missing or malformed ``info/index.json``.
    """
    size = path.stat().st_size
    try:
        if size <= _IN_MEMORY_LIMIT:
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
