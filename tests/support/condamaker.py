"""Build small conda packages for tests (``.tar.bz2`` or ``.conda``), real in every byte.

``info/paths.json`` is computed from the payload (so hashes match unless a test overrides them);
any member, link or listing can be made hostile on purpose.
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


def file_member(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def link_member(name: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def paths_json(files: Mapping[str, bytes], **overrides: dict[str, object]) -> bytes:
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
                          file_member("info/about.json", json.dumps(dict(about or {})).encode())]
    if noarch == "python":
        link_json = {"noarch": {"type": "python", "entry_points": list(entry_points)},
                     "package_metadata_version": 1}
        info.append(file_member("info/link.json", json.dumps(link_json).encode()))
    payload: list[Member] = [file_member(k, v, 0o755 if "/bin/" in f"/{k}" else 0o644)
                             for k, v in files.items()]
    payload += [link_member(k, v) for k, v in (links or {}).items()]
    stem = f"{name}-{version}-{build}"
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "tar.bz2":
        path = directory / f"{stem}.tar.bz2"
        path.write_bytes(bz2.compress(tar_bytes(info + payload)))
        return path
    from backports import zstd  # what conda-package-streaming uses on Python < 3.14

    path = directory / f"{stem}.conda"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr(f"pkg-{stem}.tar.zst", zstd.compress(tar_bytes(payload)))
        zf.writestr(f"info-{stem}.tar.zst", zstd.compress(tar_bytes(info)))
    return path
