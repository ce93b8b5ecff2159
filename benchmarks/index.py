"""Benchmark ``cwb index`` against py-rattler's indexer and conda-index, in the same run.

For each size (2,000 and 10,000 small ``.conda`` packages by default, half noarch, half
linux-64) a channel is generated once, copied fresh for each tool, and indexed:

* cold: a channel with no repodata and no cache, indexed ``--colds`` times (default 3) from a
  fresh copy each time, the median reported;
* incremental: one new package added to the just-indexed channel, indexed again; repeated
  (``--adds``, default 5) with a further new package each time, and the median reported, since
  one run of a tenth of a second swings by a third with the machine's load.

Each indexer runs in a fresh process of its own (py-rattler leaves a Rust runtime's threads
running, which would keep cwb from sharing its stats with forked children, as a fresh ``cwb
index`` process does). Prints the times and the ratios the project targets: cwb cold within 1.5x
of py-rattler's cold time, and cwb adding one package to 10,000 at least 20x faster than cwb's
cold index. Every indexer must list the added package, or the run fails. conda-index needs
``conda``, which is not on PyPI; when it cannot be imported its row says why.

    python benchmarks/index.py [--sizes 2000 10000] [--colds 3] [--adds 5] [--workdir DIR]
                               [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from conda_wheel_bridge.channel.index import index_channel  # noqa: E402

from tests.support.channelmaker import make_conda_package  # noqa: E402


def generate(root: Path, n: int) -> Path:
    """A channel of ``n`` small packages (reused when already generated)."""
    done = root / f".generated-{n}"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    for i in range(n):
        subdir = "noarch" if i % 2 else "linux-64"
        make_conda_package(root, f"pkg{i}", f"1.{i % 10}", f"h{i:06d}_0", subdir=subdir,
                           depends=[f"pkg{(i * 7) % n} >=1", "libfoo >=2"],
                           files={f"share/pkg{i}/data.txt": b"x" * (200 + i % 100)})
    (root / "noarch").mkdir(exist_ok=True)
    done.touch()
    return root


def _add_one(root: Path, k: int) -> str:
    path = make_conda_package(root, f"added-late{k}", "9.9", "h0_0", subdir="noarch",
                              depends=["pkg1 >=1"])
    return path.name


def _listed(root: Path, fn: str) -> bool:
    data = json.loads((root / "noarch" / "repodata.json").read_bytes())
    return fn in data.get("packages.conda", {})


def _cwb(root: Path, jobs: int | None, *, expect_read: int) -> None:
    report = index_channel(root, jobs=jobs)
    assert report.read == expect_read, f"cwb read {report.read} files, expected {expect_read}"


def _rattler(root: Path, force: bool) -> None:
    from rattler.index import index_fs

    result = index_fs(root, write_zst=True, write_shards=False, force=force)
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def _conda_index_runner() -> tuple[Callable[[Path], None] | None, str]:
    try:
        from conda_index.index import ChannelIndex
    except Exception as exc:  # conda-index imports conda, which is not on PyPI
        return None, f"unavailable: {type(exc).__name__}: {exc}"

    def run(root: Path) -> None:
        with _stderr_muted():  # its worker processes log a line per subdir and step
            ChannelIndex(root, None, write_bz2=False, write_zst=True, threads=None).index(None)

    return run, "ok"


@contextlib.contextmanager
def _stderr_muted() -> Iterator[None]:
    """Send file descriptor 2 (and so child processes' stderr) to /dev/null for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _measure(fresh: Callable[[], Path], cold: Callable[[Path], None],
             again: Callable[[Path], None], tool: str, colds: int, adds: int) -> dict[str, float]:
    """Median of ``colds`` cold runs on fresh copies; then, on the last copy, the median of
    ``adds`` runs that each index one more new package."""
    cold_times: list[float] = []
    for _ in range(colds):
        root = fresh()
        cold_times.append(_timed(functools.partial(cold, root)))
    add_times = []
    for k in range(adds):
        added = _add_one(root, k)
        add_times.append(_timed(functools.partial(again, root)))
        assert _listed(root, added), f"{tool} did not list the added package"
    return {"cold_s": statistics.median(cold_times), "incremental_s": statistics.median(add_times)}


