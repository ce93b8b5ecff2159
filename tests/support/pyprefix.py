"""A conda package named ``python`` that makes a conda prefix a venv of the running interpreter.

No conda-forge python is reachable here (DESIGN.md §7), so end-to-end tests install this one: its
``pyvenv.cfg`` and ``bin/python`` link turn the prefix into a virtual environment of
``sys.executable``'s base interpreter — real installs, real imports, real entry points. A matching
``python_abi`` package lets cp3XY builds solve. ``install_specs`` solves and installs (py-rattler).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import sysconfig
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.condamaker import Member, file_member, link_member, paths_json, write_package

__all__ = [
    "current_subdir",
    "index_channel",
    "install_specs",
    "make_python_package",
    "prefix_python",
]

_TIMESTAMP = 1_700_000_000_000


def current_subdir() -> str:
    """The conda subdir of this machine (``linux-64``, ``osx-arm64`` ...)."""
    import rattler

    return str(rattler.Subdir.current())


def _abi_tag() -> str:
    t = "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    return f"cp{sys.version_info[0]}{sys.version_info[1]}{t}"


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = link_member(name, target)
    info.mode = 0o755
    return info


def _paths_json(payload: Sequence[Member]) -> bytes:
    """paths.json for ``payload``: files by content, symlinks by their target's text."""
    files: dict[str, bytes] = {}
    softlinks: dict[str, dict[str, object]] = {}
    for member in payload:
        info, data = member if isinstance(member, tuple) else (member, None)
        if info.issym():
            files[info.name] = info.linkname.encode()
            softlinks[info.name] = {"path_type": "softlink"}
        else:
            assert data is not None
            files[info.name] = data
    return paths_json(files, **softlinks)


def _write(path: Path, index: dict[str, Any], payload: Sequence[Member]) -> Path:
    """Write a minimal, valid conda package (index.json, paths.json, files, the payload)."""
    names = [m[0].name if isinstance(m, tuple) else m.name for m in payload]
    info = [
        file_member("info/index.json", json.dumps(index).encode()),
        file_member("info/paths.json", _paths_json(payload)),
        file_member("info/files", "".join(f"{n}\n" for n in names).encode()),
    ]
    return write_package(path, info, payload)


def make_python_package(
    channel_dir: Path, *, fmt: str = "conda", subdir: str | None = None
) -> Path:
    """Write ``python`` and ``python_abi`` of the running interpreter into ``channel_dir/<subdir>``.

    ``fmt`` is ``conda`` or ``tar.bz2``; ``subdir`` defaults to this machine's (py-rattler's
    answer; conda's own tests pass conda's). Returns the path of the ``python`` package.
    """
    if os.name == "nt":  # pragma: no cover - the e2e tests run on POSIX hosts
        raise NotImplementedError("the fake python package is POSIX-only")
    subdir = subdir or current_subdir()
    major, minor, micro = sys.version_info[:3]
    version = f"{major}.{minor}.{micro}"
    abi = _abi_tag()
    base = Path(getattr(sys, "_base_executable", sys.executable))
    cfg = f"home = {base.parent}\ninclude-system-site-packages = false\nversion = {version}\n"
    payload: list[Member] = [file_member("pyvenv.cfg", cfg.encode())]
    for name in ("python", "python3", f"python{major}.{minor}"):
        payload.append(_symlink(f"bin/{name}", str(base)))
    common = {"build": f"0_{abi}", "build_number": 0, "subdir": subdir, "timestamp": _TIMESTAMP}
    py_index = {"name": "python", "version": version, **common,
                "depends": [f"python_abi {major}.{minor}.* *_{abi}"], "license": "PSF-2.0"}
    abi_index = {"name": "python_abi", "version": f"{major}.{minor}", **common, "depends": [],
                 "license": "BSD-3-Clause"}
    _write(channel_dir / subdir / f"python_abi-{major}.{minor}-0_{abi}.{fmt}", abi_index, [])
    (channel_dir / "noarch").mkdir(parents=True, exist_ok=True)
    return _write(channel_dir / subdir / f"python-{version}-0_{abi}.{fmt}", py_index, payload)


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
