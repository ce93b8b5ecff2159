"""Build small, real conda packages for channel tests (index, serve, solve).

Each is a valid ``.conda`` (metadata.json, ``info-*.tar.zst`` with index.json and paths.json,
``pkg-*.tar.zst`` with the payload), so every reader sees exactly what it would in a real channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support import condamaker

__all__ = ["make_conda_package", "make_variant_packages"]


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
    """Write ``channel/subdir/name-version-build.conda`` (with a build number, a timestamp and a
    license, as channels index them) and return its path."""
    index = {"build_number": build_number, "timestamp": timestamp, "license": "MIT",
             **(extra_index or {})}
    return condamaker.make_conda_package(
        channel / subdir, name, version, build=build, subdir=subdir, noarch=noarch,
        depends=depends, files=files, extra_index=index, fmt="conda")


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
