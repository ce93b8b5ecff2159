"""Streaming SHA-256: a reader that hashes what passes through it, and a stream's digest.

Archive members are verified while they stream (memory stays bounded whatever their size), so the
hash is taken on the way through instead of by reading a member twice.
"""

from __future__ import annotations

import hashlib
import io
from typing import IO, Any

__all__ = ["HashingReader", "sha256_stream"]

_CHUNK = 1 << 20


class HashingReader(io.RawIOBase):
    """A raw stream over ``raw`` that hashes (SHA-256) and counts every byte read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._hash = hashlib.sha256()
        #: bytes read so far
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._hash.update(data)
        self.count += n
        return n

    def drain(self) -> None:
        """Read (and hash) whatever the caller left unread."""
        while self.read(_CHUNK):
            pass

    def hexdigest(self) -> str:
        """The SHA-256 of the bytes read so far."""
        return self._hash.hexdigest()


def sha256_stream(fh: IO[bytes]) -> str:
    """The SHA-256 hex digest of everything left in ``fh``, read in bounded chunks."""
    digest = hashlib.sha256()
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
