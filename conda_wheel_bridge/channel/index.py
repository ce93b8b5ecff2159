"""``cwb index``: one directory becomes a conda channel and a PEP 503/691 index at once.

For every subdir: ``repodata.json`` (+ ``.zst``) with the classic keys listing every conda artifact,
plus, additively (CEP 48 revision ``v3``), ``v3.whl`` records for raw pure-Python wheels in
``noarch/``; ``run_exports.json``; ``channeldata.json`` at the top; and ``simple/`` for every wheel
(raw ones, and ones exported from the channel's Python-carrying conda packages into ``wheels/``).

Incremental and crash-safe: a cache keyed by name, size, mtime and hash (:mod:`.cache`) means
only new or changed files are read, and their entries are spliced into the files written before
(:mod:`.splice`); every output is written to a temporary name, and all are renamed into place
together once on disk (:mod:`..staging`); an OS lock keeps two indexers apart, and the kernel
drops it when an indexer dies.
"""

from __future__ import annotations

import array
import concurrent.futures
import json
import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from ..atomic import holds
from ..errors import CwbError
from ..staging import Staging, staged
from .artifact import CONDA_SUFFIXES, file_hashes, read_conda_facts
from .cache import IndexCache, Layout, open_cache
from .export import EXPORT_DIR, exported_wheels
from .filestats import FileStats, artifact_stats, differences, fork_is_safe, stats_of
from .lock import channel_lock
from .splice import SortedKeys, joined, spliced
from .wheelinfo import is_pure, read_wheel_facts
from .whlrecord import whl_record

__all__ = [
    "ARTIFACT_SUFFIXES",
    "EXPORT_DIR",
    "LOCK_FILE",
    "STATE_DIR",
    "SUBDIR_NAME",
    "IndexReport",
    "index_channel",
]

#: the indexer's private state (cache, lock), relative to the channel root
STATE_DIR = ".cwb"
#: the lock every indexer (and a static publish) holds, relative to the channel
LOCK_FILE = f"{STATE_DIR}/index.lock"
_NOT_SUBDIRS = {EXPORT_DIR, "simple", STATE_DIR}
#: what a subdir folder is called (``noarch``, ``linux-64``, ``osx-arm64`` ...)
SUBDIR_NAME = re.compile(r"^(noarch|[a-z0-9]+-[a-z0-9_]+)$")
_PARALLEL_THRESHOLD = 256
#: a run that changed more files than this in a subdir joins its repodata whole again
_SPLICE_AT_MOST = 1000
#: the files a channel serves as packages
ARTIFACT_SUFFIXES = (*CONDA_SUFFIXES, ".whl")


@dataclass
class IndexReport:
    """What one ``index_channel`` run did."""

    subdirs: dict[str, int] = field(default_factory=dict)  # subdir -> conda artifacts listed
    whl_records: int = 0  # v3.whl records written
    read: int = 0  # files opened and parsed (not served from the cache)
    reused: int = 0  # files served from the cache
    simple_files: int = 0  # wheels listed under simple/
    exported: int = 0  # wheels exported from conda packages in this run
    skipped: list[str] = field(default_factory=list)  # one line each: what was left out and why


