"""``cwb index``: one directory becomes a conda channel and a PEP 503/691 index at once.

For every subdir: ``repodata.json`` (+ ``.zst``) with the classic keys listing every conda artifact,
plus, additively (CEP 48 revision ``v3``), ``v3.whl`` records for raw pure-Python wheels in
``noarch/``; ``run_exports.json``; ``channeldata.json`` at the top; and ``simple/`` for every wheel
(raw ones, and ones exported from the channel's Python-carrying conda packages into ``wheels/``).

Incremental and crash-safe: a per-subdir cache (name, size, mtime, hash) means only new or changed
files are read; every output is written to a temporary name and renamed; an OS lock keeps two
indexers apart, and the kernel drops it when an indexer dies.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib
import importlib.util
import json
import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from ..atomic import atomic_write_bytes
from ..errors import CwbError
from .artifact import file_hashes, is_conda_artifact, read_conda_facts
from .cache import Entry, fresh_entry, load_cache, save_cache
from .lock import channel_lock
from .wheelinfo import is_pure, read_wheel_facts
from .whlrecord import whl_record

__all__ = ["EXPORT_DIR", "STATE_DIR", "IndexReport", "index_channel"]

#: where wheels exported from conda packages live, relative to the channel root
EXPORT_DIR = "wheels"
#: the indexer's private state (cache, lock), relative to the channel root
STATE_DIR = ".cwb"
_NOT_SUBDIRS = {EXPORT_DIR, "simple", STATE_DIR}
_SUBDIR_NAME = re.compile(r"^(noarch|[a-z0-9]+-[a-z0-9_]+)$")
_PARALLEL_THRESHOLD = 256


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
                  zstd_level: int = 9, lock_timeout: float | None = None,
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
    with channel_lock(state / "index.lock", timeout=lock_timeout):
        _clean_leftovers(root, state)
        (root / "noarch").mkdir(exist_ok=True)
        all_records: dict[str, dict[str, dict[str, Any]]] = {}
        wheels: list[dict[str, Any]] = []
        pythonic: list[tuple[Path, dict[str, Any]]] = []
        for subdir in _subdirs(root):
            entries = _scan_subdir(root, subdir, state, report, jobs=jobs)
            records = _write_subdir(root, subdir, entries, report, zstd_level=zstd_level)
            all_records[subdir] = records
            for fn, entry in entries.items():
                facts = entry["facts"]
                if fn.endswith(".whl"):
                    wheels.append({**facts, "url": f"{subdir}/{fn}"})
                elif facts.get("python_dist"):
                    pythonic.append((root / subdir / fn, entry))
            if progress is not None:
                progress(f"{subdir}: {report.subdirs[subdir]} conda artifacts")
        _write_channeldata(root, all_records)
        if simple:
            if export_wheels:
                wheels += _exported_wheels(root, pythonic, state, report,
                                           taken={w["fn"] for w in wheels})
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
                and _SUBDIR_NAME.match(item.name)):
            found.append(item.name)
    return sorted(found)


def _scan_subdir(root: Path, subdir: str, state: Path, report: IndexReport, *,
                 jobs: int | None) -> dict[str, Entry]:
    """Cache entries for every artifact in ``subdir``, reading only new or changed files."""
    cache_path = state / "cache" / f"{subdir}.json"
    cache = load_cache(cache_path)
    current: dict[str, Entry] = {}
    todo: list[tuple[str, os.stat_result]] = []
    for item in os.scandir(root / subdir):
        name = item.name
        if name.startswith(".") and name.endswith(".part"):
            # a temporary file left by a killed indexer (we hold the lock: nobody writes it now)
            Path(item.path).unlink(missing_ok=True)
            continue
        if name.startswith(".") or not (is_conda_artifact(name) or name.endswith(".whl")):
            continue
        if not item.is_file():
            continue
        st = item.stat()
        entry = cache.get(name)
        if entry is not None and fresh_entry(entry, st):
            current[name] = entry
            report.reused += 1
        else:
            todo.append((name, st))
    changed = bool(todo) or set(current) != set(cache)
    if todo:
        paths = [root / subdir / name for name, _ in todo]
        # a file whose mtime changed but whose bytes did not keeps its facts
        facts_list = _read_many(paths, cache, jobs=jobs)
        now = int(time.time() * 1000)
        for (name, st), facts in zip(todo, facts_list, strict=True):
            old = cache.get(name)
            indexed = (old or {}).get("facts", {}).get("indexed_timestamp", now)
            if old is not None and old.get("sha256") == facts["sha256"]:
                indexed = old["facts"].get("indexed_timestamp", now)
            facts["indexed_timestamp"] = indexed
            current[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                             "sha256": facts["sha256"], "facts": facts}
        report.read += len(todo)
    if changed or not cache_path.exists():
        save_cache(cache_path, current)
    return current


def _read_many(paths: list[Path], cache: Mapping[str, Entry], *, jobs: int | None
               ) -> list[dict[str, Any]]:
    reuse = {str(p): cache[p.name] for p in paths if p.name in cache}
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if len(paths) < _PARALLEL_THRESHOLD or workers <= 1:
        return [_read_one(p, reuse.get(str(p))) for p in paths]
    ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(_read_one, paths, [reuse.get(str(p)) for p in paths],
                             chunksize=max(1, len(paths) // (workers * 8))))


def _read_one(path: Path, old: Entry | None = None) -> dict[str, Any]:
    """Facts of one artifact; a cached entry whose hash still matches is reused unread."""
    if old is not None:
        _, sha, _ = file_hashes(path)
        if sha == old.get("sha256"):
            return dict(old["facts"])
    if path.name.endswith(".whl"):
        facts = read_wheel_facts(path)
        facts["kind"] = "whl"
        return facts
    facts = read_conda_facts(path)
    facts["kind"] = "conda"
    facts["sha256"] = facts["record"]["sha256"]
    return facts


# --- repodata -------------------------------------------------------------------------------------

def _write_subdir(root: Path, subdir: str, entries: Mapping[str, Entry], report: IndexReport, *,
                  zstd_level: int) -> dict[str, dict[str, Any]]:
    packages: dict[str, dict[str, Any]] = {}
    conda: dict[str, dict[str, Any]] = {}
    whl: dict[str, dict[str, Any]] = {}
    run_exports: dict[str, dict[str, dict[str, Any]]] = {"packages": {}, "packages.conda": {}}
    for fn in sorted(entries):
        facts = entries[fn]["facts"]
        if facts["kind"] == "whl":
            if subdir != "noarch":
                continue
            if not is_pure(facts):
                report.skipped.append(f"{subdir}/{fn}: not pure Python, no v3.whl record "
                                      "(listed under simple/ only)")
                continue
            if facts.get("variant_label"):
                report.skipped.append(f"{subdir}/{fn}: variant wheel, no v3.whl record "
                                      "(listed under simple/ only)")
                continue
            key, record = whl_record(facts, indexed_timestamp=facts["indexed_timestamp"])
            whl[key] = record
            continue
        record = facts["record"]
        section = "packages.conda" if fn.endswith(".conda") else "packages"
        (conda if section == "packages.conda" else packages)[fn] = record
        if facts.get("run_exports"):
            run_exports[section][fn] = {"run_exports": facts["run_exports"]}
    info: dict[str, Any] = {"subdir": subdir}
    repodata: dict[str, Any] = {"info": info, "packages": packages, "packages.conda": conda,
                                "removed": [], "repodata_version": 1}
    if whl:
        stamps = [r["indexed_timestamp"] for r in whl.values()]
        info["repodata_revisions"] = {"v3": {"n_packages": len(whl), "oldest": min(stamps),
                                             "newest": max(stamps)}}
        repodata["v3"] = {"whl": whl}
    report.subdirs[subdir] = len(packages) + len(conda)
    report.whl_records += len(whl)
    body = json.dumps(repodata, indent=1, sort_keys=True).encode()
    target = root / subdir / "repodata.json"
    if _same_content(target, body):
        return {**packages, **conda}
    # the compressed twin first: a reader that prefers .zst never sees it older than the .json
    cctx = zstandard.ZstdCompressor(level=zstd_level, threads=-1)
    atomic_write_bytes(root / subdir / "repodata.json.zst", cctx.compress(body))
    atomic_write_bytes(target, body)
    exports = {"info": {"subdir": subdir, "version": 1}, **run_exports}
    atomic_write_bytes(root / subdir / "run_exports.json",
                       json.dumps(exports, indent=1, sort_keys=True).encode())
    return {**packages, **conda}


def _same_content(path: Path, body: bytes) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size != len(body) or not path.with_name(path.name + ".zst").exists():
        return False
    return hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(body).digest()


# --- channeldata ----------------------------------------------------------------------------------

_ABOUT_KEYS = ("description", "dev_url", "doc_url", "home", "license", "source_url", "summary")


def _write_channeldata(root: Path, all_records: Mapping[str, Mapping[str, dict[str, Any]]]
                       ) -> None:
    """``channeldata.json``: per package name, the newest version's summary over all subdirs."""
    from rattler import Version

    packages: dict[str, dict[str, Any]] = {}
    newest: dict[str, tuple[Version, int]] = {}
    for subdir, records in sorted(all_records.items()):
        for record in records.values():
            name = record["name"]
            entry = packages.setdefault(name, {"subdirs": []})
            if subdir not in entry["subdirs"]:
                entry["subdirs"].append(subdir)
            key = (Version(record["version"]), int(record.get("timestamp", 0) or 0))
            if name not in newest or key > newest[name]:
                newest[name] = key
                entry["version"] = record["version"]
                entry["timestamp"] = int(record.get("timestamp", 0) or 0) // 1000 or None
                entry["license"] = record.get("license")
    data = {"channeldata_version": 1,
            "packages": {name: {k: v for k, v in sorted(p.items()) if v is not None}
                         for name, p in sorted(packages.items())},
            "subdirs": sorted(all_records)}
    body = json.dumps(data, indent=1, sort_keys=True).encode()
    target = root / "channeldata.json"
    if not (target.exists() and target.read_bytes() == body):
        atomic_write_bytes(target, body)


