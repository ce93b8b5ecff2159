"""Benchmark ``cwb convert`` against whl2conda (and conda-pypi where installed) on the same wheels.

Times each tool as its own process, reads its peak memory (max RSS of the process tree), compares
output sizes, and prints ratios next to the issue's targets. It also converts a wheel of several
hundred MB that it makes itself, to show that memory stays bounded whatever the size.

    python benchmarks/convert.py [--big-mb 300] [--skip-peers]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "bench"
NUMPY = "numpy==2.2.6"

__all__ = ["main"]


@dataclass
class Run:
    tool: str
    wheel: str
    seconds: float
    peak_mb: float
    out_bytes: int
    ok: bool
    note: str = ""


def _measure(cmd: list[str]) -> tuple[float, float, bool, str]:
    """Wall time and peak RSS (MiB) of ``cmd`` and its children, run through a tiny wrapper."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "dt = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(dt, rss, p.returncode)\n"
        "sys.stderr.write(p.stderr[-2000:])\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    seconds, rss_kb, rc = proc.stdout.split()
    scale = 1024 if sys.platform != "darwin" else 1  # ru_maxrss: KiB on Linux, bytes on macOS
    return float(seconds), int(rss_kb) * scale / 2**20, rc == "0", proc.stderr.strip()


def _out_size(folder: Path) -> int:
    return sum(
        p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and p.name.endswith((".conda", ".tar.bz2"))
    )


def _numpy_wheel() -> Path:
    found = sorted(CACHE.glob("numpy-2.2.6-cp311-cp311-manylinux*.whl"))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                "manylinux_2_17_x86_64",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--disable-pip-version-check",
                "-d",
                str(CACHE),
                NUMPY,
            ],
            check=True,
        )
        found = sorted(CACHE.glob("numpy-2.2.6-cp311-cp311-manylinux*.whl"))
    return found[0]


