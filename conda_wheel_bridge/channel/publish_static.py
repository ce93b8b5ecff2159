"""Publish a channel to a static location (a directory or ``file://`` URL any web server can host).

Files are copied one by one, each to a temporary name and renamed into place; the packages and
wheels go first and the indexes (repodata, channeldata, simple pages) last, so a reader at any
moment sees either the old channel or the new one, never an index naming a missing file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from ..atomic import atomic_output
from ..digest import sha256_stream
from ..errors import CwbError
from .index import ARTIFACT_SUFFIXES, LOCK_FILE, SUBDIR_NAME, index_channel
from .lock import channel_lock

__all__ = [
    "StaticCopy",
    "destination_path",
    "ensure_indexed",
    "plan_static",
    "publish_static",
    "unindexed_subdirs",
]

_CHUNK = 1 << 20
# per-subdir indexes, in the order they are swapped in: the compressed twins before the .json
_SUBDIR_INDEXES = (
    "run_exports.json.zst", "run_exports.json", "repodata_shards.msgpack.zst",
    "current_repodata.json.zst", "current_repodata.json", "repodata.json.bz2",
    "repodata.json.zst", "repodata.json",
)


@dataclass(frozen=True)
class StaticCopy:
    """One file of the publish: its path relative to the channel and whether it was copied."""

    relpath: str
    index: bool  # an index file (swapped in after every payload file)
    copied: bool  # False when the destination already held the same bytes


def destination_path(dest: str | os.PathLike[str]) -> Path:
    """A directory path or ``file://`` URL as a local path (other schemes are refused)."""
    text = os.fspath(dest)
    parts = urlsplit(text)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise CwbError(text, "file:// URLs on another host are not supported")
        return Path(url2pathname(unquote(parts.path)))
    if parts.scheme and len(parts.scheme) > 1:  # allow C:\ on Windows
        raise CwbError(text, f"cannot publish to {parts.scheme}:// (a directory or file:// URL)")
    return Path(text)


def unindexed_subdirs(channel: Path) -> list[Path]:
    """Subdirs of ``channel`` that hold packages or wheels but no ``repodata.json``."""
    if not channel.is_dir():
        raise CwbError(channel, "not a channel directory")
    return sorted(sub for sub in channel.iterdir()
                  if sub.is_dir() and SUBDIR_NAME.match(sub.name)
                  and not (sub / "repodata.json").is_file()
                  and any(p.name.endswith(ARTIFACT_SUFFIXES) for p in sub.iterdir()))


def ensure_indexed(channel: Path) -> None:
    """Index ``channel`` with ``cwb index`` when a subdir holding packages has no repodata."""
    needs = unindexed_subdirs(channel)
    if not needs:
        return
    index_channel(channel)


def plan_static(channel: Path) -> list[tuple[str, bool]]:
    """Every file to copy as ``(relpath, is_index)``: payload first, then indexes in swap order."""
    payload: list[str] = []
    subdir_indexes: list[str] = []
    simple_pages: list[str] = []
    for rel in _walk(channel):
        parts = rel.split("/")
        if len(parts) == 2 and SUBDIR_NAME.match(parts[0]) and parts[1] in _SUBDIR_INDEXES:
            subdir_indexes.append(rel)
        elif parts[0] == "simple" and parts[-1] in ("index.html", "index.json"):
            simple_pages.append(rel)
        elif rel != "channeldata.json":
            payload.append(rel)
    order = {name: i for i, name in enumerate(_SUBDIR_INDEXES)}
    subdir_indexes.sort(key=lambda r: (r.split("/")[0], order[r.split("/")[1]]))
    # project pages before the root page that links to them
    simple_pages.sort(key=lambda r: (r.count("/") == 1, r))
    tail = subdir_indexes + (["channeldata.json"] if (channel / "channeldata.json").is_file()
                             else []) + simple_pages
    return [(r, False) for r in sorted(payload)] + [(r, True) for r in tail]


def _walk(channel: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(channel):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath).relative_to(channel)
        for name in sorted(filenames):
            if not name.startswith("."):
                yield (base / name).as_posix()


def publish_static(
    channel: Path,
    dest: str | os.PathLike[str],
    *,
    dry_run: bool = False,
    on_step: Callable[[StaticCopy], None] | None = None,
) -> list[StaticCopy]:
    """Copy the indexed ``channel`` to ``dest`` file by file, indexes last; return each step.

    Files already at the destination with the same size and sha256 are left alone. A dry run
    of a channel not indexed yet plans the files there now (``cwb index`` would run first).
    """
    channel = Path(channel)
    target = destination_path(dest)
    if target.resolve() == channel.resolve() or channel.resolve() in target.resolve().parents:
        raise CwbError(target, "the destination is inside the channel")
    if target.exists() and not target.is_dir():
        raise CwbError(target, "the destination exists and is not a directory")
    if not dry_run:
        ensure_indexed(channel)
    with contextlib.ExitStack() as stack:
        if not dry_run:
            _hold_index_lock(stack, channel)
        return _copy(channel, target, dry_run=dry_run, on_step=on_step)


def _hold_index_lock(stack: contextlib.ExitStack, channel: Path) -> None:
    """Keep ``cwb index`` from rewriting the channel while it is copied (unless read-only)."""
    with contextlib.suppress(OSError):  # a read-only channel cannot be re-indexed under us
        stack.enter_context(channel_lock(channel / LOCK_FILE))


def _copy(channel: Path, target: Path, *, dry_run: bool,
          on_step: Callable[[StaticCopy], None] | None) -> list[StaticCopy]:
    steps: list[StaticCopy] = []
    for rel, is_index in plan_static(channel):
        src = channel / rel
        dst = target / rel
        same = dst.is_file() and _same_file(src, dst)
        if not (dry_run or same):
            with open(src, "rb") as fin, atomic_output(dst) as fout:
                shutil.copyfileobj(fin, fout, _CHUNK)
            shutil.copystat(src, dst)
        step = StaticCopy(rel, is_index, not same)
        steps.append(step)
        if on_step is not None and not dry_run:
            on_step(step)
    return steps


def _same_file(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    return _sha256(a) == _sha256(b)


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return sha256_stream(fh)