def bench_size(n: int, workdir: Path, jobs: int | None, colds: int, adds: int
               ) -> dict[str, Any]:
    generate(workdir / f"gen-{n}", n)
    rows: dict[str, Any] = {}
    # each indexer in a fresh process of its own: one indexer's threads (py-rattler leaves a
    # Rust runtime's running) or caches must not weigh on the next
    spawn = multiprocessing.get_context("spawn")
    for tool in ("cwb", "py-rattler", "conda-index"):
        with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            rows[tool] = pool.submit(_measure_tool, tool, n, workdir, jobs, colds, adds).result()
        shutil.rmtree(workdir / f"{tool}-{n}", ignore_errors=True)
    return rows


def _measure_tool(tool: str, n: int, workdir: Path, jobs: int | None, colds: int, adds: int
                  ) -> dict[str, Any]:
    """Run in a worker process: ``tool``'s cold and add-one times on the ``n``-package channel."""
    source = workdir / f"gen-{n}"

    def fresh() -> Path:
        target = workdir / f"{tool}-{n}"
        shutil.rmtree(target, ignore_errors=True)
        # only the packages: no index, cache or pages a previous run may have left
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(
            ".generated-*", ".cwb", "repodata*", "run_exports.json", "channeldata.json",
            "simple", "wheels", "*.metadata"))
        return target

    if tool == "cwb":
        count = sum(1 for p in source.rglob("*.conda"))
        return _measure(fresh, lambda r: _cwb(r, jobs, expect_read=count),
                        lambda r: _cwb(r, jobs, expect_read=1), tool, colds, adds)
    if tool == "py-rattler":
        return _measure(fresh, lambda r: _rattler(r, True), lambda r: _rattler(r, False), tool,
                        colds, adds)
    runner, status = _conda_index_runner()
    if runner is None:
        return {"status": status}
    return _measure(fresh, runner, runner, tool, colds, adds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where channels are generated (kept for reuse); default: a temp dir")
    parser.add_argument("--jobs", type=int, default=None, help="cwb worker processes")
    parser.add_argument("--colds", type=int, default=3,
                        help="cold runs per indexer, each on a fresh copy; the median is reported")
    parser.add_argument("--adds", type=int, default=5,
                        help="add-one runs per indexer, of which the median is reported")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cwb-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = {str(n): bench_size(n, workdir, args.jobs, max(1, args.colds), max(1, args.adds))
                   for n in args.sizes}
    print(f"cold: the median of {args.colds} runs on fresh copies; add one: the median of "
          f"{args.adds} runs, each adding a further package")
    print(f"{'packages':>9} {'indexer':<12} {'cold s':>8} {'add one s':>10} {'cold/add':>9}")
    for n, rows in results.items():
        for name, row in rows.items():
            if "cold_s" not in row:
                print(f"{n:>9} {name:<12} {row['status']}")
                continue
            ratio = row["cold_s"] / row["incremental_s"]
            print(f"{n:>9} {name:<12} {row['cold_s']:>8.2f} {row['incremental_s']:>10.3f} "
                  f"{ratio:>8.1f}x")
        cwb, rattler = rows["cwb"], rows["py-rattler"]
        vs = cwb["cold_s"] / rattler["cold_s"]
        rows["cwb_cold_vs_rattler"] = vs
        rows["cwb_cold_over_incremental"] = cwb["cold_s"] / cwb["incremental_s"]
        print(f"{n:>9} cwb cold / py-rattler cold = {vs:.2f} (target <= 1.5); "
              f"cwb cold / cwb add-one = {rows['cwb_cold_over_incremental']:.1f} (target >= 20 "
              "at 10,000)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
