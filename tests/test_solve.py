"""cwb solve: py-rattler over classic and v3.whl records, simulated hosts, explanations."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conda_wheel_bridge.channel.index import index_channel
from conda_wheel_bridge.errors import CwbError
from conda_wheel_bridge.model import VirtualPackage
from conda_wheel_bridge.solve import SolveFailed, host_virtual_packages, parse_virtual, solve

from tests.support.channelmaker import make_variant_packages
from tests.support.pyprefix import current_subdir, make_python_package
from tests.support.wheelmaker import make_wheel

Cwb = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("solve") / "channel"
    make_variant_packages(root)
    make_python_package(root)
    shutil.copy(fixtures_dir / "wheels" / "six-1.17.0-py2.py3-none-any.whl", root / "noarch")
    index_channel(root)
    return root


def _cuda(version: str) -> list[VirtualPackage]:
    return [parse_virtual(f"__cuda={version}")]


def test_parse_virtual() -> None:
    assert parse_virtual("__cuda=12.4") == VirtualPackage("__cuda", "12.4", "0")
    assert parse_virtual("__archspec=1=icelake") == VirtualPackage("__archspec", "1", "icelake")
    for bad in ("cuda=12", "__cuda", "__cuda=", "__cuda=1=2=3", "__glibc=not a version!"):
        with pytest.raises(CwbError):
            parse_virtual(bad)


@pytest.mark.parametrize(("cuda", "build"), [
    ("12.9", "cuda128_2"), ("12.8", "cuda128_2"), ("12.4", "cuda124_1"), ("11.8", "cpu_0"),
])
def test_simulated_hosts_get_their_variant(channel: Path, cuda: str, build: str) -> None:
    result = solve(["gpukit"], [channel], virtual=_cuda(cuda), use_host=False)
    (chosen,) = [r for r in result.records if r["name"] == "gpukit"]
    assert chosen["build"] == build
    assert VirtualPackage("__cuda", cuda, "0") in result.virtual_packages


def test_no_gpu_host_gets_the_cpu_build(channel: Path) -> None:
    result = solve(["gpukit"], [channel], use_host=False)
    assert [r["build"] for r in result.records if r["name"] == "gpukit"] == ["cpu_0"]
    assert {v.name for v in result.virtual_packages} == {"__unix", "__linux"}


def test_explain_names_the_failed_requirement(channel: Path) -> None:
    result = solve(["gpukit"], [channel], virtual=_cuda("12.4"), use_host=False,
                   with_candidates=True)
    reasons = {c.build: c.reasons for c in result.candidates}
    chosen = [c.build for c in result.candidates if c.chosen]
    assert chosen == ["cuda124_1"]
    assert reasons["cuda128_2"] == ("needs `__cuda >=12.8`, host has 12.4",)
    assert reasons["cpu_0"] == ("fits this host; gpukit 1.0 cuda124_1 ranks higher",)
    no_gpu = solve(["gpukit"], [channel], use_host=False, with_candidates=True)
    reasons = {c.build: c.reasons for c in no_gpu.candidates}
    assert reasons["cuda124_1"] == ("needs `__cuda >=12.4`, host has no __cuda",)


def test_unsolvable_request_raises_or_explains(channel: Path) -> None:
    with pytest.raises(SolveFailed) as info:
        solve(["gpukit[build=cuda128*]"], [channel], virtual=_cuda("12.4"), use_host=False)
    assert "__cuda >=12.8" in str(info.value) and "\n" not in str(info.value)
    result = solve(["gpukit[build=cuda128*]"], [channel], virtual=_cuda("12.4"), use_host=False,
                   with_candidates=True)
    assert result.error is not None and result.records == []
    reasons = {c.build: c.reasons for c in result.candidates}
    assert reasons["cuda128_2"] == ("needs `__cuda >=12.8`, host has 12.4",)
    assert reasons["cpu_0"] == ("does not match the request `gpukit[build=cuda128*]`",)


def test_wheel_records_are_solvable(channel: Path) -> None:
    result = solve(["six"], [channel], use_host=False)
    (six,) = [r for r in result.records if r["name"] == "six"]
    assert six["kind"] == "whl"
    assert six["fn"] == "six-1.17.0-py2.py3-none-any.whl"
    assert six["url"] == (channel.resolve() / "noarch" / six["fn"]).as_uri()
    assert {r["name"] for r in result.records} >= {"python", "six"}


def test_host_detection_honours_conda_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "12.4")
    found = {v.name: v for v in host_virtual_packages()}
    assert found["__cuda"].version == "12.4"
    if current_subdir().startswith("linux-"):
        assert "__unix" in found and "__linux" in found


def test_cli_json(channel: Path, cwb: Cwb) -> None:
    rc, out, err = cwb("solve", "gpukit", "-c", channel, "--virtual", "__cuda=12.8",
                       "--no-host", "--json", "--explain")
    assert rc == 0, err
    data = json.loads(out)
    assert data["solved"] is True and data["platform"] == current_subdir()
    assert "__cuda=12.8=0" in data["virtual_packages"]
    assert [r["build"] for r in data["records"] if r["name"] == "gpukit"] == ["cuda128_2"]
    rejected = {c["build"]: c["reasons"] for c in data["candidates"] if not c["chosen"]}
    assert set(rejected) == {"cuda124_1", "cpu_0"}


def test_cli_text_explain_and_failure(channel: Path, cwb: Cwb) -> None:
    rc, out, _ = cwb("solve", "gpukit", "-c", channel, "--virtual", "__cuda=12.4", "--no-host",
                     "--explain")
    assert rc == 0
    assert "rejected gpukit 1.0 cuda128_2: needs `__cuda >=12.8`, host has 12.4" in out
    rc, out, err = cwb("solve", "gpukit[build=cuda128*]", "-c", channel, "--virtual",
                       "__cuda=12.4", "--no-host")
    assert rc == 1 and out == "" and err.startswith("cwb: error: gpukit[build=cuda128*]: ")
    assert err.count("\n") == 1
    rc, _, err = cwb("solve", "gpukit", "-c", channel, "--virtual", "cuda=12")
    assert rc == 1 and err.startswith("cwb: error: cuda=12: ")


def test_missing_channel(tmp_path: Path, cwb: Cwb) -> None:
    rc, _, err = cwb("solve", "x", "-c", tmp_path / "none")
    assert rc == 1 and err == f"cwb: error: {tmp_path / 'none'}: no such channel directory\n"
    (tmp_path / "empty").mkdir()
    rc, _, err = cwb("solve", "x", "-c", tmp_path / "empty")
    assert rc == 1 and "repodata.json: missing" in err


def _nvidia_variant(label: str, props: dict[str, list[str]]) -> dict[str, object]:
    return {"$schema": "https://variants-schema.wheelnext.dev/v0.0.3.json",
            "default-priorities": {"namespace": ["nvidia"]},
            "providers": {"nvidia": {"requires": ["nvidia-variant-provider"]}},
            "variants": {label: {"nvidia": props} if props else {}}}


@pytest.fixture(scope="module")
def variant_wheel_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pure-Python variant wheels (CUDA >=12.8, >=12.4, and the null variant) in noarch/."""
    root = tmp_path_factory.mktemp("variants") / "channel"
    (root / "noarch").mkdir(parents=True)
    make_python_package(root)
    for label, props in (("cu128", {"cuda_version_lower_bound": ["12.8"]}),
                         ("cu124", {"cuda_version_lower_bound": ["12.4"]}),
                         ("null", {})):
        make_wheel(root / "noarch", "gpu-kernels", "2.0", requires_python=">=3.9",
                   variant=_nvidia_variant(label, props), variant_label=label)
    index_channel(root)
    return root


