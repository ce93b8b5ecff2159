"""Splicing changed entries into a written JSON object gives what joining them all gives."""

from __future__ import annotations

import functools
import json
import random

from conda_wheel_bridge.channel.splice import SortedKeys, joined, spliced


def _entry(key: str, value: object) -> str:
    return f"{json.dumps(key)}:{json.dumps(value, sort_keys=True, separators=(',', ':'))}"


def _document(entries: dict[str, str]) -> tuple[bytes, int, list[int]]:
    inner, lengths = joined(entries[k] for k in sorted(entries))
    head = b'{"info":{"subdir":"noarch"},"packages":{'
    return head + inner + b'},"removed":[]}', len(head), list(lengths)


def test_random_edits_match_a_full_join() -> None:
    rng = random.Random(20261126)
    entries = {f"p{i:04d}-1.0-0.conda": _entry(f"p{i:04d}-1.0-0.conda", {"n": i, "é": "ü"})
               for i in range(0, 400, 3)}
    for _ in range(200):
        document, start, lengths = _document(entries)
        keys = sorted(entries)
        changes: dict[str, str | None] = {}
        for _ in range(rng.choice([1, 1, 2, 5, 30])):
            key = f"p{rng.randrange(400):04d}-1.0-0.conda"
            changes[key] = None if rng.random() < 0.4 else _entry(key, {"n": rng.random()})
        done = spliced(document, start, lengths, changes, functools.partial(SortedKeys, keys))
        assert done is not None
        for key, entry in changes.items():
            if entry is None:
                entries.pop(key, None)
            else:
                entries[key] = entry
        expected = joined(entries[k] for k in sorted(entries))
        assert done[0] == expected[0]
        assert list(done[1]) == list(expected[1])


def test_empty_sections_and_emptied_ones() -> None:
    document, start, lengths = _document({})
    none = SortedKeys([])
    assert spliced(document, start, lengths, {}, lambda: none) == (b"", joined([])[1])
    added = spliced(document, start, lengths, {"a": _entry("a", 1)}, lambda: none)
    assert added is not None and added[0] == b'"a":1'
    document, start, lengths = _document({"a": _entry("a", 1)})
    emptied = spliced(document, start, lengths, {"a": None}, lambda: SortedKeys(["a"]))
    assert emptied is not None and emptied[0] == b""


class _Lying:
    """Keys that place every key at the end: positions that cannot be right."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def position(self, key: str) -> tuple[int, bool]:
        return self.count, True


def test_a_document_laid_out_otherwise_is_refused() -> None:
    entries = {k: _entry(k, k) for k in ("a", "b", "c")}
    document, start, lengths = _document(entries)
    keys = SortedKeys(sorted(entries))
    change = {"b": _entry("b", 2)}
    for edits in ({}, change):
        # not where the object opens; an entry longer than written
        assert spliced(document, start + 1, lengths, edits, lambda: keys) is None
        assert spliced(document, start, [*lengths[:-1], lengths[-1] + 1], edits,
                       lambda: keys) is None
        edited = document.replace(b'"b":"b"', b'"b":"bb"')  # an entry grew: the end is off
        assert spliced(edited, start, lengths, edits, lambda: keys) is None
    # keys and lengths disagree on the count, or the positions are impossible
    assert spliced(document, start, lengths, change, lambda: SortedKeys(["a", "b"])) is None
    assert spliced(document, start, lengths, change, lambda: _Lying(3)) is None

    def unasked() -> SortedKeys:
        raise AssertionError("keys asked for with nothing to change")

    unchanged = spliced(document, start, lengths, {}, unasked)
    assert unchanged is not None and unchanged[0] == joined(entries[k] for k in sorted(entries))[0]
