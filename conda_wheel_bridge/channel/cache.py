"""The incremental index cache: what was read from each file, keyed by name, size, mtime and hash.

A file whose size and mtime are unchanged is trusted without being opened; one whose size or mtime
changed is hashed, and its facts are reused only when the hash still matches. The cache is an
SQLite database, so one run touches only the rows of files that changed, a conda record is stored
as its final JSON text (``repodata.json`` is then a join of texts), and a killed indexer leaves the
database as of its last committed transaction.
"""

from __future__ import annotations

import array
import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .filestats import FileStats, packed, unpacked
from .splice import Keys

__all__ = ["CACHE_VERSION", "IndexCache", "Layout", "load_json", "open_cache", "save_json"]

#: bump when the stored facts change shape; an older cache is then dropped and rebuilt
CACHE_VERSION = 8
#: the SQLite layout's version (``PRAGMA user_version``); a database of another one is rebuilt
_DB_VERSION = CACHE_VERSION * 100 + 5
_TABLES = ("files", "names", "snapshots", "unwritten", "layouts", "stale_names",
           "channeldata_subdirs")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    subdir TEXT NOT NULL,
    fn TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,           -- "conda" or "whl"
    record_json TEXT,             -- conda: the repodata record, exactly as written
    summary_json TEXT NOT NULL,   -- the small facts channeldata and exports need
    facts_json TEXT,              -- whl: everything read from the wheel
    python_dist TEXT,             -- conda: site-packages dist-info/egg-info, if any
    name TEXT,                    -- conda: package name (channeldata is kept per name)
    exports_json TEXT,            -- conda: '{"run_exports":...}' when it has run_exports
    PRIMARY KEY (subdir, fn)
) WITHOUT ROWID;  -- rows sit in (subdir, fn) order: a join walks them with no lookups or sort
-- covering indexes: the per-run queries never read the large record columns they do not need
CREATE INDEX IF NOT EXISTS files_name ON files (name);
CREATE INDEX IF NOT EXISTS files_stat ON files (subdir, fn, size, mtime_ns);
CREATE INDEX IF NOT EXISTS files_kind ON files (subdir, kind, fn);
CREATE INDEX IF NOT EXISTS files_python ON files (subdir, fn, sha256)
    WHERE python_dist IS NOT NULL;
CREATE INDEX IF NOT EXISTS files_exports ON files (subdir, fn, exports_json)
    WHERE exports_json IS NOT NULL;
CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY, fragment TEXT NOT NULL) WITHOUT ROWID;
-- per subdir, every file's (fn, size, mtime_ns) once more, packed: a run that finds nothing
-- changed loads 10,000 of them in one read instead of stepping 10,000 rows
CREATE TABLE IF NOT EXISTS snapshots (
    subdir TEXT PRIMARY KEY,
    names BLOB NOT NULL,          -- file names, UTF-8, NUL-separated
    sizes BLOB NOT NULL,          -- signed 64-bit integers, native order, as array("q")
    mtimes BLOB NOT NULL
) WITHOUT ROWID;
-- subdirs changed since their repodata was written: marked in the transaction of the change,
-- cleared once the files are in place, so a run killed in between leaves the mark
CREATE TABLE IF NOT EXISTS unwritten (subdir TEXT PRIMARY KEY) WITHOUT ROWID;
-- the JSON files last written by splicing-aware writers (repodata.json per subdir, and
-- channeldata.json): their size, mtime and inode, which say whether a file is still the one
-- written, and where the entries of each of its large objects sit: "sections" is a JSON list
-- of [byte offset of the first entry, number of entries], "lengths" every entry's byte length,
-- section after section, as array("Q")
CREATE TABLE IF NOT EXISTS layouts (
    file TEXT PRIMARY KEY,        -- relative to the channel: noarch/repodata.json ...
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    sections TEXT NOT NULL,
    lengths BLOB NOT NULL
) WITHOUT ROWID;
-- the names alone, in order: splicing channeldata.json needs them, not their fragments
CREATE INDEX IF NOT EXISTS names_keys ON names (name);
-- names whose channeldata entry is out of date, until channeldata.json is written: a run
-- killed in between leaves them here for the next one
CREATE TABLE IF NOT EXISTS stale_names (name TEXT PRIMARY KEY) WITHOUT ROWID;
-- the subdir list channeldata.json was last written with
CREATE TABLE IF NOT EXISTS channeldata_subdirs (subdir TEXT PRIMARY KEY) WITHOUT ROWID;
"""


class Layout(NamedTuple):
    """Where the entries of a written JSON file's large objects sit (see :mod:`.splice`)."""

    identity: tuple[int, int, int]  # size, mtime_ns and inode of the file as written
    sections: tuple[tuple[int, array.array[int]], ...]  # per object: first entry's offset, and
    # each entry's byte length in key order


