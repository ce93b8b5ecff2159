"""A JSON object's entries rewritten by cutting the changed ones into the text written before.

``repodata.json`` lists thousands of ``"fn":{record}`` entries in file-name order; adding one
package changes one entry. Knowing each written entry's byte length (in key order), the new text
is the old bytes cut at the changed keys, instead of thousands of records joined again.
"""

from __future__ import annotations

import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

__all__ = ["Keys", "SortedKeys", "joined", "spliced"]


class Keys(Protocol):
    """The keys of a written object, in order: how many, and where one is or would go."""

    def __len__(self) -> int: ...

    def position(self, key: str) -> tuple[int, bool]:
        """The index of ``key`` among the keys, or where it would go; and whether it is there."""
        ...


class SortedKeys:
    """:class:`Keys` held in a sorted list."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = keys

    def __len__(self) -> int:
        return len(self._keys)

    def position(self, key: str) -> tuple[int, bool]:
        at = bisect_left(self._keys, key)
        return at, at < len(self._keys) and self._keys[at] == key


def joined(entries: Iterable[str]) -> tuple[bytes, array.array[int]]:
    """``entries`` joined with commas (the inside of a JSON object), and each one's byte length."""
    encoded = [entry.encode() for entry in entries]
    return b",".join(encoded), array.array("Q", map(len, encoded))


def spliced(document: bytes, start: int, lengths: Sequence[int],
            changes: Mapping[str, str | None], keys: Callable[[], Keys]
            ) -> tuple[bytes, array.array[int]] | None:
    """The entries of the JSON object opening at ``document[start - 1]``, of byte ``lengths``
    in key order, with the entry of each key in ``changes`` replaced, added (a new key), or
    removed (``None``); as :func:`joined` returns them. ``keys`` gives the written keys; it is
    called only when there are changes.

    ``None`` when ``document`` is not laid out as ``keys`` and ``lengths`` say: the caller then
    joins every entry again.
    """
    end = start + sum(lengths) + max(len(lengths) - 1, 0)
    if document[start - 1:start] != b"{" or document[end:end + 1] != b"}":
        return None
    if not changes:
        return document[start:end], array.array("Q", lengths)
    written = keys()
    if len(written) != len(lengths):
        return None
    pieces: list[bytes] = []
    new_lengths: array.array[int] = array.array("Q")
    copied, offset = 0, start  # keys[:copied] are in pieces; keys[copied] starts at offset
    for key in sorted(changes):
        at, present = written.position(key)
        if not copied <= at <= len(lengths) - present:  # the keys disagree with themselves
            return None
        if at > copied:  # the untouched run before this key, commas and all
            run = lengths[copied:at]
            size = sum(run) + len(run) - 1
            pieces.append(document[offset:offset + size])
            new_lengths.extend(run)
            offset += size + 1
        if present:  # replaced or removed
            offset += lengths[at] + 1
            at += 1
        entry = changes[key]
        if entry is not None:
            encoded = entry.encode()
            pieces.append(encoded)
            new_lengths.append(len(encoded))
        copied = at
    if copied < len(lengths):
        pieces.append(document[offset:end])
        new_lengths.extend(lengths[copied:])
    return b",".join(pieces), new_lengths
