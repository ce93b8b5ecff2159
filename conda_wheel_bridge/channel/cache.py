"""The incremental index cache: what was read from each file, keyed by name, size, mtime and hash.

A file whose size and mtime are unchanged is trusted without being opened; one whose size or mtime
changed is hashed, and reused only when the hash still matches. The cache itself is written with
temp-and-rename, so a killed indexer leaves the previous cache (or none) behind, never a torn one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes

__all__ = ["CACHE_VERSION", "Entry", "fresh_entry", "load_cache", "save_cache"]

#: bump when the facts stored per file change shape; an old cache is then ignored
CACHE_VERSION = 4

#: ``{"size": int, "mtime_ns": int, "sha256": str, "facts": {...}}``
Entry = dict[str, Any]


def load_cache(path: Path) -> dict[str, Entry]:
    """Entries by file name; an unreadable or outdated cache counts as empty."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def save_cache(path: Path, entries: dict[str, Entry]) -> None:
    """Write the cache atomically."""
    payload = {"version": CACHE_VERSION, "entries": entries}
    atomic_write_bytes(path, json.dumps(payload, separators=(",", ":")).encode())


def fresh_entry(entry: Entry | None, stat: os.stat_result) -> bool:
    """Whether ``entry`` describes a file with this size and mtime (so it need not be read)."""
    return (entry is not None and entry.get("size") == stat.st_size
            and entry.get("mtime_ns") == stat.st_mtime_ns)
