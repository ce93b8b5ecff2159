"""A JSON object's entries rewritten by cutting the changed ones into the text written before.

``repodata.json`` lists thousands of ``"fn":{record}`` entries in file-name order; adding one
package changes one entry. Knowing each written entry's byte length (in key order), the new text
is the old bytes cut at the changed keys, instead of thousands of records joined again.
"""

from __future__ import annotations

import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["joined", "spliced"]


def joined(entries: Iterable[str]) -> tuple[bytes, array.array[int]]:
    """``entries`` joined with commas (the inside of a JSON object), and each one's byte length."""
    encoded = [entry.encode() for entry in entries]
    return b",".join(encoded), array.array("Q", map(len, encoded))


def spliced(document: bytes, start: int, sorted_keys: Callable[[], Sequence[str]],
            lengths: Sequence[int], changes: Mapping[str, str | None]
            ) -> tuple[bytes, array.array[int]] | None:
    """The entries of the JSON object opening at ``document[start - 1]`` (``sorted_keys()``, of
    byte ``lengths``), with the entry of each key in ``changes`` replaced, added (a new key), or
    removed (``None``); as :func:`joined` returns them. ``sorted_keys`` is called only when
    there are changes.

    ``None`` when ``document`` is not laid out as ``keys`` and ``lengths`` say: the caller then
    joins every entry again.
    """
    end = start + sum(lengths) + max(len(lengths) - 1, 0)
    if document[start - 1:start] != b"{" or document[end:end + 1] != b"}":
        return None
    if not changes:
        return document[start:end], array.array("Q", lengths)
    keys = sorted_keys()
    if len(keys) != len(lengths):
        return None
    pieces: list[bytes] = []
    new_lengths: array.array[int] = array.array("Q")
    copied, offset = 0, start  # keys[:copied] are in pieces; keys[copied] starts at offset
    for key in sorted(changes):
        at = bisect_left(keys, key, copied)
        if at > copied:  # the untouched run before this key, commas and all
            run = lengths[copied:at]
            size = sum(run) + len(run) - 1
            pieces.append(document[offset:offset + size])
            new_lengths.extend(run)
            offset += size + 1
        if at < len(keys) and keys[at] == key:  # replaced or removed
            offset += lengths[at] + 1
            at += 1
        entry = changes[key]
        if entry is not None:
            encoded = entry.encode()
            pieces.append(encoded)
            new_lengths.append(len(encoded))
        copied = at
    if copied < len(keys):
        pieces.append(document[offset:end])
        new_lengths.extend(lengths[copied:])
    return b",".join(pieces), new_lengths
