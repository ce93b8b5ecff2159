"""``cwb convert``: the command-line shell over convert.py (and to_wheel.py for --to wheel)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.condaread import read_conda
from tests.support.wheelmaker import make_wheel

Cwb = Callable[..., tuple[int, str, str]]


def _files(out: Path) -> list[str]:
    if not out.exists():
        return []
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


@pytest.fixture
def wheels(fixtures_dir: Path) -> list[Path]:
    w = fixtures_dir / "wheels"
    return [
        w / "click-8.1.8-py3-none-any.whl",
        w / "idna-3.10-py3-none-any.whl",
        w / "MarkupSafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ]


def test_convert_batch(cwb: Cwb, wheels: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "channel"
    rc, stdout, stderr = cwb("convert", *wheels, "-o", out)
    assert rc == 0, stderr
    assert stderr == ""  # not a terminal: no progress display
    files = _files(out)
    assert len(files) == 3
    assert {f.split("/")[0] for f in files} == {"noarch", "linux-64"}
    assert sorted(stdout.split()) == sorted(str(out / f) for f in files)
    assert all(f.endswith(".conda") for f in files)


def test_convert_json_parallel_tar_bz2(cwb: Cwb, wheels: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "channel"
    rc, stdout, _ = cwb(
        "convert",
        *wheels,
        "-o",
        out,
        "--json",
        "--jobs",
        "2",
        "--format",
        "tar.bz2",
        "--zstd-level",
        "3",
    )
    assert rc == 0
    report = json.loads(stdout)
    assert [r["input"] for r in report] == [str(w) for w in wheels]
    for entry in report:
        (output,) = entry["outputs"]
        path = Path(output["path"])
        assert path.is_file() and path.name.endswith(".tar.bz2")
        assert path.parent.name == output["subdir"] == output["index"]["subdir"]
        assert read_conda(path).json("index.json") == output["index"]
    assert _files(out) == sorted(
        str(Path(e["outputs"][0]["path"]).relative_to(out)) for e in report
    )


def test_quiet(cwb: Cwb, wheels: list[Path], tmp_path: Path) -> None:
    rc, stdout, stderr = cwb("convert", wheels[0], "-o", tmp_path / "o", "--quiet")
    assert (rc, stdout, stderr) == (0, "", "")
    assert len(_files(tmp_path / "o")) == 1


def test_one_bad_wheel_fails_the_batch_and_leaves_nothing(
    cwb: Cwb, wheels: list[Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    out = tmp_path / "channel"
    out.mkdir()
    (out / "keep.txt").write_text("existing content stays")
    for jobs in ("1", "2"):
        rc, stdout, stderr = cwb("convert", *wheels, bad, "-o", out, "--jobs", jobs)
        assert rc == 1
        assert stdout == ""
        assert stderr.count("\n") == 1
        assert stderr.startswith(f"cwb: error: {bad}: ")
        assert _files(out) == ["keep.txt"]
        assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_error_when_out_did_not_exist_removes_it(
    cwb: Cwb, fixtures_dir: Path, tmp_path: Path
) -> None:
    musl = fixtures_dir / "wheels/msgpack-1.1.0-cp311-cp311-musllinux_1_2_x86_64.whl"
    rc, _, stderr = cwb("convert", musl, "-o", tmp_path / "new")
    assert rc == 1 and "musllinux" in stderr and stderr.startswith(f"cwb: error: {musl}: ")
    assert not (tmp_path / "new").exists()
    rc, _, _ = cwb("convert", musl, "-o", tmp_path / "new", "--allow-musllinux")
    assert rc == 0 and _files(tmp_path / "new")[0].startswith("linux-64/")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--zstd-level", "0"], "--zstd-level"),
        (["--jobs", "-1"], "--jobs"),
        (["--to", "wheel"], "--to wheel takes conda packages"),
    ],
)
def test_bad_options(
    cwb: Cwb, wheels: list[Path], tmp_path: Path, args: list[str], message: str
) -> None:
    rc, _, stderr = cwb("convert", wheels[0], "-o", tmp_path / "o", *args)
    assert rc == 1 and message in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_not_a_package(cwb: Cwb, tmp_path: Path) -> None:
    thing = tmp_path / "thing.zip"
    thing.write_bytes(b"")
    rc, _, stderr = cwb("convert", thing, "-o", tmp_path / "o")
    assert rc == 1 and stderr.startswith(f"cwb: error: {thing}: not a wheel")


def test_name_map_overlay(cwb: Cwb, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "renamed", "1.0", requires_dist=["somedep>=1"])
    overlay = tmp_path / "names.json"
    overlay.write_text(
        json.dumps({"pypi_to_conda": {"renamed": "renamed-conda", "somedep": "somedep-conda"}})
    )
    rc, stdout, stderr = cwb(
        "convert", wheel, "-o", tmp_path / "o", "--name-map", overlay, "--json"
    )
    assert rc == 0, stderr
    index = json.loads(stdout)[0]["outputs"][0]["index"]
    assert index["name"] == "renamed-conda"
    assert any(d.startswith("somedep-conda") for d in index["depends"])


def test_to_wheel_dispatch_round_trip(cwb: Cwb, wheels: list[Path], tmp_path: Path) -> None:
    rc, stdout, _ = cwb("convert", wheels[0], "-o", tmp_path / "conda", "--json")
    assert rc == 0
    package = json.loads(stdout)[0]["outputs"][0]["path"]
    rc, stdout, stderr = cwb("convert", package, "-o", tmp_path / "wheels")
    assert rc == 0, stderr
    (made,) = _files(tmp_path / "wheels")
    assert made.startswith("click-8.1.8-") and made.endswith(".whl")


def test_module_entry_point(wheels: list[Path], tmp_path: Path) -> None:
    """``python -m conda_wheel_bridge convert`` works as a real process (no TTY: no progress)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "conda_wheel_bridge",
            "convert",
            str(wheels[1]),
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(".conda") and proc.stderr == ""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_only_on_a_terminal(wheels: list[Path], tmp_path: Path) -> None:
    """With stderr on a terminal, a progress line counts the inputs; --quiet silences it."""
    import os
    import pty

    def run(*extra: str) -> tuple[int, str]:
        master, slave = pty.openpty()
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "conda_wheel_bridge",
                    "convert",
                    *map(str, wheels[:2]),
                    "-o",
                    str(tmp_path / "o"),
                    *extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=slave,
                check=False,
            )
            os.close(slave)
            chunks = []
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(master)
        return proc.returncode, b"".join(chunks).decode()

    rc, shown = run()
    assert rc == 0
    assert "[0/2] click-8.1.8-py3-none-any.whl" in shown and "[2/2] done" in shown
    rc, shown = run("--quiet")
    assert rc == 0 and shown == ""
