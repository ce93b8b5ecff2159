"""A conda package named ``python`` that makes a conda prefix a venv of the running interpreter.

No conda-forge python is reachable here (DESIGN.md §7), so end-to-end tests install this one: its
``pyvenv.cfg`` and ``bin/python`` link turn the prefix into a virtual environment of
``sys.executable``'s base interpreter — real installs, real imports, real entry points. A matching
``python_abi`` package lets cp3XY builds solve. ``install_specs`` solves and installs (py-rattler).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zstandard

__all__ = [
    "current_subdir",
    "index_channel",
    "install_specs",
    "make_python_package",
    "prefix_python",
]


def current_subdir() -> str:
    """The conda subdir of this machine (``linux-64``, ``osx-arm64`` ...)."""
    import rattler

    return str(rattler.Subdir.current())


def _abi_tag() -> str:
    t = "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    return f"cp{sys.version_info[0]}{sys.version_info[1]}{t}"


def _tar(members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _write_conda(
    path: Path, index: dict[str, Any], files: Sequence[tuple[tarfile.TarInfo, bytes | None]]
) -> Path:
    """Write a minimal, valid ``.conda`` (index.json, paths.json, the payload)."""
    rows = []
    for info, data in files:
        if info.issym():
            rows.append(
                {
                    "_path": info.name,
                    "path_type": "softlink",
                    "sha256": hashlib.sha256(info.linkname.encode()).hexdigest(),
                    "size_in_bytes": len(info.linkname),
                }
            )
        else:
            assert data is not None
            rows.append(
                {
                    "_path": info.name,
                    "path_type": "hardlink",
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size_in_bytes": len(data),
                }
            )
    info_members = [
        _file("info/index.json", json.dumps(index).encode()),
        _file("info/paths.json", json.dumps({"paths": rows, "paths_version": 1}).encode()),
        _file("info/files", "".join(f"{r['_path']}\n" for r in rows).encode()),
    ]
    stem = path.name[: -len(".conda")]
    cctx = zstandard.ZstdCompressor(level=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        zf.writestr(f"info-{stem}.tar.zst", cctx.compress(_tar(info_members)))
        zf.writestr(f"pkg-{stem}.tar.zst", cctx.compress(_tar(files)))
    return path


def make_python_package(channel_dir: Path) -> Path:
    """Write ``python`` and ``python_abi`` of the running interpreter into ``channel_dir/<subdir>``.

    Returns the path of the ``python`` package.
    """
    subdir = current_subdir()
    major, minor, micro = sys.version_info[:3]
    version = f"{major}.{minor}.{micro}"
    abi = _abi_tag()
    base = Path(getattr(sys, "_base_executable", sys.executable))
    files: list[tuple[tarfile.TarInfo, bytes | None]] = []
    cfg = (
        f"home = {base.parent}\ninclude-system-site-packages = false\nversion = {version}\n"
    ).encode()
    files.append(_file("pyvenv.cfg", cfg))
    if os.name == "nt":  # pragma: no cover - the e2e tests run on POSIX hosts
        raise NotImplementedError("the fake python package is POSIX-only")
    for name in ("python", "python3", f"python{major}.{minor}"):
        link = tarfile.TarInfo(f"bin/{name}")
        link.type = tarfile.SYMTYPE
        link.linkname = str(base)
        link.mode = 0o755
        files.append((link, None))
    ts = 1_700_000_000_000
    py_index = {
        "name": "python",
        "version": version,
        "build": f"0_{abi}",
        "build_number": 0,
        "depends": [f"python_abi {major}.{minor}.* *_{abi}"],
        "subdir": subdir,
        "timestamp": ts,
        "license": "PSF-2.0",
    }
    abi_index = {
        "name": "python_abi",
        "version": f"{major}.{minor}",
        "build": f"0_{abi}",
        "build_number": 0,
        "depends": [],
        "subdir": subdir,
        "timestamp": ts,
        "license": "BSD-3-Clause",
    }
    _write_conda(channel_dir / subdir / f"python_abi-{major}.{minor}-0_{abi}.conda", abi_index, [])
    (channel_dir / "noarch").mkdir(parents=True, exist_ok=True)
    return _write_conda(channel_dir / subdir / f"python-{version}-0_{abi}.conda", py_index, files)


def index_channel(channel_dir: Path) -> None:
    """Write repodata.json for every subdir of ``channel_dir`` with py-rattler's indexer."""
    from rattler.index import index_fs

    (channel_dir / "noarch").mkdir(parents=True, exist_ok=True)
    result = index_fs(channel_dir, write_zst=False, write_shards=False, force=True)
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def install_specs(
    channel_dir: Path, specs: Sequence[str], prefix: Path, *, cache_dir: Path | None = None
) -> list[Any]:
    """Solve ``specs`` against the local channel with py-rattler and install them into ``prefix``.

    The host's detected virtual packages (``__glibc`` ...) take part in the solve; returns the
    solved records.
    """
    import rattler

    async def go() -> list[Any]:
        channel = rattler.Channel(channel_dir.resolve().as_uri())
        records = await rattler.solve(
            sources=[channel],
            specs=list(specs),
            platforms=[rattler.Subdir.current(), rattler.Subdir("noarch")],
            virtual_packages=rattler.VirtualPackage.detect(),
        )
        await rattler.install(
            records, target_prefix=prefix, cache_dir=cache_dir, show_progress=False
        )
        return list(records)

    return asyncio.run(go())


def prefix_python(prefix: Path) -> Path:
    """The interpreter of a prefix made with :func:`make_python_package`."""
    return prefix / "bin" / "python"
