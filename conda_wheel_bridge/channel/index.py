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
import sys
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
        all_entries: dict[str, dict[str, Entry]] = {}
        wheels: list[dict[str, Any]] = []
        pythonic: list[tuple[Path, dict[str, Any]]] = []
        any_changed = False
        for subdir in _subdirs(root):
            entries, changed = _scan_subdir(root, subdir, state, report, jobs=jobs)
            any_changed |= _write_subdir(root, subdir, entries, report, changed=changed,
                                         zstd_level=zstd_level) or changed
            all_entries[subdir] = entries
            for fn, entry in entries.items():
                facts = entry["facts"]
                if fn.endswith(".whl"):
                    wheels.append({**facts, "url": f"{subdir}/{fn}"})
                elif facts.get("python_dist"):
                    pythonic.append((root / subdir / fn, entry))
            if progress is not None:
                progress(f"{subdir}: {report.subdirs[subdir]} conda artifacts")
        if any_changed or not (root / "channeldata.json").is_file():
            _write_channeldata(root, all_entries)
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
                 jobs: int | None) -> tuple[dict[str, Entry], bool]:
    """Cache entries for every artifact in ``subdir`` (reading only new or changed files), and
    whether anything differs from the last run."""
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
    changed = bool(todo) or len(current) != len(cache)
    if todo:
        paths = [root / subdir / name for name, _ in todo]
        # a file whose mtime changed but whose bytes did not keeps its facts
        facts_list = _read_many(paths, cache, jobs=jobs)
        now = int(time.time() * 1000)
        for (name, st), facts in zip(todo, facts_list, strict=True):
            facts.setdefault("indexed_timestamp", now)
            current[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                             "sha256": facts["sha256"], "facts": facts}
        report.read += len(todo)
    if changed or not cache_path.exists():
        save_cache(cache_path, current)
    return current, changed


