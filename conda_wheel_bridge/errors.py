"""Typed errors. Each names the offending file (or value) and the reason, in one line.

The CLI prints ``str(error)`` as ``cwb: error: <file>: <reason>`` and exits non-zero; library
callers can catch the specific class. Like pypa/packaging, every error is a ``ValueError``.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "BadArchive",
    "BadMetadata",
    "CwbError",
    "MappingError",
    "NameConflict",
    "UnsafePath",
    "UnsupportedTag",
]


class CwbError(ValueError):
    """Base class: ``where`` is the file or value at fault, ``reason`` says what is wrong."""

    def __init__(self, where: str | PathLike[str], reason: str) -> None:
        self.where = str(where)
        self.reason = reason
        super().__init__(_one_line(f"{self.where}: {reason}"))


def _one_line(text: str) -> str:
    """``text`` with control characters escaped: names read from a damaged archive may hold a
    newline, and the message must stay one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class BadArchive(CwbError):
    """A wheel or conda archive that cannot be read safely (corrupt, truncated, inconsistent)."""


class UnsafePath(BadArchive):
    """An archive member whose name or link target would escape the destination."""


class BadMetadata(CwbError):
    """Metadata (METADATA, WHEEL, RECORD, index.json, variant.json ...), missing or malformed."""


class UnsupportedTag(CwbError):
    """A wheel tag or conda subdir with no counterpart on the other side."""


class MappingError(CwbError):
    """A variant property, virtual package or DepURL with no counterpart (never dropped quietly)."""


class NameConflict(CwbError):
    """A package name that maps ambiguously between PyPI and conda."""
