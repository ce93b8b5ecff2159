"""``cwb convert INPUT... -o OUT``: wheels → conda packages (``OUT/<subdir>/``) or back (``OUT/``).

A batch is all or nothing: results are written to a staging folder inside OUT and moved into place
only when every input converted; on any error OUT is left as it was.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..defaults import CONDA_SUFFIXES, DEFAULT_ZSTD_LEVEL, FORMATS
from ..errors import CwbError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``cwb convert``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "convert",
        help="convert wheels to conda packages (or conda packages to wheels)",
        description="Convert wheels into conda packages under OUT/<subdir>/ (a channel), or conda "
        "packages into wheels under OUT/ with --to wheel.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="wheel (.whl) or conda package files")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument(
        "--to",
        choices=("conda", "wheel"),
        default=None,
        help="what to make (default: conda for wheels, wheel for conda packages)",
    )
    p.add_argument(
        "--format",
        dest="fmt",
        choices=tuple(FORMATS),
        default="conda",
        help="conda package format (default: conda)",
    )
    p.add_argument(
        "--zstd-level",
        type=int,
        default=DEFAULT_ZSTD_LEVEL,
        metavar="N",
        help=f"zstd level 1-22 for .conda (default: {DEFAULT_ZSTD_LEVEL})",
    )
    p.add_argument(
        "--zstd-threads",
        type=int,
        default=None,
        metavar="N",
        help="zstd threads per package (default: automatic, 1 with --jobs; see docs/convert.md)",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="convert N inputs at once in separate processes (0: one per CPU)",
    )
    p.add_argument(
        "--name-map",
        type=Path,
        default=None,
        metavar="FILE",
        help="PyPI⇄conda name overlay that wins over the shipped tables",
    )
    p.add_argument(
        "--allow-musllinux",
        action="store_true",
        help="convert musllinux wheels, depending on __musl (no conda-forge counterpart)",
    )
    p.add_argument(
        "--metadata-only",
        action="store_true",
        help="with --to wheel: write only the wheel's metadata",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--json", action="store_true", help="report what was written as JSON on stdout")
    return p


@dataclass(frozen=True)
class _Job:
    """One input to convert into the staging folder (picklable for worker processes)."""

    source: str
    staging: str
    to: str
    fmt: str
    zstd_level: int
    zstd_threads: int
    name_map: str | None
    allow_musllinux: bool
    metadata_only: bool


def _run_job(job: _Job) -> dict[str, Any]:
    """Convert one input; errors come back as data (CwbError does not survive pickling)."""
    try:
        names = None
        if job.name_map is not None:
            from ..mapping.names import load_name_map

            names = load_name_map(Path(job.name_map))
        if job.to == "wheel":
            from ..to_wheel import conda_to_wheel

            out = conda_to_wheel(
                Path(job.source), Path(job.staging), names=names, metadata_only=job.metadata_only
            )
            return {"input": job.source, "outputs": [{"path": os.path.relpath(out, job.staging)}]}
        from ..convert import wheel_to_conda_all

        results = wheel_to_conda_all(
            job.source,
            job.staging,
            fmt=job.fmt,
            zstd_level=job.zstd_level,
            zstd_threads=job.zstd_threads,
            names=names,
            allow_musllinux=job.allow_musllinux,
        )
        outputs = [
            {
                "path": os.path.relpath(r.path, job.staging),
                "subdir": r.subdir,
                "index": dict(r.index),
                "notes": list(r.notes),
            }
            for r in results
        ]
        return {"input": job.source, "outputs": outputs}
    except CwbError as exc:
        return {"input": job.source, "error": [exc.where, exc.reason]}
    except OSError as exc:
        return {
            "input": job.source,
            "error": [exc.filename or job.source, exc.strerror or str(exc)],
        }


def _direction(inputs: list[str], to: str | None) -> str:
    for item in inputs:
        is_wheel = item.endswith(".whl")
        is_conda = item.endswith(CONDA_SUFFIXES)
        if not (is_wheel or is_conda):
            raise CwbError(item, "not a wheel (.whl) or conda package (.conda, .tar.bz2)")
        if not Path(item).is_file():
            raise CwbError(item, "no such file")
        wanted = to or ("conda" if is_wheel else "wheel")
        if wanted == "conda" and not is_wheel:
            raise CwbError(
                item, "--to conda takes wheels; this is a conda package (try --to wheel)"
            )
        if wanted == "wheel" and not is_conda:
            raise CwbError(item, "--to wheel takes conda packages; this is a wheel")
        to = wanted
    assert to is not None
    return to


def _progress(done: int, total: int, name: str) -> None:
    sys.stderr.write(f"\r\x1b[K[{done}/{total}] {name}")
    sys.stderr.flush()


def _collect(jobs: list[_Job], workers: int, show: bool) -> list[dict[str, Any]]:
    """Run ``jobs`` (in processes when ``workers`` > 1); stop at the first error."""
    results: list[dict[str, Any]] = []
    if workers <= 1 or len(jobs) == 1:
        for i, job in enumerate(jobs, start=1):
            if show:
                _progress(i - 1, len(jobs), Path(job.source).name)
            result = _run_job(job)
            results.append(result)
            if "error" in result:
                break
        if show:
            _progress(len(results), len(jobs), "done\n")
        return results
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run_job, job) for job in jobs]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            if show:
                _progress(len(results), len(jobs), Path(result["input"]).name)
            if "error" in result:
                for other in futures:
                    other.cancel()
                break
    if show:
        sys.stderr.write("\n")
    order = {job.source: i for i, job in enumerate(jobs)}
    return sorted(results, key=lambda r: order[r["input"]])


def run(args: argparse.Namespace) -> int:
    """Convert every input; all or nothing."""
    inputs = [str(i) for i in args.inputs]
    to = _direction(inputs, args.to)
    if not 1 <= args.zstd_level <= 22:
        raise CwbError(str(args.zstd_level), "--zstd-level must be between 1 and 22")
    if args.jobs < 0:
        raise CwbError(str(args.jobs), "--jobs must be 0 (one per CPU) or more")
    workers = args.jobs or os.cpu_count() or 1
    threads = args.zstd_threads if args.zstd_threads is not None else (0 if workers == 1 else 1)
    out = Path(args.output)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cwb-convert-", dir=out))
    try:
        jobs = [
            _Job(
                src,
                str(staging),
                to,
                args.fmt,
                args.zstd_level,
                threads,
                str(args.name_map) if args.name_map else None,
                args.allow_musllinux,
                args.metadata_only,
            )
            for src in dict.fromkeys(inputs)
        ]
        show = sys.stderr.isatty() and not args.quiet and not args.json
        results = _collect(jobs, workers, show)
        for result in results:
            if "error" in result:
                where, reason = result["error"]
                raise CwbError(where, reason)
        written = []
        for result in results:
            for output in result["outputs"]:
                target = out / output["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / output["path"], target)
                output["path"] = str(target)
                written.append(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    _remove_empty(staging)
    if args.json:
        print(json.dumps(results, indent=2))
    elif not args.quiet:
        for output in written:
            print(output["path"])
    return 0


def _remove_empty(folder: Path) -> None:
    """Remove the staging folder (only empty subdir folders remain in it)."""
    for sub in sorted(folder.rglob("*"), reverse=True):
        if sub.is_dir():
            sub.rmdir()
    folder.rmdir()