def _read_many(paths: list[Path], cache: Mapping[str, Entry], *, jobs: int | None
               ) -> list[dict[str, Any]]:
    olds = [cache.get(p.name) for p in paths]
    workers = jobs if jobs is not None else min(4, os.cpu_count() or 1)
    if len(paths) < _PARALLEL_THRESHOLD or workers <= 1:
        return [_read_one(p, old) for p, old in zip(paths, olds, strict=True)]
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(_read_one, paths, olds,
                             chunksize=max(1, len(paths) // (workers * 8))))


def _read_one(path: Path, old: Entry | None = None) -> dict[str, Any]:
    """Facts of one artifact; a cached entry whose hash still matches is reused unread.

    A conda artifact's repodata record is kept as its final JSON text, so a later run writes
    ``repodata.json`` by joining texts instead of encoding every record again.
    """
    if old is not None:
        _, sha, _ = file_hashes(path)
        if sha == old.get("sha256"):
            return dict(old["facts"])
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
        "run_exports": read["run_exports"],
        "python_dist": read["python_dist"],
    }


# --- repodata -------------------------------------------------------------------------------------

def _write_subdir(root: Path, subdir: str, entries: Mapping[str, Entry], report: IndexReport, *,
                  changed: bool, zstd_level: int) -> bool:
    """Write ``repodata.json`` (+ ``.zst``) and ``run_exports.json``; return whether written."""
    conda_texts: dict[str, list[str]] = {"packages": [], "packages.conda": []}
    whl: dict[str, dict[str, Any]] = {}
    run_exports: dict[str, dict[str, dict[str, Any]]] = {"packages": {}, "packages.conda": {}}
    for fn in sorted(entries):
        facts = entries[fn]["facts"]
        if facts["kind"] == "whl":
            record = _whl_record_or_none(subdir, fn, facts, report)
            if record is not None:
                whl[record[0]] = record[1]
            continue
        section = "packages.conda" if fn.endswith(".conda") else "packages"
        conda_texts[section].append(f"{json.dumps(fn)}:{facts['record_json']}")
        if facts.get("run_exports"):
            run_exports[section][fn] = {"run_exports": facts["run_exports"]}
    report.subdirs[subdir] = len(conda_texts["packages"]) + len(conda_texts["packages.conda"])
    report.whl_records += len(whl)
    target = root / subdir / "repodata.json"
    zst = root / subdir / "repodata.json.zst"
    if not changed and target.is_file() and zst.is_file():
        return False
    info: dict[str, Any] = {"subdir": subdir}
    if whl:
        stamps = [r["indexed_timestamp"] for r in whl.values()]
        info["repodata_revisions"] = {"v3": {"n_packages": len(whl), "oldest": min(stamps),
                                             "newest": max(stamps)}}
    # keys in sorted order, as json.dumps(sort_keys=True) would write them
    parts = ['{"info":', _compact(info),
             ',"packages":{', ",".join(conda_texts["packages"]),
             '},"packages.conda":{', ",".join(conda_texts["packages.conda"]),
             '},"removed":[],"repodata_version":1']
    if whl:
        parts += [',"v3":', _compact({"whl": whl})]
    parts.append("}")
    body = "".join(parts).encode()
    if _same_content(target, body):
        return False
    # the compressed twin first: a reader that prefers .zst never sees it older than the .json
    cctx = zstandard.ZstdCompressor(level=zstd_level, threads=-1)
    atomic_write_bytes(zst, cctx.compress(body))
    atomic_write_bytes(target, body)
    exports = {"info": {"subdir": subdir, "version": 1}, **run_exports}
    atomic_write_bytes(root / subdir / "run_exports.json", _compact(exports).encode())
    return True


def _whl_record_or_none(subdir: str, fn: str, facts: dict[str, Any], report: IndexReport
                        ) -> tuple[str, dict[str, Any]] | None:
    if subdir != "noarch":
        return None
    if not is_pure(facts):
        report.skipped.append(f"{subdir}/{fn}: not pure Python, no v3.whl record "
                              "(listed under simple/ only)")
        return None
    if facts.get("variant_label"):
        report.skipped.append(f"{subdir}/{fn}: variant wheel, no v3.whl record "
                              "(listed under simple/ only)")
        return None
    return whl_record(facts, indexed_timestamp=facts["indexed_timestamp"])


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


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


def _write_channeldata(root: Path, entries: Mapping[str, Mapping[str, Entry]]) -> None:
    """``channeldata.json``: per package name, the newest version's summary over all subdirs."""
    by_name: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for subdir, files in sorted(entries.items()):
        for entry in files.values():
            facts = entry["facts"]
            if facts["kind"] == "conda":
                by_name.setdefault(facts["name"], []).append((subdir, facts))
    packages: dict[str, dict[str, Any]] = {}
    for name, found in sorted(by_name.items()):
        best = found[0][1] if len(found) == 1 else max(
            (f for _, f in found), key=lambda f: (_version(f["version"]), f["timestamp"] or 0))
        summary: dict[str, Any] = {**best["about"],
                                   "subdirs": sorted({s for s, _ in found}),
                                   "version": best["version"]}
        if best.get("license"):
            summary["license"] = best["license"]
        if best.get("timestamp"):
            summary["timestamp"] = int(best["timestamp"]) // 1000
        exports = {f["version"]: f["run_exports"] for _, f in found if f.get("run_exports")}
        summary["run_exports"] = exports
        packages[name] = summary
    data = {"channeldata_version": 1, "packages": packages, "subdirs": sorted(entries)}
    body = _compact(data).encode()
    target = root / "channeldata.json"
    if not (target.exists() and target.read_bytes() == body):
        atomic_write_bytes(target, body)


def _version(text: str) -> Any:
    from rattler import Version

    try:
        return Version(text)
    except Exception:  # not a conda version: rank it below every real one
        return Version("0")


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