def make_big_wheel(folder: Path, megabytes: int) -> Path:
    """A valid wheel of about ``megabytes`` MB (mixed compressible and random data), streamed."""
    path = folder / "bigwheel-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    if path.exists():
        return path
    rows: list[str] = []
    chunk = 1 << 20
    per_file = 50
    files = max(1, megabytes // per_file)
    tmp = path.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(files):
            name = f"bigwheel/lib{i}.so"
            digest = hashlib.sha256()
            with zf.open(name, "w", force_zip64=True) as out:
                for _j in range(per_file):
                    block = os.urandom(chunk // 4) + bytes(range(256)) * (3 * chunk // 1024)
                    block = block[:chunk]
                    digest.update(block)
                    out.write(block)
            b64 = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
            rows.append(f"{name},sha256={b64},{per_file * chunk}")
        small = {
            "bigwheel/__init__.py": b"",
            "bigwheel-1.0.dist-info/METADATA": (
                b"Metadata-Version: 2.1\nName: bigwheel\nVersion: 1.0\n\n"
            ),
            "bigwheel-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\n"
            b"Root-Is-Purelib: false\n"
            b"Tag: cp311-cp311-manylinux_2_17_x86_64\n",
        }
        for name, data in small.items():
            zf.writestr(name, data)
            b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{name},sha256={b64},{len(data)}")
        rows.append("bigwheel-1.0.dist-info/RECORD,,")
        zf.writestr("bigwheel-1.0.dist-info/RECORD", "\n".join(rows) + "\n")
    tmp.rename(path)
    return path


def _cwb(wheel: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "conda_wheel_bridge",
        "convert",
        str(wheel),
        "-o",
        str(out),
        "--quiet",
        *extra,
    ]


def _peers(wheel: Path, out: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    bindir = Path(sys.executable).parent
    whl2conda = shutil.which("whl2conda", path=str(bindir)) or shutil.which("whl2conda")
    if whl2conda:
        found["whl2conda"] = [
            whl2conda,
            "convert",
            str(wheel),
            "--allow-impure",
            "--batch",
            "--yes",
            "--quiet",
            "--overwrite",
            "--out-dir",
            str(out),
        ]
    conda = _conda_with_pypi()
    if conda:
        found["conda-pypi"] = [*conda, "pypi", "convert", "--output-folder", str(out), str(wheel)]
    return found


def _conda_with_pypi() -> list[str] | None:
    """How to run ``conda pypi``: through this interpreter where it has conda and conda-pypi
    (conda's own launcher refuses to run in an environment nobody ran ``conda init`` for), else
    a ``conda`` on PATH that has the subcommand."""
    on_path = shutil.which("conda")
    for cmd in ([sys.executable, "-m", "conda"], [on_path] if on_path else None):
        if cmd and subprocess.run([*cmd, "pypi", "--help"], capture_output=True).returncode == 0:
            return cmd
    return None


def _one(tool: str, cmd: list[str], wheel: Path, out: Path) -> Run:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    seconds, peak, ok, err = _measure(cmd)
    return Run(tool, wheel.name, seconds, peak, _out_size(out), ok, "" if ok else err[-300:])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table and the targets; exit 0 (a report, not a test)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mb", type=int, default=300, help="size of the made-up wheel (MB)")
    parser.add_argument("--skip-peers", action="store_true", help="time cwb only")
    args = parser.parse_args(argv)

    numpy = _numpy_wheel()
    work = Path(tempfile.mkdtemp(prefix="cwb-bench-"))
    runs: list[Run] = []
    try:
        runs.append(_one("cwb (default level)", _cwb(numpy, work / "cwb"), numpy, work / "cwb"))
        runs.append(
            _one(
                "cwb --zstd-level 19",
                _cwb(numpy, work / "c19", "--zstd-level", "19"),
                numpy,
                work / "c19",
            )
        )
        runs.append(
            _one(
                "cwb --format tar.bz2",
                _cwb(numpy, work / "bz2", "--format", "tar.bz2"),
                numpy,
                work / "bz2",
            )
        )
        if not args.skip_peers:
            for tool, cmd in _peers(numpy, work / "peer").items():
                runs.append(_one(tool, cmd, numpy, work / "peer"))
        CACHE.mkdir(parents=True, exist_ok=True)
        big = make_big_wheel(CACHE, args.big_mb)
        runs.append(_one("cwb (default level)", _cwb(big, work / "big"), big, work / "big"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'tool':24} {'wheel':58} {'seconds':>8} {'peak MB':>8} {'out MB':>8}")
    for r in runs:
        status = "" if r.ok else f"  FAILED: {r.note}"
        print(
            f"{r.tool:24} {r.wheel[:58]:58} {r.seconds:8.2f} {r.peak_mb:8.1f} "
            f"{r.out_bytes / 1e6:8.2f}{status}"
        )
    by = {(r.tool, r.wheel): r for r in runs}
    default = by[("cwb (default level)", numpy.name)]
    level19 = by[("cwb --zstd-level 19", numpy.name)]
    peer = by.get(("whl2conda", numpy.name))
    print()
    if peer and peer.ok:
        speed = peer.seconds / default.seconds
        size = default.out_bytes / peer.out_bytes
        print(
            f"default level vs whl2conda: {speed:.1f}x faster (target >= 10x), "
            f"output {100 * (size - 1):+.1f}% (target <= +15%)"
        )
        print(
            f"level 19 vs whl2conda: {level19.seconds / peer.seconds:.2f} of its time "
            f"(target <= 0.5), output {100 * (level19.out_bytes / peer.out_bytes - 1):+.1f}%"
        )
    else:
        print("whl2conda not installed (pip install -e '.[bench]'): no ratios")
    other = by.get(("conda-pypi", numpy.name))
    if other and other.ok:
        print(
            f"default level vs conda-pypi: {other.seconds / default.seconds:.1f}x faster, "
            f"output {100 * (default.out_bytes / other.out_bytes - 1):+.1f}%; level 19: "
            f"{level19.seconds / other.seconds:.2f} of its time, "
            f"output {100 * (level19.out_bytes / other.out_bytes - 1):+.1f}%"
        )
    elif other:
        print(f"conda-pypi failed: {other.note}")
    else:
        print("conda-pypi not found (it needs conda, which is not on PyPI): not compared")
    default_peak = max(r.peak_mb for r in runs if r.tool == "cwb (default level)")
    print(f"cwb peak memory at the default level, over all wheels: {default_peak:.1f} MB "
          "(target <= 100 MB)")
    print(f"cwb peak memory at level 19 (automatic threads): {level19.peak_mb:.1f} MB "
          "(--zstd-threads 1 bounds it to one level-19 context)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
