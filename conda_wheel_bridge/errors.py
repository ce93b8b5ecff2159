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
        super().__init__(f"{self.where}: {_one_line(reason)}")

    def about(self, file: str | PathLike[str]) -> CwbError:
        """This error as one about ``file``: a rule failed on one value read from ``file``, and
        the one-line message must name the file first (same class; the value kept in the
        reason). Unchanged when it already names ``file``."""
        if self.where == str(file):
            return self
        return type(self)(file, f"{self.where}: {self.reason}")


#: what :meth:`str.splitlines` splits on
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def _one_line(reason: str) -> str:
    """``reason`` with line breaks escaped: it may quote names read from a damaged archive, and
    the message must stay one line (``where``, the file the caller named, is kept as given)."""
    if _LINE_BREAKS.isdisjoint(reason):
        return reason
    return "".join(repr(c)[1:-1] if c in _LINE_BREAKS else c for c in reason)


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
