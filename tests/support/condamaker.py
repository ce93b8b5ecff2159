"""Build small conda packages for tests (``.tar.bz2`` or ``.conda``), real in every byte.

``info/paths.json`` is computed from the payload (so hashes match unless a test overrides them);
any member, link or listing can be made hostile on purpose. :func:`write_package` is the one
archive writer every test helper (channelmaker, pyprefix, the conda plugin tests) goes through.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zstandard

__all__ = [
    "Member",
    "file_member",
    "link_member",
    "make_conda_package",
    "paths_json",
    "tar_bytes",
    "write_package",
]

Member = tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]


def tar_bytes(members: Sequence[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for item in members:
            if isinstance(item, tuple):
                info, data = item
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(item)
    return buf.getvalue()


def file_member(
    name: str, data: bytes, mode: int = 0o644, mtime: int = 0
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = mode, mtime
    return info, data


def link_member(name: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def paths_json(files: Mapping[str, bytes], **overrides: Mapping[str, object]) -> bytes:
    rows = []
    for path, data in files.items():
        row: dict[str, object] = {"_path": path, "path_type": "hardlink",
                                  "sha256": hashlib.sha256(data).hexdigest(),
                                  "size_in_bytes": len(data)}
        row.update(overrides.get(path, {}))
        rows.append(row)
    return json.dumps({"paths": rows, "paths_version": 1}).encode()


def make_conda_package(
    directory: Path,
    name: str,
    version: str,
    *,
    build: str = "0",
    subdir: str = "noarch",
    noarch: str | None = None,
    depends: Sequence[str] = (),
    files: Mapping[str, bytes] | None = None,
    links: Mapping[str, str] | None = None,
    entry_points: Sequence[str] = (),
    about: Mapping[str, Any] | None = None,
    extra_index: Mapping[str, Any] | None = None,
    fmt: str = "tar.bz2",
) -> Path:
    """Write ``{name}-{version}-{build}.{fmt}`` into ``directory`` and return its path."""
    files = dict(files or {})
    index: dict[str, Any] = {"name": name, "version": version, "build": build,
                             "build_number": 0, "subdir": subdir, "depends": list(depends)}
    if noarch:
        index["noarch"] = noarch
    index.update(extra_index or {})
    rows = json.loads(paths_json(files))
    for link in links or {}:
        rows["paths"].append({"_path": link, "path_type": "softlink"})
    info: list[Member] = [file_member("info/index.json", json.dumps(index).encode()),
                          file_member("info/paths.json", json.dumps(rows).encode()),
                          file_member("info/about.json", json.dumps(dict(about or {})).encode()),
                          file_member("info/files", "".join(f"{p}\n" for p in files).encode())]
    if noarch == "python":
        link_json = {"noarch": {"type": "python", "entry_points": list(entry_points)},
                     "package_metadata_version": 1}
        info.append(file_member("info/link.json", json.dumps(link_json).encode()))
    payload: list[Member] = [file_member(k, v, 0o755 if "/bin/" in f"/{k}" else 0o644)
                             for k, v in files.items()]
    payload += [link_member(k, v) for k, v in (links or {}).items()]
    return write_package(directory / f"{name}-{version}-{build}.{fmt}", info, payload)


def write_package(path: Path, info: Sequence[Member], payload: Sequence[Member]) -> Path:
    """Write ``path`` as a ``.conda`` (zip of two zstd tars) or ``.tar.bz2`` (one tar, info/ first)
    from ready-made ``info/`` and payload members; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".tar.bz2"):
        path.write_bytes(bz2.compress(tar_bytes([*info, *payload])))
        return path
    if not path.name.endswith(".conda"):
        raise ValueError(f"{path.name}: a conda package ends in .conda or .tar.bz2")
    stem = path.name[: -len(".conda")]
    cctx = zstandard.ZstdCompressor(level=3)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr(f"pkg-{stem}.tar.zst", cctx.compress(tar_bytes(payload)))
        zf.writestr(f"info-{stem}.tar.zst", cctx.compress(tar_bytes(info)))
    return path
