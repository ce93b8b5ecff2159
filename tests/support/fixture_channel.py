"""Lay out a small channel from the real fixture packages and wheels, for the publish tests."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

__all__ = ["CONDA", "WHEELS", "make_channel"]

#: real packages that install without a Python: noarch (.conda) and linux-64 (.tar.bz2)
CONDA = (
    "noarch/tzdata-2025b-h78e105d_0.conda",
    "noarch/ca-certificates-2025.11.12-hbd8a1cb_0.conda",
    "noarch/small-executable-1.0-0.conda",
    "linux-64/_libgcc_mutex-0.1-conda_forge.tar.bz2",
)
#: real pure wheels from PyPI without dependencies
WHEELS = ("six-1.17.0-py2.py3-none-any.whl", "attrs-25.3.0-py3-none-any.whl")


def make_channel(dest: Path, fixtures: Path, conda: Sequence[str] = CONDA,
                 wheels: Sequence[str] = WHEELS) -> Path:
    """Copy the named fixtures into ``dest/<subdir>/`` (wheels into ``noarch/``); return dest."""
    for rel in conda:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fixtures / "conda" / rel, target)
    for name in wheels:
        (dest / "noarch").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fixtures / "wheels" / name, dest / "noarch" / name)
    return dest
