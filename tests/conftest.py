"""Shared test fixtures: ../shared paths, PyPI downloads cached per checkout, the CLI in-process."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# tests import their helpers as ``tests.support.*``, under bare `pytest` too
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
DATA = SHARED / "data"
CACHE = REPO / ".cache"


def _require_shared() -> None:
    if not FIXTURES.is_dir():
        pytest.skip(
            f"{FIXTURES} is absent: this checkout is outside the workspace that provides ../shared"
        )


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``../shared/fixtures``, read in place."""
    _require_shared()
    return FIXTURES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``, read in place."""
    _require_shared()
    return DATA


@pytest.fixture(scope="session")
def pypi_wheel() -> Callable[..., Path]:
    """Download a real wheel from PyPI once per checkout (``.cache/pypi``) and return its path.

    ``pypi_wheel("numpy==2.2.6", platform="manylinux_2_17_x86_64", python_version="3.11")``;
    ``abi="cp313t"`` picks a free-threaded build.
    """

    def fetch(spec: str, *, platform: str | None = None, python_version: str | None = None,
              abi: str | None = None) -> Path:
        # unspecified platform / Python mean this interpreter's: the cache key must say which
        here = f"{sys.implementation.name}{sys.version_info[0]}{sys.version_info[1]}"
        dest = CACHE / "pypi" / spec.replace("=", "_") / (platform or sysconfig.get_platform())
        dest = dest / "-".join(filter(None, (python_version or here, abi)))
        found = sorted(dest.glob("*.whl"))
        if found:
            return found[0]
        dest.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(dest)]
        if platform:
            cmd += ["--platform", platform]
        if python_version:
            cmd += ["--python-version", python_version, "--implementation", "cp"]
        if abi:
            cmd += ["--abi", abi]
        cmd.append(spec)
        subprocess.run(cmd, check=True)
        found = sorted(dest.glob("*.whl"))
        assert found, f"pip downloaded no wheel for {spec}"
        return found[0]

    return fetch


@pytest.fixture
def cwb(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``cwb ARGS...`` in-process; return ``(exit status, stdout, stderr)``."""
    from conda_wheel_bridge.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors
            rc = int(exc.code or 0)
        out, err = capsys.readouterr()
        return rc, out, err

    return run
