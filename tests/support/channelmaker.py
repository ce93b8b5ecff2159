"""Build small, real conda packages for channel tests (index, serve, solve).

Each is a valid ``.conda`` (metadata.json, ``info-*.tar.zst`` with index.json and paths.json,
``pkg-*.tar.zst`` with the payload), so every reader sees exactly what it would in a real channel.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zstandard

__all__ = ["make_conda_package", "make_variant_packages"]


def _tar(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_conda_package(
    channel: Path,
    name: str,
    version: str,
    build: str = "0",
    *,
    subdir: str = "noarch",
    build_number: int = 0,
    depends: Sequence[str] = (),
    files: Mapping[str, bytes] | None = None,
    noarch: str | None = None,
    extra_index: Mapping[str, Any] | None = None,
    timestamp: int = 1_700_000_000_000,
) -> Path:
    """Write ``channel/subdir/name-version-build.conda`` and return its path."""
    payload = dict(files or {})
    index: dict[str, Any] = {
        "name": name, "version": version, "build": build, "build_number": build_number,
        "depends": list(depends), "subdir": subdir, "timestamp": timestamp, "license": "MIT",
    }
    if noarch:
        index["noarch"] = noarch
    index.update(extra_index or {})
    paths = {"paths": [{"_path": p, "path_type": "hardlink",
                        "sha256": hashlib.sha256(d).hexdigest(), "size_in_bytes": len(d)}
                       for p, d in payload.items()], "paths_version": 1}
    info = {"info/index.json": json.dumps(index).encode(),
            "info/paths.json": json.dumps(paths).encode(),
            "info/files": "".join(f"{p}\n" for p in payload).encode()}
    if noarch == "python":
        info["info/link.json"] = json.dumps({"noarch": {"type": "python"},
                                             "package_metadata_version": 1}).encode()
    stem = f"{name}-{version}-{build}"
    out = channel / subdir / f"{stem}.conda"
    out.parent.mkdir(parents=True, exist_ok=True)
    cctx = zstandard.ZstdCompressor(level=3)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr(f"info-{stem}.tar.zst", cctx.compress(_tar(info)))
        zf.writestr(f"pkg-{stem}.tar.zst", cctx.compress(_tar(payload)))
    return out


def make_variant_packages(channel: Path, name: str = "gpukit", version: str = "1.0"
                          ) -> dict[str, Path]:
    """Three noarch-python builds of one package: CUDA >=12.8, CUDA >=12.4, and CPU.

    Build numbers rank them the way a variant installer would (newest CUDA first, CPU last);
    each build's module says which one it is (``gpukit.VARIANT``).
    """
    builds = {"cuda128": (2, ["__cuda >=12.8"]), "cuda124": (1, ["__cuda >=12.4"]),
              "cpu": (0, [])}
    made = {}
    for label, (number, deps) in builds.items():
        module = f'VARIANT = "{label}"\n'.encode()
        made[label] = make_conda_package(
            channel, name, version, f"{label}_{number}", build_number=number,
            depends=["python >=3.8", *deps], noarch="python",
            files={f"site-packages/{name}/__init__.py": module})
    return made