def test_variant_wheels_get_records_with_virtual_package_depends(
        variant_wheel_channel: Path) -> None:
    data = json.loads((variant_wheel_channel / "noarch" / "repodata.json").read_bytes())
    whl = data["v3"]["whl"]
    by_label = {r["fn"].rsplit("-", 1)[-1].removesuffix(".whl"): r for r in whl.values()}
    assert set(by_label) == {"cu128", "cu124", "null"}
    assert "__cuda >=12.8" in by_label["cu128"]["depends"]
    assert "__cuda >=12.4" in by_label["cu124"]["depends"]
    assert not any(d.startswith("__cuda") for d in by_label["null"]["depends"])
    assert (by_label["cu128"]["build_number"] > by_label["cu124"]["build_number"]
            > by_label["null"]["build_number"])
    assert by_label["cu128"]["build"].startswith("py3_none_any_cu128_")
    # variants.json for pip/uv sits beside the project page
    assert (variant_wheel_channel / "simple" / "gpu-kernels" / "gpu_kernels-2.0-variants.json"
            ).is_file()


@pytest.mark.parametrize(("cuda", "label"), [("12.9", "cu128"), ("12.4", "cu124"),
                                             (None, "null")])
def test_simulated_hosts_pick_their_variant_wheel(variant_wheel_channel: Path,
                                                  cuda: str | None, label: str) -> None:
    virtual = _cuda(cuda) if cuda else []
    result = solve(["gpu-kernels"], [variant_wheel_channel], virtual=virtual, use_host=False,
                   with_candidates=True)
    (chosen,) = [r for r in result.records if r["name"] == "gpu-kernels"]
    assert chosen["kind"] == "whl"
    assert chosen["fn"] == f"gpu_kernels-2.0-py3-none-any-{label}.whl"
    if cuda == "12.4":
        reasons = {c.fn: c.reasons for c in result.candidates if not c.chosen}
        assert reasons["gpu_kernels-2.0-py3-none-any-cu128.whl"] == (
            "needs `__cuda >=12.8`, host has 12.4",)