# --- wheels exported from conda packages ---------------------------------------------------------

def _exported_wheels(root: Path, pythonic: Iterable[tuple[Path, Entry]], state: Path,
                     report: IndexReport, *, taken: set[str]) -> list[dict[str, Any]]:
    """Facts of wheels exported from Python-carrying conda packages (cached by the package hash).

    One wheel per file name: ``.conda`` twins win over ``.tar.bz2`` ones, and a raw wheel in the
    channel (``taken``) wins over an exported wheel of the same name.
    """
    items = sorted(pythonic, key=lambda item: (item[0].parent.name,
                                               not item[0].name.endswith(".conda"), item[0].name))
    out_dir = root / EXPORT_DIR
    if importlib.util.find_spec("conda_wheel_bridge.to_wheel") is None:
        if items:
            report.skipped.append(f"{len(items)} Python conda package(s): not exported as wheels "
                                  "(conda_wheel_bridge.to_wheel is not installed)")
        return []
    cache_path = state / "cache" / "exported.json"
    cache = load_cache(cache_path)
    result: dict[str, Entry] = {}
    wheels: list[dict[str, Any]] = []
    used = set(taken)
    for path, entry in items:
        where = f"{path.parent.name}/{path.name}"
        sha = entry["sha256"]
        cached = cache.get(sha)
        if cached is not None and "skipped" in cached["facts"]:
            if cached["facts"].get("fn") is None or cached["facts"]["fn"] in used:
                result[sha] = cached  # the same verdict as last time, without converting again
                report.skipped.append(f"{where}: {cached['facts']['skipped']}")
                continue
            cached = None
        if cached is not None and cached["facts"]["fn"] not in used and _present(
                out_dir / cached["facts"]["fn"], cached["size"]):
            result[sha] = cached
        else:
            try:
                with _scratch(state) as tmp:
                    to_wheel = importlib.import_module("conda_wheel_bridge.to_wheel")
                    produced = Path(to_wheel.conda_to_wheel(path, tmp))
                    if produced.name in used:
                        why = f"its wheel {produced.name} is already in the channel"
                        result[sha] = _skip_entry(why, produced.name)
                        report.skipped.append(f"{where}: {why}")
                        continue
                    facts = read_wheel_facts(produced)
                    out_dir.mkdir(exist_ok=True)
                    os.replace(produced, out_dir / produced.name)
            except CwbError as exc:
                why = f"not exported as a wheel ({exc.reason})"
                result[sha] = _skip_entry(why, None)
                report.skipped.append(f"{where}: {why}")
                continue
            except ImportError as exc:  # a converter part is missing: try again next time
                report.skipped.append(f"{where}: not exported as a wheel ({exc})")
                continue
            result[sha] = {"size": facts["size"], "mtime_ns": 0, "sha256": facts["sha256"],
                           "facts": facts}
            report.exported += 1
        facts = result[sha]["facts"]
        used.add(facts["fn"])
        wheels.append({**facts, "url": f"{EXPORT_DIR}/{facts['fn']}", "source": where})
    keep = {r["facts"]["fn"] for r in result.values() if "skipped" not in r["facts"]}
    if out_dir.is_dir():
        for item in out_dir.iterdir():
            base = item.name.removesuffix(".metadata")
            if base.endswith(".whl") and base not in keep:
                item.unlink()
    if result != cache:
        save_cache(cache_path, result)
    return wheels


def _skip_entry(reason: str, fn: str | None) -> Entry:
    return {"size": 0, "mtime_ns": 0, "sha256": "", "facts": {"skipped": reason, "fn": fn}}


def _present(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


class _scratch:
    """A temporary directory under the channel's state dir (same file system: rename works)."""

    def __init__(self, state: Path) -> None:
        self.path = state / f"tmp-{os.getpid()}-{time.monotonic_ns()}"

    def __enter__(self) -> Path:
        self.path.mkdir(parents=True)
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
