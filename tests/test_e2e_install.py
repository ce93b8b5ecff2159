"""End to end: converted packages solve and install with py-rattler into a fresh prefix whose python
is the running interpreter (DESIGN.md §7); then imports work and console scripts run from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conda_wheel_bridge.convert import wheel_to_conda

from tests.support.pyprefix import (
    current_subdir,
    index_channel,
    install_specs,
    make_python_package,
    prefix_python,
)
from tests.support.wheelmaker import make_wheel

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.name != "posix", reason="the fake python package links a POSIX bin/python"
    ),
]

PY = f"{sys.version_info[0]}{sys.version_info[1]}"


def _platform_tag() -> str:
    subdir = current_subdir()
    return {
        "linux-64": "manylinux_2_17_x86_64",
        "linux-aarch64": "manylinux_2_17_aarch64",
        "osx-64": "macosx_10_13_x86_64",
        "osx-arm64": "macosx_11_0_arm64",
    }[subdir]


@pytest.fixture(scope="module")
def installed(
    tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path, pypi_wheel: Callable[..., Path]
) -> Path:
    """One channel of converted wheels (with their dependencies), installed into one prefix."""
    base = tmp_path_factory.mktemp("e2e")
    channel = base / "channel"
    make_python_package(channel)
    w = fixtures_dir / "wheels"
    wheels = [
        w / "requests-2.32.3-py3-none-any.whl",
        w / "idna-3.10-py3-none-any.whl",
        w / "click-8.1.8-py3-none-any.whl",
        w / "docutils-0.20.1-py3-none-any.whl",
        pypi_wheel("urllib3==2.2.3"),
        pypi_wheel("certifi==2024.8.30"),
        # a platform wheel for this very interpreter (cp3XY-cp3XY-<this platform>)
        pypi_wheel("charset-normalizer==3.4.0"),
    ]
    if PY == "311" and current_subdir() == "linux-64":
        wheels.append(
            w / "MarkupSafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        )
        wheels.append(w / "bcrypt-4.3.0-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    else:
        wheels.append(pypi_wheel("markupsafe==3.0.2"))
        wheels.append(pypi_wheel("bcrypt==4.3.0"))
    # a platform build with a console script: its launcher is made here, not by the installer
    wheels.append(
        make_wheel(
            base / "made",
            "hello-platform",
            "1.0",
            tag=f"cp{PY}-cp{PY}-{_platform_tag()}",
            files={
                "hello_platform/__init__.py": b"def main():\n    print('hello from', __name__)\n"
            },
            entry_points={"console_scripts": {"hello-platform": "hello_platform:main"}},
        )
    )
    for wheel in wheels:
        wheel_to_conda(wheel, channel, zstd_level=3)
    index_channel(channel)
    prefix = base / "prefix"
    records = install_specs(
        channel,
        ["requests", "click", "docutils", "markupsafe", "bcrypt", "hello-platform"],
        prefix,
        cache_dir=base / "pkgs",
    )
    names = {r.name.normalized for r in records}
    assert {"python", "requests", "idna", "urllib3", "certifi", "charset-normalizer"} <= names
    return prefix


def _run(prefix: Path, *args: str | Path) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": f"{prefix / 'bin'}:/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_imports_from_the_prefix(installed: Path) -> None:
    code = (
        "import sys, json, requests, idna, click, docutils, markupsafe, bcrypt\n"
        "import charset_normalizer\n"
        "from markupsafe import _speedups\n"
        "print(json.dumps({'prefix': sys.prefix, 'requests': requests.__file__,"
        " 'speedups': _speedups.__file__, 'escape': str(markupsafe.escape('<a>')),"
        " 'bcrypt': bcrypt.checkpw(b'pw', bcrypt.hashpw(b'pw', bcrypt.gensalt(4)))}))\n"
    )
    out = json.loads(_run(installed, prefix_python(installed), "-c", code))
    site = (
        installed / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    )
    assert Path(out["prefix"]) == installed
    assert Path(out["requests"]).parent == site / "requests"
    assert Path(out["speedups"]).parent == site / "markupsafe"
    assert out["escape"] == "&lt;a&gt;"
    assert out["bcrypt"] is True


def test_console_scripts_run(installed: Path) -> None:
    # noarch: the installer made it from link.json; platform build: our launcher with its prefix
    # placeholder replaced; .data/scripts: a wheel script whose #!python became the prefix python
    assert "Docutils 0.20.1" in _run(installed, installed / "bin" / "docutils", "--version")
    assert (
        _run(installed, installed / "bin" / "hello-platform").strip() == "hello from hello_platform"
    )
    first = (installed / "bin" / "hello-platform").read_text().splitlines()[0]
    assert first == f"#!{installed / 'bin' / 'python'}"
    assert "Docutils" in _run(installed, installed / "bin" / "rst2html.py", "--version")


def test_dist_info_as_pip_sees_it(installed: Path) -> None:
    """INSTALLER is conda and every RECORD row is a file of the prefix (so pip's view is true)."""
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        "for name in ('click', 'markupsafe', 'hello-platform', 'docutils'):\n"
        "    d = m.distribution(name)\n"
        "    out[name] = [d.read_text('INSTALLER'), [str(f.locate()) for f in d.files]]\n"
        "print(json.dumps(out))\n"
    )
    out = json.loads(_run(installed, prefix_python(installed), "-c", code))
    for name, (installer, files) in out.items():
        assert installer == "conda\n", name
        missing = [f for f in files if not Path(f).exists()]
        assert not missing, (name, missing)
    site = (
        installed / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    )
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "list",
            "--path",
            str(site),
            "--format",
            "json",
            "--disable-pip-version-check",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {p["name"].lower(): p["version"] for p in json.loads(listed)}
    assert versions["click"] == "8.1.8" and versions["requests"] == "2.32.3"