@contextlib.contextmanager
def open_cache(path: Path) -> Iterator[IndexCache]:
    """Open (or create) the cache database at ``path``; an unreadable one is rebuilt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = _connect(path)
    except sqlite3.DatabaseError:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        conn = _connect(path)
    try:
        yield IndexCache(conn)
    finally:
        conn.close()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    no_checkpoint = getattr(sqlite3, "SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE", None)  # Python 3.12+
    if no_checkpoint is not None:
        # closing would copy the run's pages from the log into the database and fsync it
        # (0.93 of the add-one time without it, on Python 3.12); they stay in the log, which
        # SQLite checkpoints by itself once it holds 1,000 pages
        conn.setconfig(no_checkpoint, True)  # type: ignore[attr-defined,unused-ignore]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != _DB_VERSION:
        conn.executescript("".join(f"DROP TABLE IF EXISTS {table};" for table in _TABLES))
        conn.execute(f"PRAGMA user_version={_DB_VERSION}")
    conn.executescript(_SCHEMA)
    return conn


class IndexCache:
    """Rows of indexed files, per subdir."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def snapshot(self, subdir: str) -> FileStats:
        """Every file cached for ``subdir`` with its size and mtime: a file whose pair differs
        (or is missing) is new or changed. In the order last listed when the snapshot is whole,
        else (a damaged snapshot) rebuilt from the rows."""
        row = self._conn.execute("SELECT names, sizes, mtimes FROM snapshots WHERE subdir = ?",
                                 (subdir,)).fetchone()
        if row is not None:
            stored = unpacked(*row)
            if stored is not None:
                return stored
        rows = self._conn.execute("SELECT fn, size, mtime_ns FROM files WHERE subdir = ?",
                                  (subdir,)).fetchall()
        return FileStats([fn for fn, _, _ in rows], array.array("q", [s for _, s, _ in rows]),
                         array.array("q", [m for _, _, m in rows]))

    def counts(self) -> dict[str, int]:
        """How many files each subdir had when last scanned (from the snapshots' sizes)."""
        return {subdir: int(size) // 8 for subdir, size in self._conn.execute(
            "SELECT subdir, length(sizes) FROM snapshots")}

    def unchanged(self, subdir: str, found: FileStats) -> bool:
        """Whether ``found`` is exactly the snapshot stored for ``subdir``: same files, same
        sizes and mtimes, listed in the same order (a directory nobody touched lists so)."""
        row = self._conn.execute("SELECT names, sizes, mtimes FROM snapshots WHERE subdir = ?",
                                 (subdir,)).fetchone()
        return row is not None and tuple(row) == packed(found)

    def facts(self, subdir: str, fn: str) -> dict[str, Any] | None:
        """Everything cached about one file, as :meth:`put` took it."""
        row = self._conn.execute(
            "SELECT kind, record_json, summary_json, facts_json, python_dist, sha256 "
            "FROM files WHERE subdir = ? AND fn = ?", (subdir, fn)).fetchone()
        if row is None:
            return None
        kind, record_json, summary_json, facts_json, python_dist, sha = row
        facts: dict[str, Any] = json.loads(facts_json) if facts_json else {}
        facts.update(json.loads(summary_json))
        facts.update({"kind": kind, "sha256": sha, "python_dist": python_dist})
        if record_json is not None:
            facts["record_json"] = record_json
        return facts

    def update(self, subdir: str, put: Iterable[tuple[str, int, int, dict[str, Any]]],
               drop: Iterable[str], found: FileStats) -> None:
        """Store ``(fn, size, mtime_ns, facts)`` rows and forget ``drop``, in one transaction.

        ``found`` is the snapshot :meth:`snapshot` and :meth:`unchanged` answer from afterwards:
        every file of ``subdir`` with its size and mtime, the ones put included. The same
        transaction marks the subdir unwritten and the conda package names whose rows changed
        stale, until the outputs are written.
        """
        put = list(put)
        drop = list(drop)
        rows = [(subdir, fn, size, mtime, *_columns(fn, facts))
                for fn, size, mtime, facts in put]
        affected = {str(facts["name"]) for _, _, _, facts in put if facts["kind"] == "conda"}
        with self._transaction():
            # the names the replaced and dropped rows had: a package copied over in place may
            # carry another name inside, and the old name's channeldata entry must go too
            affected.update(name for (name,) in self._rows_in(
                "SELECT name FROM files WHERE subdir = ? AND name IS NOT NULL", (subdir,), "fn",
                [fn for fn, _, _, _ in put] + drop))
            self._conn.executemany("DELETE FROM files WHERE subdir = ? AND fn = ?",
                                   [(subdir, fn) for fn in drop])
            self._conn.executemany(
                "INSERT OR REPLACE INTO files (subdir, fn, size, mtime_ns, sha256, kind, "
                "record_json, summary_json, facts_json, python_dist, name, exports_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._conn.execute(
                "INSERT OR REPLACE INTO snapshots (subdir, names, sizes, mtimes) "
                "VALUES (?, ?, ?, ?)", (subdir, *packed(found)))
            if rows or drop:  # not when the files were only listed in a new order
                self._conn.execute("INSERT OR IGNORE INTO unwritten (subdir) VALUES (?)",
                                   (subdir,))
            self._mark_stale(affected)

    def forget_subdirs_except(self, subdirs: Iterable[str]) -> None:
        """Drop the rows of subdirs that no longer exist; their package names become stale."""
        keep = list(subdirs)
        # every update writes its subdir's snapshot, so the snapshots name every subdir
        present = {s for (s,) in self._conn.execute("SELECT subdir FROM snapshots")}
        if present <= set(keep):
            return
        marks = ",".join("?" * len(keep)) or "''"
        with self._transaction():
            self._mark_stale(n for (n,) in self._conn.execute(
                f"SELECT DISTINCT name FROM files WHERE subdir NOT IN ({marks}) "
                "AND name IS NOT NULL", keep).fetchall())
            self._conn.execute(f"DELETE FROM files WHERE subdir NOT IN ({marks})", keep)
            for table in ("snapshots", "unwritten"):
                self._conn.execute(f"DELETE FROM {table} WHERE subdir NOT IN ({marks})", keep)
            self._conn.execute(
                f"DELETE FROM layouts WHERE file LIKE '%/repodata.json' AND "
                f"substr(file, 1, length(file) - 14) NOT IN ({marks})", keep)

    def unwritten_subdirs(self) -> set[str]:
        """Subdirs changed since their repodata was last written (by this run or a killed one)."""
        return {s for (s,) in self._conn.execute("SELECT subdir FROM unwritten")}

    def mark_written(self, layouts: Mapping[str, Layout | None]) -> None:
        """Record that each subdir's repodata now matches its rows, and how its
        ``repodata.json`` is laid out (``None``: not recorded)."""
        with self._transaction():
            for subdir, layout in layouts.items():
                self._conn.execute("DELETE FROM unwritten WHERE subdir = ?", (subdir,))
                if layout is not None:
                    self._put_layout(f"{subdir}/repodata.json", layout)

    def layout(self, file: str) -> Layout | None:
        """How ``file`` (relative to the channel) was laid out when last written, if recorded."""
        row = self._conn.execute(
            "SELECT size, mtime_ns, inode, sections, lengths FROM layouts WHERE file = ?",
            (file,)).fetchone()
        if row is None:
            return None
        size, mtime, inode, sections, blob = row
        lengths: array.array[int] = array.array("Q")
        try:
            lengths.frombytes(blob)
            spans = [(int(start), int(count)) for start, count in json.loads(sections)]
        except (ValueError, TypeError):  # damaged: not to be trusted
            return None
        if sum(count for _, count in spans) != len(lengths):
            return None
        cuts, at = [], 0
        for start, count in spans:
            cuts.append((start, lengths[at:at + count]))
            at += count
        return Layout((size, mtime, inode), tuple(cuts))

    def _put_layout(self, file: str, layout: Layout) -> None:
        sections = json.dumps([[start, len(lengths)] for start, lengths in layout.sections])
        blob = b"".join(lengths.tobytes() for _, lengths in layout.sections)
        self._conn.execute(
            "INSERT OR REPLACE INTO layouts (file, size, mtime_ns, inode, sections, lengths) "
            "VALUES (?, ?, ?, ?, ?, ?)", (file, *layout.identity, sections, blob))

    def stale_names(self) -> set[str]:
        """Package names whose channeldata entry is out of date."""
        return {n for (n,) in self._conn.execute("SELECT name FROM stale_names")}

    def channeldata_subdirs(self) -> list[str]:
        """The subdir list ``channeldata.json`` was last written with."""
        return [s for (s,) in self._conn.execute(
            "SELECT subdir FROM channeldata_subdirs ORDER BY subdir")]

    def channeldata_written(self, names: Iterable[str], subdirs: Iterable[str],
                            layout: Layout | None = None) -> None:
        """Record that ``channeldata.json`` now holds ``names`` fresh and lists ``subdirs``,
        and how it is laid out."""
        with self._transaction():
            self._conn.executemany("DELETE FROM stale_names WHERE name = ?",
                                   [(n,) for n in names])
            self._conn.execute("DELETE FROM channeldata_subdirs")
            self._conn.executemany("INSERT INTO channeldata_subdirs (subdir) VALUES (?)",
                                   [(s,) for s in subdirs])
            if layout is not None:
                self._put_layout("channeldata.json", layout)

    def _mark_stale(self, names: Iterable[str]) -> None:
        self._conn.executemany("INSERT OR IGNORE INTO stale_names (name) VALUES (?)",
                               [(n,) for n in names])

    def joined_exports(self, subdir: str, suffix: str) -> str:
        """The ``"fn":{"run_exports":...}`` fragments of the conda artifacts of ``subdir`` ending
        in ``suffix``, joined with commas in file-name order (SQLite does the joining; only
        conda rows carry exports, and their partial index answers alone)."""
        (text,) = self._conn.execute(
            "SELECT group_concat(json_quote(fn) || ':' || exports_json, ',') FROM "
            "(SELECT fn, exports_json FROM files WHERE subdir = ? "
            "AND exports_json IS NOT NULL AND fn LIKE ? ORDER BY fn)",
            (subdir, f"%{suffix}")).fetchone()
        return text or ""

    def fragments(self, subdir: str, suffix: str, fns: Iterable[str] | None = None
                  ) -> list[tuple[str, str]]:
        """``(fn, '"fn":record')`` of the conda artifacts of ``subdir`` ending in ``suffix`` (of
        those named ``fns``, when given), in file-name order."""
        query = ("SELECT fn, json_quote(fn) || ':' || record_json FROM files "
                 "WHERE subdir = ? AND kind = 'conda' AND record_json IS NOT NULL AND fn LIKE ?")
        if fns is None:
            return self._conn.execute(f"{query} ORDER BY fn", (subdir, f"%{suffix}")).fetchall()
        return sorted(self._rows_in(query, (subdir, f"%{suffix}"), "fn", fns))

    def name_summaries(self, names: Iterable[str] | None = None
                       ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """``name -> [(subdir, summary)]`` for ``names`` (all names when ``None``)."""
        query = "SELECT name, subdir, summary_json FROM files WHERE kind = 'conda'"
        rows: list[tuple[str, str, str]] = []
        if names is None:
            rows = self._conn.execute(query).fetchall()
        else:
            rows = self._rows_in(query, (), "name", names)
        out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for name, subdir, summary in rows:
            out.setdefault(name, []).append((subdir, json.loads(summary)))
        return out

    def set_name_fragments(self, fragments: dict[str, str | None]) -> None:
        """Store (or, for ``None``, delete) the channeldata fragment of each name."""
        with self._transaction():
            self._conn.executemany("DELETE FROM names WHERE name = ?",
                                   [(n,) for n, f in fragments.items() if f is None])
            self._conn.executemany("INSERT OR REPLACE INTO names (name, fragment) VALUES (?, ?)",
                                   [(n, f) for n, f in fragments.items() if f is not None])

    def name_fragments(self) -> list[str]:
        """Every name's channeldata fragment, in name order."""
        return [f for (f,) in self._conn.execute("SELECT fragment FROM names ORDER BY name")]

    def name_keys(self) -> Keys:
        """The names with a channeldata fragment, as :func:`.splice.spliced` asks for them:
        each position is one count over the narrow index, not 10,000 names read."""
        return _NameKeys(self._conn)

    def wheels(self, subdir: str) -> list[tuple[str, dict[str, Any]]]:
        """``(fn, facts)`` of the wheels of ``subdir``, by name."""
        rows = self._conn.execute(
            "SELECT fn, facts_json, summary_json, sha256 FROM files INDEXED BY files_kind "
            "WHERE subdir = ? AND kind = 'whl' ORDER BY fn", (subdir,))
        return [(fn, {**json.loads(facts), **json.loads(summary), "kind": "whl", "sha256": sha})
                for fn, facts, summary, sha in rows]

    def python_packages(self) -> list[tuple[str, str, str]]:
        """``(subdir, fn, sha256)`` of the conda packages that carry a Python distribution."""
        return list(self._conn.execute(
            "SELECT subdir, fn, sha256 FROM files WHERE python_dist IS NOT NULL "
            "ORDER BY subdir, fn"))

    def _rows_in(self, query: str, params: tuple[Any, ...], column: str, values: Iterable[str]
                 ) -> list[Any]:
        """The rows of ``query`` (its ``params`` first) ``AND column IN values``, asked 500
        values at a time (SQLite bounds the parameters of one statement)."""
        wanted = list(values)
        rows: list[Any] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows += self._conn.execute(
                f"{query} AND {column} IN ({','.join('?' * len(chunk))})",
                (*params, *chunk)).fetchall()
        return rows

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")


class _NameKeys:
    """The ``names`` table's keys, answered by queries (see :meth:`IndexCache.name_keys`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __len__(self) -> int:
        return int(self._conn.execute(
            "SELECT count(*) FROM names INDEXED BY names_keys").fetchone()[0])

    def position(self, key: str) -> tuple[int, bool]:
        (below,) = self._conn.execute(
            "SELECT count(*) FROM names INDEXED BY names_keys WHERE name < ?", (key,)).fetchone()
        there = self._conn.execute("SELECT 1 FROM names WHERE name = ?", (key,)).fetchone()
        return int(below), there is not None


_SUMMARY_KEYS = ("name", "version", "timestamp", "license", "about", "run_exports",
                 "indexed_timestamp")


def _columns(fn: str, facts: dict[str, Any]) -> tuple[Any, ...]:
    kind = facts["kind"]
    summary = {k: facts[k] for k in _SUMMARY_KEYS if k in facts}
    rest = exports = name = None
    if kind == "whl":
        rest = json.dumps({k: v for k, v in facts.items()
                           if k not in _SUMMARY_KEYS and k not in ("kind", "sha256")})
    else:
        name = facts["name"]
        if facts.get("run_exports"):
            exports = json.dumps({"run_exports": facts["run_exports"]}, sort_keys=True,
                                 separators=(",", ":"))
    return (facts["sha256"], kind, facts.get("record_json"),
            json.dumps(summary, separators=(",", ":")), rest, facts.get("python_dist"),
            name, exports)


def load_json(path: Path) -> dict[str, Any]:
    """A small JSON side cache (``{}`` when missing, unreadable, or of another version)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def save_json(path: Path, entries: dict[str, Any]) -> None:
    """Write a small JSON side cache atomically."""
    from ..atomic import atomic_write_bytes

    payload = {"version": CACHE_VERSION, "entries": entries}
    atomic_write_bytes(path, json.dumps(payload, separators=(",", ":")).encode())
