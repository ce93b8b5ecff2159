"""The index cache: stat snapshots agree with the rows, and a damaged snapshot is not trusted."""

from __future__ import annotations

import array
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conda_wheel_bridge.channel.cache import open_cache
from conda_wheel_bridge.channel.filestats import FileStats


def _found(stats: dict[str, tuple[int, int]]) -> FileStats:
    return FileStats(list(stats), array.array("q", [s for s, _ in stats.values()]),
                     array.array("q", [m for _, m in stats.values()]))


def _facts(name: str) -> dict[str, Any]:
    return {"kind": "conda", "sha256": "0" * 64, "record_json": "{}", "name": name,
            "version": "1.0", "indexed_timestamp": 1}


def test_stats_answer_what_update_stored(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    stats = {"a-1.0-0.conda": (10, 1_700_000_000_000_000_001), "b-1.0-0.tar.bz2": (0, -5)}
    with open_cache(path) as cache:
        assert cache.snapshot("noarch").as_dict() == {}
        cache.update("noarch", [(fn, *pair, _facts(fn[0])) for fn, pair in stats.items()], [],
                     _found(stats))
        assert cache.snapshot("noarch").as_dict() == stats
        assert cache.snapshot("linux-64").as_dict() == {}
        # dropping a file: the snapshot given with the update is what stats answers next
        cache.update("noarch", [], ["b-1.0-0.tar.bz2"],
                     _found({"a-1.0-0.conda": stats["a-1.0-0.conda"]}))
    with open_cache(path) as cache:  # and it survives reopening
        assert cache.snapshot("noarch").as_dict() == {"a-1.0-0.conda": stats["a-1.0-0.conda"]}


def test_a_damaged_snapshot_falls_back_to_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    stats = {"a-1.0-0.conda": (10, 20), "b-1.0-0.conda": (30, 40)}
    with open_cache(path) as cache:
        cache.update("noarch", [(fn, *pair, _facts(fn[0])) for fn, pair in stats.items()], [],
                     _found(stats))
    conn = sqlite3.connect(path)
    with conn:  # a sizes blob cut mid-integer, then one with too few integers
        conn.execute("UPDATE snapshots SET sizes = substr(sizes, 1, 7)")
    conn.close()
    with open_cache(path) as cache:
        assert cache.snapshot("noarch").as_dict() == stats
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE snapshots SET sizes = substr(sizes, 1, 8)")
    conn.close()
    with open_cache(path) as cache:
        assert cache.snapshot("noarch").as_dict() == stats


def test_forgotten_subdirs_lose_their_snapshot_and_stale_their_names(tmp_path: Path) -> None:
    with open_cache(tmp_path / "index.sqlite") as cache:
        cache.update("linux-64", [("x-1-0.conda", 1, 2, _facts("x"))], [],
                     _found({"x-1-0.conda": (1, 2)}))
        cache.channeldata_written(["x"], ["linux-64", "noarch"])
        assert cache.stale_names() == set()
        cache.forget_subdirs_except(["noarch"])
        assert cache.snapshot("linux-64").as_dict() == {}
        assert cache.stale_names() == {"x"}
        assert cache.unwritten_subdirs() == set()


def test_changes_stay_marked_until_the_outputs_are_written(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    with open_cache(path) as cache:
        cache.update("noarch", [("a-1-0.conda", 1, 2, _facts("a"))], [],
                     _found({"a-1-0.conda": (1, 2)}))
    with open_cache(path) as cache:  # as a killed run leaves it
        assert cache.unwritten_subdirs() == {"noarch"}
        assert cache.stale_names() == {"a"}
        cache.mark_written({"noarch": None})
        cache.channeldata_written(["a"], ["noarch"])
    with open_cache(path) as cache:
        assert cache.unwritten_subdirs() == set()
        assert cache.stale_names() == set()
        assert cache.channeldata_subdirs() == ["noarch"]
        # removing a package stales its name again
        cache.update("noarch", [], ["a-1-0.conda"], _found({}))
        assert (cache.unwritten_subdirs(), cache.stale_names()) == ({"noarch"}, {"a"})


def test_a_new_listing_order_alone_is_no_change(tmp_path: Path) -> None:
    stats = {"a-1-0.conda": (1, 2), "b-1-0.conda": (3, 4)}
    with open_cache(tmp_path / "index.sqlite") as cache:
        cache.update("noarch", [(fn, *pair, _facts(fn[0])) for fn, pair in stats.items()], [],
                     _found(stats))
        assert cache.unchanged("noarch", _found(stats))
        cache.mark_written({"noarch": None})
        turned = dict(reversed(stats.items()))
        assert not cache.unchanged("noarch", _found(turned))  # answered by the slow path
        cache.update("noarch", [], [], _found(turned))
        assert cache.unchanged("noarch", _found(turned))
        assert cache.unwritten_subdirs() == set()
        # an unwritten mark survives a reorder
        cache.update("noarch", [("a-1-0.conda", 1, 5, _facts("a"))], [], _found(stats))
        cache.update("noarch", [], [], _found(turned))
        assert cache.unwritten_subdirs() == {"noarch"}
        assert not cache.unchanged("linux-64", _found({}))  # nothing stored: not unchanged


def test_layouts_round_trip_and_damaged_ones_are_not_trusted(tmp_path: Path) -> None:
    from conda_wheel_bridge.channel.cache import Layout

    path = tmp_path / "index.sqlite"
    layout = Layout((10, 20, 30), ((41, array.array("Q", [5, 6])), (60, array.array("Q", [7]))))
    with open_cache(path) as cache:
        cache.update("linux-64", [("x-1-0.conda", 1, 2, _facts("x"))], [],
                     _found({"x-1-0.conda": (1, 2)}))
        cache.mark_written({"noarch": layout, "linux-64": layout})
        cache.channeldata_written([], ["noarch"], layout._replace(sections=layout.sections[:1]))
        assert cache.layout("noarch/repodata.json") == layout
        assert cache.layout("channeldata.json") == layout._replace(sections=layout.sections[:1])
        assert cache.layout("osx-64/repodata.json") is None
        # a vanished subdir takes its layout along; channeldata's stays
        cache.forget_subdirs_except(["noarch"])
        assert cache.layout("linux-64/repodata.json") is None
        assert cache.layout("noarch/repodata.json") == layout
        assert cache.layout("channeldata.json") is not None
        plan = cache._conn.execute(  # the narrow index answers for the names alone
            "EXPLAIN QUERY PLAN SELECT name FROM names INDEXED BY names_keys ORDER BY name")
        assert any("COVERING INDEX names_keys" in row[-1] for row in plan)
    conn = sqlite3.connect(path)
    with conn:  # more entries said than lengths kept; then a blob cut mid-integer
        conn.execute("UPDATE layouts SET sections = '[[41, 9]]' WHERE file = 'channeldata.json'")
        conn.execute("UPDATE layouts SET lengths = substr(lengths, 1, 5) "
                     "WHERE file = 'noarch/repodata.json'")
    conn.close()
    with open_cache(path) as cache:
        assert cache.layout("channeldata.json") is None
        assert cache.layout("noarch/repodata.json") is None


def test_name_keys_place_names_as_a_sorted_list_does(tmp_path: Path) -> None:
    from conda_wheel_bridge.channel.splice import SortedKeys

    names = ["alpha", "b", "beta", "gamma", "zz"]
    with open_cache(tmp_path / "index.sqlite") as cache:
        cache.set_name_fragments({n: f'"{n}":{{}}' for n in names})
        keys, listed = cache.name_keys(), SortedKeys(names)
        assert len(keys) == len(listed) == 5
        for probe in ["", "a", "alpha", "b", "ba", "gamma", "zz", "zzz", "é"]:
            assert keys.position(probe) == listed.position(probe), probe


@pytest.mark.skipif(not hasattr(sqlite3, "SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE"),
                    reason="Python's sqlite3 has no connection config before 3.12")
def test_closing_leaves_the_log_for_later_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    with open_cache(path) as cache:
        cache.update("noarch", [("a-1-0.conda", 1, 2, _facts("a"))], [],
                     _found({"a-1-0.conda": (1, 2)}))
    wal = Path(f"{path}-wal")
    assert wal.is_file() and wal.stat().st_size > 0  # not copied into the database on close
    with open_cache(path) as cache:  # and what it holds is read back
        assert cache.snapshot("noarch").as_dict() == {"a-1-0.conda": (1, 2)}
        assert cache.unwritten_subdirs() == {"noarch"}
