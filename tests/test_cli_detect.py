"""``cwb detect``: the report, text and JSON, driven by CONDA_OVERRIDE_* (no GPU needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Cwb = Callable[..., tuple[int, str, str]]


@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    """An H200-like host described by overrides alone."""
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "13.0")
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA_ARCH", "9.0")
    monkeypatch.setenv("CONDA_OVERRIDE_ARCHSPEC", "icelake")
    monkeypatch.setenv("CONDA_OVERRIDE_GLIBC", "2.39")


@pytest.mark.usefixtures("simulated")
def test_detect_json(cwb: Cwb) -> None:
    rc, out, err = cwb("detect", "--json")
    assert rc == 0, err
    data = json.loads(out)
    packages = {p["name"]: (p["version"], p["build"]) for p in data["virtual_packages"]}
    assert packages["__cuda"] == ("13.0", "0")
    assert packages["__cuda_arch"] == ("9.0", "0")
    assert packages["__archspec"] == ("1", "icelake")
    assert packages["__glibc"] == ("2.39", "0")
    nvidia = data["variant_properties"]["nvidia"]
    assert nvidia["sm_arch"] == ["90_real", "90_virtual"]
    assert nvidia["cuda_version_lower_bound"][:3] == ["13.0", "13", "12.20"]
    assert data["variant_properties"]["x86_64"]["level"] == ["v4", "v3", "v2", "v1"]


@pytest.mark.usefixtures("simulated")
def test_detect_text(cwb: Cwb) -> None:
    rc, out, _ = cwb("detect")
    assert rc == 0
    assert "  __cuda=13.0=0\n" in out
    assert "  nvidia :: sm_arch :: 90_real, 90_virtual\n" in out
    assert out.index("conda virtual packages") < out.index("variant properties supported")


def test_empty_overrides_remove(cwb: Cwb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "")
    monkeypatch.setenv("CONDA_OVERRIDE_ARCHSPEC", "")
    rc, out, _ = cwb("detect", "--json")
    names = {p["name"] for p in json.loads(out)["virtual_packages"]}
    assert rc == 0
    assert not names & {"__cuda", "__cuda_arch", "__archspec"}
    assert json.loads(out)["variant_properties"] == {}


def test_bad_override_is_one_line_error(cwb: Cwb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "12.8")
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA_ARCH", "sm90")
    rc, out, err = cwb("detect", "--json")
    assert rc == 1 and out == ""
    assert err == "cwb: error: CONDA_OVERRIDE_CUDA_ARCH: 'sm90' is not a compute capability (9.0)\n"


def test_detect_for_another_subdir(cwb: Cwb) -> None:
    rc, out, _ = cwb("detect", "--json", "--subdir", "win-64")
    data = json.loads(out)
    names = {p["name"] for p in data["virtual_packages"]}
    assert rc == 0 and data["subdir"] == "win-64"
    assert "__win" in names and "__linux" not in names and "__unix" not in names


def test_detect_as_a_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conda_wheel_bridge", "detect", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert any(p["name"] == "__archspec" for p in json.loads(done.stdout)["virtual_packages"])


def test_gpu_check_script_agrees_with_py_rattler_here() -> None:
    """scripts/gpu_check.py (run on the GPU machine) also runs here: no disagreement."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.py"
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    report = json.loads(done.stdout)
    assert report["disagreements"] == [], report["disagreements"]
    assert done.returncode == 0
    names = {p["name"] for p in report["cwb_detect"]["virtual_packages"]}
    assert names == {text.split("=")[0] for text in report["py_rattler"]}
