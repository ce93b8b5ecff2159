"""Defaults shared by the library and the ``cwb`` parser, in a module that imports nothing, so
building the parser loads no archive, solver or network code."""

from __future__ import annotations

__all__ = ["CONDA_SUFFIXES", "DEFAULT_API_URL", "DEFAULT_ZSTD_LEVEL", "FORMATS"]

#: zstd level for ``.conda``: level 19 (conda-build's) costs ~20x the CPU for ~12% fewer bytes
DEFAULT_ZSTD_LEVEL = 10
#: output formats, by file-name suffix
FORMATS = {"conda": ".conda", "tar.bz2": ".tar.bz2"}
#: the file-name endings of conda packages
CONDA_SUFFIXES = tuple(FORMATS.values())
#: anaconda.org's API server
DEFAULT_API_URL = "https://api.anaconda.org"
