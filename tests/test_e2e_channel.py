"""One channel, both worlds, real clients: pip, uv and py-rattler install from ``cwb serve``.

The server runs in this process on 127.0.0.1 (a real socket, port 0); every client gets only that
URL, so nothing can come from the internet.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
import rattler
from uv import find_uv_bin

from conda_wheel_bridge.channel.index import index_channel
from conda_wheel_bridge.channel.serve import ChannelServer, serve_in_thread
from conda_wheel_bridge.solve import parse_virtual, solve

from tests.support.channelmaker import make_variant_packages
from tests.support.pyprefix import make_python_package, prefix_python

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
UV = Path(find_uv_bin())  # uv comes with the test extra
WHEELS = ("six-1.17.0-py2.py3-none-any.whl", "attrs-25.3.0-py3-none-any.whl")
#: an egg-info noarch package with no Python floor, so any interpreter installs it
EXPORTED = "conda-index-pkg-a-1.0-pyhed9eced_1.tar.bz2"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path
           ) -> Iterator[ChannelServer]:
    root = tmp_path_factory.mktemp("e2e") / "channel"
    make_variant_packages(root)
    make_python_package(root)
    for name in WHEELS:
        shutil.copy(fixtures_dir / "wheels" / name, root / "noarch" / name)
    shutil.copy(fixtures_dir / "conda" / "noarch" / EXPORTED, root / "noarch" / EXPORTED)
    index_channel(root)
    with serve_in_thread(root) as server:
        yield server


def _clean_env() -> dict[str, str]:
    """The environment without pip/uv settings that could add other indexes."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("PIP_", "UV_", "PYTHONPATH"))}


def _fresh_venv(path: Path, *, with_pip: bool) -> Path:
    venv.EnvBuilder(with_pip=with_pip, clear=True).create(path)
    return path / "bin" / "python"


def _run(cmd: list[str | Path]) -> str:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          env=_clean_env(), timeout=600)
    assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


def _imports(python: Path, code: str) -> str:
    return _run([python, "-c", code]).strip()


def test_pip_installs_raw_wheels_from_cwb_serve(served: ChannelServer, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "pipenv", with_pip=True)
    _run([python, "-m", "pip", "install", "--isolated", "--no-cache-dir",
          "--disable-pip-version-check", "--index-url", f"{served.url}simple", "six", "attrs"])
    where = _imports(python, "import six, attrs; print(six.__version__, attrs.__file__)")
    assert where.startswith("1.17.0 ") and str(tmp_path / "pipenv") in where


def test_uv_installs_raw_wheels_from_cwb_serve(served: ChannelServer, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "uvenv", with_pip=False)
    _run([UV, "pip", "install", "--no-config", "--no-cache", "--python", python,
          "--index-url", f"{served.url}simple", "six", "attrs"])
    where = _imports(python, "import six, attrs; print(six.__version__, attrs.__file__)")
    assert where.startswith("1.17.0 ") and str(tmp_path / "uvenv") in where


def test_pip_and_uv_install_a_wheel_exported_from_a_conda_package(
        served: ChannelServer, tmp_path: Path) -> None:
    assert (served.channel / "simple" / "conda-index-pkg-a" / "index.html").is_file(), \
        "cwb index did not export conda-index-pkg-a from its conda package"
    python = _fresh_venv(tmp_path / "pipenv", with_pip=True)
    _run([python, "-m", "pip", "install", "--isolated", "--no-cache-dir", "--no-deps",
          "--disable-pip-version-check", "--index-url", f"{served.url}simple", "conda-index-pkg-a"])
    code = "import importlib.metadata as m; print(m.version('conda-index-pkg-a'))"
    assert _imports(python, code) == "1.0"
    python = _fresh_venv(tmp_path / "uvenv", with_pip=False)
    _run([UV, "pip", "install", "--no-config", "--no-cache", "--no-deps", "--python", python,
          "--index-url", f"{served.url}simple", "conda-index-pkg-a"])
    assert _imports(python, code) == "1.0"


@pytest.mark.parametrize(("cuda", "variant"), [("12.9", "cuda128"), ("12.4", "cuda124"),
                                               (None, "cpu")])
def test_rattler_installs_the_right_variant_per_simulated_host(
        served: ChannelServer, tmp_path: Path, cuda: str | None, variant: str) -> None:
    virtual = [parse_virtual(f"__cuda={cuda}")] if cuda else []
    result = solve(["gpukit"], [served.url], virtual=virtual, use_host=False)
    assert all(r["url"].startswith(served.url) for r in result.records)
    prefix = tmp_path / "prefix"
    asyncio.run(rattler.install(result.raw, target_prefix=prefix, cache_dir=tmp_path / "pkgs",
                                show_progress=False))
    assert _imports(prefix_python(prefix), "import gpukit; print(gpukit.VARIANT)") == variant


def test_rattler_gateway_reads_the_served_channel(served: ChannelServer, tmp_path: Path) -> None:
    """py-rattler's own HTTP path (gateway, repodata.json.zst) picks per-host variants too."""

    async def go(vpkgs: list[rattler.GenericVirtualPackage]) -> list[rattler.RepoDataRecord]:
        gateway = rattler.Gateway(cache_dir=tmp_path / "gateway")
        return await rattler.solve(
            sources=[rattler.Channel(served.url.rstrip("/"))], specs=["gpukit"],
            gateway=gateway, platforms=[rattler.Subdir.current(), "noarch"],
            virtual_packages=vpkgs)

    def generic(name: str, version: str) -> rattler.GenericVirtualPackage:
        return rattler.GenericVirtualPackage(rattler.PackageName(name), rattler.Version(version),
                                             rattler.BuildString("0"))

    gpu = asyncio.run(go([generic("__unix", "0"), generic("__cuda", "12.8")]))
    cpu = asyncio.run(go([generic("__unix", "0")]))
    pick = {r.name.normalized: str(r.build) for r in gpu}
    assert pick["gpukit"] == "cuda128_2"
    assert {r.name.normalized: str(r.build) for r in cpu}["gpukit"] == "cpu_0"
    prefix = tmp_path / "prefix"
    asyncio.run(rattler.install(gpu, target_prefix=prefix, cache_dir=tmp_path / "pkgs",
                                show_progress=False))
    assert _imports(prefix_python(prefix), "import gpukit; print(gpukit.VARIANT)") == "cuda128"