def index_channel(channel: str | os.PathLike[str], *, simple: bool = True,
                  export_wheels: bool = True, jobs: int | None = None,
                  zstd_level: int = 1, lock_timeout: float | None = None,
                  progress: Callable[[str], None] | None = None) -> IndexReport:
    """Index ``channel`` in place and return what was done.

    ``jobs`` caps the worker processes used to read many new files (default: CPU count).
    Raises :class:`~conda_wheel_bridge.errors.CwbError` subclasses naming the bad file; the
    previous repodata then stays as it was.
    """
    root = Path(channel)
    if not root.is_dir():
        raise CwbError(root, "not a directory")
    report = IndexReport()
    state = root / STATE_DIR
    with channel_lock(root / LOCK_FILE, timeout=lock_timeout):
        _clean_leftovers(root, state)
        (root / "noarch").mkdir(exist_ok=True)
        subdirs = _subdirs(root)
        with open_cache(state / "cache" / "index.sqlite") as cache:
            # what a killed run left unwritten is joined whole again: only the other files are
            # known to hold exactly the cache's rows as this run begins (splicing needs that)
            left_stale = bool(cache.stale_names())
            cache.forget_subdirs_except(subdirs)
            left_unwritten = cache.unwritten_subdirs()
            # read everything new first: a bad file stops the run before any output is written
            counts = cache.counts()
            stats = artifact_stats([root / subdir for subdir in subdirs], ARTIFACT_SUFFIXES,
                                   [counts.get(subdir, 0) for subdir in subdirs])
            on_disk = dict(zip(subdirs, stats, strict=True))
            changes = {subdir: _scan_subdir(root, subdir, found, cache, report, jobs=jobs)
                       for subdir, found in on_disk.items()}
            # then write what changed in this run, or in a run killed before it wrote: every
            # file in the background, renamed into place together once all are on disk
            unwritten = cache.unwritten_subdirs()
            wheels: list[dict[str, Any]] = []
            layouts: dict[str, Layout | None] = {}
            with staged() as out:
                for subdir in subdirs:
                    subdir_wheels = cache.wheels(subdir)
                    change = None if subdir in left_unwritten else changes[subdir]
                    layout = _write_subdir(root, subdir, cache, report, subdir_wheels,
                                           on_disk[subdir].names, out,
                                           unwritten=subdir in unwritten, change=change,
                                           zstd_level=zstd_level)
                    if subdir in unwritten or layout is not None:
                        layouts[subdir] = layout
                    wheels += [{**facts, "fn": fn, "url": f"{subdir}/{fn}"}
                               for fn, facts in subdir_wheels]
                    if progress is not None:
                        progress(f"{subdir}: {report.subdirs[subdir]} conda artifacts")
                summarised = _write_channeldata(root, cache, subdirs, out, splice=not left_stale)
            # the files are in place: only now may the cache say so
            cache.mark_written({subdir: layout and _placed(layout, root / subdir / "repodata.json")
                                for subdir, layout in layouts.items()})
            if summarised is not None:
                names, layout = summarised
                cache.channeldata_written(names, subdirs,
                                          _placed(layout, root / "channeldata.json"))
            pythonic = [(root / subdir / fn, sha) for subdir, fn, sha in cache.python_packages()]
        if simple:
            if export_wheels:
                exported, report.exported = exported_wheels(
                    root, pythonic, state, report.skipped, taken={w["fn"] for w in wheels})
                wheels += exported
            from .simple import write_simple

            report.simple_files = write_simple(root, wheels)
    return report


def _clean_leftovers(root: Path, state: Path) -> None:
    """Remove what a killed indexer may have left: scratch dirs and temporary files."""
    if state.is_dir():
        for item in state.glob("tmp-*"):
            shutil.rmtree(item, ignore_errors=True)
    for folder in (root, state / "cache"):
        for item in folder.glob(".*.part") if folder.is_dir() else ():
            item.unlink(missing_ok=True)


# --- scanning -------------------------------------------------------------------------------------

def _subdirs(root: Path) -> list[str]:
    found = []
    for item in os.scandir(root):
        if (item.is_dir() and item.name not in _NOT_SUBDIRS and not item.name.startswith(".")
                and SUBDIR_NAME.match(item.name)):
            found.append(item.name)
    return sorted(found)


@dataclass(frozen=True)
class _Change:
    """What one run changed in a subdir's rows."""

    before: list[str]  # the files cached before
    put: list[str]  # files read (new or changed)
    gone: list[str]  # files no longer there


