"""``cwb publish`` end to end: publish to the anaconda.org stand-in, then real clients install.

py-rattler solves against the published owner's conda channel and installs into a prefix whose
Python is the fake ``python`` package (tests/support/pyprefix.py); pip (and uv) install the
published wheels into fresh venvs from the owner's simple index.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import rattler

from tests.support.anaconda_server import FakeAnaconda, iter_requests
from tests.support.fixture_channel import make_channel

TOKEN = "cli-T0KEN-7c1d-never-print-me"
Cwb = Callable[..., tuple[int, str, str]]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnaconda]:
    monkeypatch.setenv("ANACONDA_API_TOKEN", TOKEN)
    with FakeAnaconda({"alice": TOKEN}) as server:
        yield server


@pytest.fixture
def channel(tmp_path: Path, fixtures_dir: Path) -> Path:
    return make_channel(tmp_path / "channel", fixtures_dir)


def _publish(cwb: Cwb, fake: FakeAnaconda, channel: Path, *extra: str) -> tuple[int, str, str]:
    return cwb("publish", channel, "--owner", "alice", "--api-url", fake.api_url,
               "--retries", "1", *extra)


@pytest.mark.slow
def test_publish_then_rattler_and_pip_install_what_was_published(
        cwb: Cwb, fake: FakeAnaconda, channel: Path, tmp_path: Path, fixtures_dir: Path) -> None:
    from tests.support.pyprefix import make_python_package, prefix_python

    six = fixtures_dir / "wheels" / "six-1.17.0-py2.py3-none-any.whl"
    rc, _, err = cwb("convert", six, "-o", channel)
    assert rc == 0, err
    make_python_package(channel)
    rc, _, err = cwb("index", channel, "-q")
    assert rc == 0, err

    rc, out, err = _publish(cwb, fake, channel)
    assert rc == 0, err
    assert TOKEN not in out + err
    assert "uploaded noarch/six-1.17.0-" in out
    assert "uploaded six-1.17.0-py2.py3-none-any.whl" in out

    async def solve_and_install(prefix: Path) -> list[str]:
        records = await rattler.solve(
            sources=[rattler.Channel(fake.channel_url("alice"))],
            specs=["six", "tzdata"],
            platforms=[rattler.Subdir.current(), "noarch"],
            virtual_packages=rattler.VirtualPackage.detect(),
            gateway=rattler.Gateway(cache_dir=tmp_path / "rattler-cache"))
        await rattler.install(records, target_prefix=prefix, cache_dir=tmp_path / "pkgs",
                              show_progress=False)
        return sorted(r.name.normalized for r in records)

    prefix = tmp_path / "prefix"
    names = asyncio.run(solve_and_install(prefix))
    assert {"six", "tzdata", "python"} <= set(names)
    done = subprocess.run([str(prefix_python(prefix)), "-c", "import six; print(six.__file__)"],
                          capture_output=True, text=True, check=True)
    assert Path(done.stdout.strip()).is_relative_to(prefix)
    downloads = [r.path for r in iter_requests(fake, "download")]
    assert any(p.startswith("/alice/noarch/six-1.17.0-") and p.endswith(".conda")
               for p in downloads)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir",
         "--index-url", fake.simple_url("alice"), "six", "attrs"],
        capture_output=True, text=True, env=env)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    check = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import six, attrs; print(six.__version__, attrs.__version__)"],
                           capture_output=True, text=True, check=True)
    assert check.stdout.split() == ["1.17.0", "25.3.0"]
    wheels = [p for p in (r.path for r in iter_requests(fake, "download")) if p.endswith(".whl")]
    assert any(p.startswith("/alice/simple/six/1.17.0/") for p in wheels)
    assert any(p.startswith("/alice/simple/attrs/25.3.0/") for p in wheels)

    uv = Path(sys.executable).parent / "uv"
    if uv.is_file():  # uv too, from the same index
        uvenv = tmp_path / "uvenv"
        subprocess.run([str(uv), "venv", "--no-config", "-q", str(uvenv)], check=True)
        done = subprocess.run(
            [str(uv), "pip", "install", "--no-config", "--no-cache", "--python",
             str(uvenv / "bin" / "python"), "--index-url", fake.simple_url("alice"), "attrs"],
            capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        subprocess.run([str(uvenv / "bin" / "python"), "-c", "import attrs"], check=True)


def test_bad_token_is_one_line_and_never_printed(
        cwb: Cwb, fake: FakeAnaconda, channel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "WRONG-" + TOKEN
    monkeypatch.setenv("ANACONDA_API_TOKEN", wrong)
    rc, out, err = _publish(cwb, fake, channel)
    assert rc == 1
    assert err.count("\n") == 1 and err.startswith("cwb: error: ")
    assert "401" in err and "ANACONDA_API_TOKEN" in err
    assert wrong not in out + err and TOKEN not in out + err
    assert fake.files("alice") == {}


def test_missing_token(cwb: Cwb, fake: FakeAnaconda, channel: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANACONDA_API_TOKEN")
    rc, _, err = _publish(cwb, fake, channel)
    assert rc == 1 and err == "cwb: error: ANACONDA_API_TOKEN: not set: create a token on " \
                              "anaconda.org and export it\n"
    assert fake.requests == []


def test_dry_run_prints_the_plan_and_sends_nothing(
        cwb: Cwb, fake: FakeAnaconda, channel: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANACONDA_API_TOKEN")
    rc, out, _ = _publish(cwb, fake, channel, "--dry-run", "--label", "rc")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("plan: 6 files to alice") and "labels: rc" in lines[0]
    assert "would upload noarch/tzdata-2025b-h78e105d_0.conda -> alice/tzdata/2025b [rc]" in out
    assert len([line for line in lines if "would upload" in line]) == 6
    assert fake.requests == []
    rc, out, _ = _publish(cwb, fake, channel, "--dry-run", "--json")
    report = json.loads(out)
    assert report["dry_run"] is True and len(report["files"]) == 6
    assert {f["type"] for f in report["files"]} == {"conda", "pypi"}


def test_json_report_and_rerun_skips(cwb: Cwb, fake: FakeAnaconda, channel: Path) -> None:
    rc, out, _ = _publish(cwb, fake, channel, "--json")
    assert rc == 0
    report = json.loads(out)
    assert {f["action"] for f in report["files"]} == {"uploaded"}
    rc, out, _ = _publish(cwb, fake, channel)
    assert rc == 0 and "6 skipped" in out.splitlines()[-1]


def test_interrupted_publish_then_rerun(cwb: Cwb, fake: FakeAnaconda, channel: Path) -> None:
    fake.fail("POST", r"^/commit/alice/small-executable/", 503, times=99)
    rc, out, err = _publish(cwb, fake, channel)
    assert rc == 1 and "HTTP 503" in err and err.count("\n") == 1
    first = {line.split()[1] for line in out.splitlines() if line.strip().startswith("uploaded")}
    assert first and "noarch/small-executable-1.0-0.conda" not in first
    fake.clear_failures()
    rc, out, _ = _publish(cwb, fake, channel)
    assert rc == 0
    skipped = {line.split()[1] for line in out.splitlines() if line.strip().startswith("skipped")}
    assert skipped == first
    assert len(fake.files("alice")) == 6


def test_conflict_then_force(cwb: Cwb, fake: FakeAnaconda, channel: Path) -> None:
    import zipfile

    assert _publish(cwb, fake, channel)[0] == 0
    wheel = channel / "noarch" / "attrs-25.3.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.comment = b"rebuilt"
    rc, _, err = _publish(cwb, fake, channel)
    assert rc == 1 and "--force" in err and err.count("\n") == 1
    rc, out, _ = _publish(cwb, fake, channel, "--force")
    assert rc == 0 and "replaced attrs-25.3.0-py3-none-any.whl" in out
    assert fake.content("alice", "attrs", wheel.name) == wheel.read_bytes()
    assert fake.dropped_packages == []


def test_bad_label_or_owner_fails_before_any_request(cwb: Cwb, fake: FakeAnaconda,
                                                     channel: Path) -> None:
    rc, _, err = _publish(cwb, fake, channel, "--label", "a/b")
    assert rc == 1 and "label 'a/b'" in err
    rc, _, err = cwb("publish", channel, "--owner", "not an owner", "--api-url", fake.api_url)
    assert rc == 1 and "owner" in err
    assert fake.requests == []


def test_static_publish_through_the_cli(cwb: Cwb, channel: Path, tmp_path: Path) -> None:
    dest = tmp_path / "site" / "channel"
    rc, out, err = cwb("publish", channel, "--to", dest.as_uri())
    assert rc == 0, err
    assert out.splitlines()[-1].startswith(f"published {channel} to {dest}: ")
    assert (dest / "noarch" / "repodata.json").is_file()
    assert (dest / "simple" / "six" / "index.html").is_file()
    rc, out, _ = cwb("publish", channel, "--to", str(dest), "--json")
    assert rc == 0 and not any(f["copy"] for f in json.loads(out)["files"])
    rc, _, err = cwb("publish", channel, "--to", str(dest), "--label", "x")
    assert rc == 1 and "--owner" in err
    rc, _, _ = cwb("publish", channel)
    assert rc == 2  # argparse: --owner or --to is required


def test_static_dry_run_changes_nothing(cwb: Cwb, channel: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    rc, out, err = cwb("publish", channel, "--to", dest, "--dry-run")
    assert rc == 0, err
    assert out.startswith(f"plan: index {channel} first")
    assert "would copy noarch/tzdata-2025b-h78e105d_0.conda" in out
    assert not dest.exists() and not (channel / "noarch" / "repodata.json").exists()