def _scan_subdir(root: Path, subdir: str, found: FileStats, cache: IndexCache,
                 report: IndexReport, *, jobs: int | None) -> _Change | None:
    """Bring the cache up to date for ``subdir``, whose artifacts are ``found``, reading only
    new or changed files; return what changed (``None``: nothing)."""
    if cache.unchanged(subdir, found):  # the common case, one comparison of packed bytes
        report.reused += len(found.names)
        return None
    before = cache.snapshot(subdir)
    # a file is unchanged when its (size, mtime_ns) pair is the cached one
    todo, gone = differences(before, found)
    report.reused += len(found.names) - len(todo)
    paths = [root / subdir / name for name in todo]
    # a file whose mtime changed but whose bytes did not keeps its facts
    known = set(before.names)
    olds = [cache.facts(subdir, name) if name in known else None for name in todo]
    facts_list = _read_many(paths, olds, jobs=jobs)
    now = int(time.time() * 1000)
    for facts in facts_list:
        facts.setdefault("indexed_timestamp", now)
    cache.update(subdir, [(name, *pair, facts) for name, pair, facts
                          in zip(todo, stats_of(found, todo), facts_list, strict=True)],
                 gone, found)
    report.read += len(todo)
    return _Change(before.names, todo, gone)


def _read_many(paths: list[Path], olds: list[dict[str, Any] | None], *, jobs: int | None
               ) -> list[dict[str, Any]]:
    # by default half the CPUs, at most 4: on a 2-CPU machine worker processes cost more in
    # start-up and pickling than they save, so reading stays in this process there
    workers = jobs if jobs is not None else min(4, (os.cpu_count() or 1) // 2)
    if len(paths) < _PARALLEL_THRESHOLD or workers <= 1:
        return [_read_one(p, old) for p, old in zip(paths, olds, strict=True)]
    ctx = multiprocessing.get_context("fork" if fork_is_safe() else "spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(_read_one, paths, olds,
                             chunksize=max(1, len(paths) // (workers * 8))))


def _read_one(path: Path, old: dict[str, Any] | None = None) -> dict[str, Any]:
    """Facts of one artifact; a cached entry whose hash still matches is reused unread.

    A conda artifact's repodata record is kept as its final JSON text, so a later run writes
    ``repodata.json`` by joining texts instead of encoding every record again.
    """
    if old is not None:
        _, sha, _ = file_hashes(path)
        if sha == old.get("sha256"):
            return dict(old)
    if path.name.endswith(".whl"):
        facts = read_wheel_facts(path)
        facts["kind"] = "whl"
        return facts
    read = read_conda_facts(path)
    record, about = read["record"], read["about"]
    return {
        "kind": "conda",
        "sha256": record["sha256"],
        "record_json": json.dumps(record, sort_keys=True, separators=(",", ":")),
        "name": record["name"],
        "version": record["version"],
        "timestamp": record.get("timestamp"),
        "license": record.get("license"),
        "about": {k: about[k] for k in _ABOUT_KEYS if isinstance(about.get(k), str)},
        **({"run_exports": read["run_exports"]} if read["run_exports"] else {}),
        "python_dist": read["python_dist"],
    }


# --- repodata -------------------------------------------------------------------------------------

def _write_subdir(root: Path, subdir: str, cache: IndexCache, report: IndexReport,
                  wheels: list[tuple[str, dict[str, Any]]], files: Iterable[str], out: Staging,
                  *, unwritten: bool, change: _Change | None, zstd_level: int
                  ) -> Layout | None:
    """Stage ``repodata.json`` (+ ``.zst``) and ``run_exports.json`` when they are out of date,
    and return the new ``repodata.json``'s layout (its identity to be filled in once it is in
    place); ``None`` when there was nothing to write.

    ``unwritten``: the cache changed since the files were written. ``change``: what this run
    changed, when that is all that did (``None`` otherwise).

    The records come out of the cache as ready JSON fragments. When only a few packages changed
    since the file was last written, they are spliced into it (:mod:`.splice`) instead.
    """
    whl: dict[str, dict[str, Any]] = {}
    for fn, facts in wheels:
        record = _whl_record_or_none(subdir, fn, facts, report)
        if record is not None:
            whl[record[0]] = record[1]
    report.whl_records += len(whl)
    target = root / subdir / "repodata.json"
    zst = root / subdir / "repodata.json.zst"
    # the cache holds exactly these files (the scan just made it so); counted in one pass
    listed = "\0".join(files) + "\0"
    n_bz2, n_conda = listed.count(".tar.bz2\0"), listed.count(".conda\0")
    report.subdirs[subdir] = n_bz2 + n_conda
    if not unwritten and target.is_file() and zst.is_file():
        return None
    previous = _previous(root, f"{subdir}/repodata.json", cache,
                         None if change is None else len(change.put) + len(change.gone))
    info: dict[str, Any] = {"subdir": subdir}
    if whl:
        stamps = [r["indexed_timestamp"] for r in whl.values()]
        info["repodata_revisions"] = {"v3": {"n_packages": len(whl), "oldest": min(stamps),
                                             "newest": max(stamps)}}
    # keys in sorted order, as json.dumps(sort_keys=True) would write them
    head = f'{{"info":{_compact(info)},"packages":{{'.encode()
    bz2, bz2_lengths = _entries(cache, subdir, ".tar.bz2", n_bz2, change, previous, 0)
    middle = b'},"packages.conda":{'
    conda, conda_lengths = _entries(cache, subdir, ".conda", n_conda, change, previous, 1)
    parts = [head, bz2, middle, conda, b'},"removed":[],"repodata_version":1']
    if whl:
        parts += [b',"v3":', _compact({"whl": whl}).encode()]
    parts.append(b"}")
    body = b"".join(parts)
    unchanged = (previous[1] == body and zst.is_file() if previous is not None
                 else _same_content(target, body))
    if not unchanged:
        # the compressed twin first: a reader that prefers .zst never sees it older than the .json
        out.put(zst, lambda: zstandard.ZstdCompressor(level=zstd_level).compress(body))
        out.put(target, body)
    exports = "".join([
        '{"info":', _compact({"subdir": subdir, "version": 1}),
        ',"packages":{', cache.joined_exports(subdir, ".tar.bz2") if n_bz2 else "",
        '},"packages.conda":{', cache.joined_exports(subdir, ".conda") if n_conda else "",
        "}}"])
    out.put(root / subdir / "run_exports.json", exports.encode(), if_changed=True)
    return Layout((0, 0, 0), ((len(head), bz2_lengths),
                              (len(head) + len(bz2) + len(middle), conda_lengths)))


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    """Size, mtime and inode: what says a file is still the one written."""
    return st.st_size, st.st_mtime_ns, st.st_ino


def _placed(layout: Layout, path: Path) -> Layout:
    """``layout`` with the identity of ``path``, now in place."""
    return layout._replace(identity=_identity(os.stat(path)))


def _previous(root: Path, file: str, cache: IndexCache, changes: int | None, *,
              at_most: int = _SPLICE_AT_MOST) -> tuple[Layout, bytes] | None:
    """The layout and bytes of ``file`` (relative to ``root``) as last written, when this run
    knows the ``changes`` (a count, at most ``at_most``) since and the file is still the one
    written (same size, mtime and inode)."""
    if changes is None or changes > at_most:
        return None
    layout = cache.layout(file)
    if layout is None:
        return None
    try:
        with open(root / file, "rb") as fh:  # the file read is the file whose identity is checked
            if _identity(os.fstat(fh.fileno())) != layout.identity:
                return None
            return layout, fh.read()
    except FileNotFoundError:
        return None


def _entries(cache: IndexCache, subdir: str, suffix: str, count: int, change: _Change | None,
             previous: tuple[Layout, bytes] | None, section: int
             ) -> tuple[bytes, array.array[int]]:
    """The ``"fn":{record}`` entries of one repodata object (``section`` 0: ``packages``, 1:
    ``packages.conda``), and their byte lengths."""
    if previous is not None and change is not None:
        layout, document = previous
        start, lengths = layout.sections[section]
        before = change.before
        edits: dict[str, str | None] = {fn: None for fn in change.gone if fn.endswith(suffix)}
        put = [fn for fn in change.put if fn.endswith(suffix)]
        edits.update({fn: None for fn in put})
        edits.update(cache.fragments(subdir, suffix, put) if put else ())
        done = spliced(document, start, lengths, edits,
                       lambda: SortedKeys(sorted(fn for fn in before if fn.endswith(suffix))))
        if done is not None:
            return done
    if not count:
        return b"", array.array("Q")
    return joined(entry for _, entry in cache.fragments(subdir, suffix))


def _whl_record_or_none(subdir: str, fn: str, facts: dict[str, Any], report: IndexReport
                        ) -> tuple[str, dict[str, Any]] | None:
    if subdir != "noarch":
        return None
    if not is_pure(facts):
        report.skipped.append(f"{subdir}/{fn}: not pure Python, no v3.whl record "
                              "(listed under simple/ only)")
        return None
    try:
        return whl_record(facts, indexed_timestamp=facts["indexed_timestamp"])
    except CwbError as exc:  # a variant property with no conda counterpart, bad variant.json
        report.skipped.append(f"{subdir}/{fn}: no v3.whl record ({exc}); "
                              "listed under simple/ only")
        return None


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _same_content(path: Path, body: bytes) -> bool:
    """Whether ``path`` and its ``.zst`` twin both hold ``body`` already. The twin is read too:
    a run killed between the two renames leaves it newer than the ``.json``."""
    if not holds(path, body):
        return False
    try:
        packed = path.with_name(path.name + ".zst").read_bytes()
    except FileNotFoundError:
        return False
    try:
        return bool(zstandard.ZstdDecompressor().decompress(
            packed, max_output_size=len(body) + 1) == body)
    except zstandard.ZstdError:  # damaged, or not zstd at all: written again
        return False


# --- channeldata ----------------------------------------------------------------------------------

_ABOUT_KEYS = ("description", "dev_url", "doc_url", "home", "license", "source_url", "summary")


def _write_channeldata(root: Path, cache: IndexCache, subdirs: list[str], out: Staging, *,
                       splice: bool) -> tuple[set[str], Layout] | None:
    """Stage ``channeldata.json``: per package name, the newest version's summary over all
    subdirs. Returns the names summarised again and the file's layout (``None``: nothing to
    write). With ``splice``, the changed names are cut into the file written before.

    Kept per name in the cache; only the names whose packages changed are summarised again.
    """
    target = root / "channeldata.json"
    names = cache.stale_names()
    if not names and target.is_file() and cache.channeldata_subdirs() == subdirs:
        return None
    grouped = cache.name_summaries(names if len(names) < 2000 else None)
    fragments: dict[str, str | None] = {n: None for n in names}
    for name, found in grouped.items():
        fragments[name] = f"{json.dumps(name)}:{_compact(_channel_summary(found))}"
    head = b'{"channeldata_version":1,"packages":{'
    # each changed name is found among the written ones by one query: for a few names only
    previous = (_previous(root, "channeldata.json", cache, len(names), at_most=16)
                if splice else None)
    packages = None
    if previous is not None:  # while the cache's names are still the ones written
        layout, document = previous
        (start, lengths), = layout.sections
        packages = spliced(document, start, lengths, fragments, cache.name_keys)
    cache.set_name_fragments(fragments)
    if packages is None:
        packages = joined(cache.name_fragments())
    body = b"".join([head, packages[0], b'},"subdirs":', _compact(sorted(subdirs)).encode(),
                     b"}"])
    out.put(target, body, if_changed=True)
    return names, Layout((0, 0, 0), ((len(head), packages[1]),))


def _channel_summary(found: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    best = found[0][1] if len(found) == 1 else max(
        (f for _, f in found), key=lambda f: (_version(f["version"]), f["timestamp"] or 0))
    summary: dict[str, Any] = {**best.get("about", {}),
                               "subdirs": sorted({s for s, _ in found}),
                               "version": best["version"]}
    if best.get("license"):
        summary["license"] = best["license"]
    if best.get("timestamp"):
        summary["timestamp"] = int(best["timestamp"]) // 1000
    summary["run_exports"] = {f["version"]: f["run_exports"] for _, f in found
                              if f.get("run_exports")}
    return summary


def _version(text: str) -> Any:
    from rattler import Version

    try:
        return Version(text)
    except Exception:  # not a conda version: rank it below every real one
        return Version("0")
