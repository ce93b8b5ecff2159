"""The conda plugin's hook bodies, tested without conda."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from conda_package_streaming.extract import extract
from hypothesis import given
from hypothesis import strategies as st

from conda_wheel_bridge import __version__, convert, plugin_hooks
from conda_wheel_bridge.errors import CwbError, MappingError
from conda_wheel_bridge.model import VirtualPackage

from tests.support.wheelmaker import make_wheel

# --- conda cwb ---------------------------------------------------------------------------


def test_subcommand_is_the_cwb_cli_named_conda_cwb(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin_hooks.run_subcommand(("--version",)) == 0
    assert capsys.readouterr().out.strip() == f"conda cwb {__version__}"


def test_subcommand_usage_error_is_an_exit_status_not_an_exception(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert plugin_hooks.run_subcommand(("no-such-command",)) == 2
    assert "conda cwb: error:" in capsys.readouterr().err


def test_subcommand_help_lists_the_cwb_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin_hooks.run_subcommand(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: conda cwb")


def test_subcommand_runs_cwb_commands(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA", "12.8")
    monkeypatch.setenv("CONDA_OVERRIDE_CUDA_ARCH", "9.0")
    assert plugin_hooks.run_subcommand(["detect", "--json", "--subdir", "linux-64"]) == 0
    report = json.loads(capsys.readouterr().out)
    found = {(p["name"], p["version"]) for p in report["virtual_packages"]}
    assert {("__cuda", "12.8"), ("__cuda_arch", "9.0")} <= found


# --- virtual packages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provided", "missing"),
    [
        (["archspec", "cuda", "glibc", "linux", "unix"], ("cuda_arch",)),
        (["cuda", "cuda_arch"], ()),
        (["__cuda_arch"], ()),  # spelled the way a record names it
        ([], ("cuda_arch",)),
    ],
)
def test_only_virtual_packages_conda_lacks_are_added(
    provided: list[str], missing: tuple[str, ...]
) -> None:
    assert plugin_hooks.missing_virtual_packages(provided) == missing


@pytest.mark.parametrize(
    ("text", "expected"),
    [("9.0", (9, 0)), ("12.0f", (12, 0)), ("10.0a", (10, 0)), ("90", (9, 0)), ("sm_86", (8, 6)),
     ("120", (12, 0)), (" 7.5 ", (7, 5))],
)
def test_compute_capabilities_parse(text: str, expected: tuple[int, int]) -> None:
    assert plugin_hooks.parse_compute_capability(text) == expected


@given(st.integers(1, 99), st.integers(0, 9), st.sampled_from(["", "a", "f"]))
def test_compute_capability_spellings_agree(major: int, minor: int, suffix: str) -> None:
    assert plugin_hooks.parse_compute_capability(f"{major}.{minor}{suffix}") == (major, minor)
    assert plugin_hooks.parse_compute_capability(f"sm_{major}{minor}{suffix}") == (major, minor)


@pytest.mark.parametrize("text", ["", "nine", "9.", "9.0.1", "sm_"])
def test_bad_compute_capability_is_a_clear_error(text: str) -> None:
    with pytest.raises(MappingError, match="not a CUDA compute capability"):
        plugin_hooks.parse_compute_capability(text)


def _cuda_arch(env: dict[str, str], *, cuda: bool, devices: tuple[str, ...]) -> str | None:
    return plugin_hooks.cuda_arch_version(
        env, cuda_present=lambda: cuda, compute_capabilities=lambda: devices
    )


@pytest.mark.parametrize(
    ("env", "cuda", "devices", "expected"),
    [
        ({}, True, ("9.0",), "9.0"),
        ({}, True, ("12.0", "8.6", "9.0"), "8.6"),  # the weakest device: CEP 46
        ({}, True, ("10.0a",), "10.0"),  # sub-architecture letters are not part of the version
        ({}, True, (), None),  # driver without devices
        ({}, False, ("9.0",), None),  # no __cuda, no __cuda_arch
        ({"CONDA_OVERRIDE_CUDA_ARCH": "8.0"}, True, ("9.0",), "8.0"),
        ({"CONDA_OVERRIDE_CUDA_ARCH": "8.0"}, True, (), "8.0"),
        # an override cannot add it where there is no __cuda
        ({"CONDA_OVERRIDE_CUDA_ARCH": "8.0"}, False, (), None),
        ({"CONDA_OVERRIDE_CUDA_ARCH": ""}, True, ("9.0",), None),  # empty override removes it
        ({"CONDA_OVERRIDE_CUDA_ARCH": "  "}, True, ("9.0",), None),
    ],
)
def test_cuda_arch_follows_cep_46(
    env: dict[str, str], cuda: bool, devices: tuple[str, ...], expected: str | None
) -> None:
    assert _cuda_arch(env, cuda=cuda, devices=devices) == expected


def test_empty_override_does_not_even_detect() -> None:
    def boom() -> tuple[str, ...]:
        raise AssertionError("detection ran although the override removes __cuda_arch")

    assert plugin_hooks.cuda_arch_version(
        {"CONDA_OVERRIDE_CUDA_ARCH": ""}, cuda_present=lambda: True, compute_capabilities=boom
    ) is None


def test_bad_override_names_the_variable() -> None:
    with pytest.raises(MappingError, match=r"^CONDA_OVERRIDE_CUDA_ARCH: not a CUDA compute"):
        _cuda_arch({"CONDA_OVERRIDE_CUDA_ARCH": "hopper"}, cuda=True, devices=())


def test_cuda_arch_matches_what_a_real_h200_reported(fixtures_dir: Path) -> None:
    host = json.loads((fixtures_dir / "hosts" / "nvidia-h200.json").read_text())
    devices = tuple(d["cc"] for d in host["devices"])
    expected = next(v for v in host["rattler_generic"] if v.startswith("__cuda_arch="))
    version = _cuda_arch({}, cuda=host["cuDriverGetVersion"] > 0, devices=devices)
    assert f"__cuda_arch={version}=0" == expected


def test_detected_compute_capabilities_are_parseable() -> None:
    for cc in plugin_hooks.detected_compute_capabilities():
        plugin_hooks.parse_compute_capability(cc)


# --- solve report ------------------------------------------------------------------------

HOST_CUDA_128 = {
    "__cuda": VirtualPackage("__cuda", "12.8"),
    "__glibc": VirtualPackage("__glibc", "2.36"),
    "__archspec": VirtualPackage("__archspec", "1", "zen3"),
}


def _rec(build: str, number: int, *depends: str) -> dict[str, object]:
    return {"name": "torchish", "version": "1.0", "build": build, "build_number": number,
            "depends": ("python >=3.10", *depends)}


CPU = _rec("cpu_0", 0, "__glibc >=2.17")
CU128 = _rec("cu128_1", 1, "__cuda >=12.8", "__glibc >=2.17")
CU130 = _rec("cu130_2", 2, "__cuda >=13.0", "__glibc >=2.17")


@pytest.mark.parametrize(
    ("spec", "package", "met"),
    [
        ("__cuda >=12.8", VirtualPackage("__cuda", "12.8"), True),
        ("__cuda>=13", VirtualPackage("__cuda", "12.8"), False),
        ("__cuda", None, False),
        ("__glibc >=2.17,<3.0.a0", VirtualPackage("__glibc", "2.36"), True),
        ("__archspec * x86_64_v4", VirtualPackage("__archspec", "1", "zen3"), False),
        ("__archspec * zen3", VirtualPackage("__archspec", "1", "zen3"), True),
    ],
)
def test_requirement_met(spec: str, package: VirtualPackage | None, met: bool) -> None:
    assert plugin_hooks.requirement_met(spec, package) is met


def test_unmet_virtual_requirements_say_what_the_host_has() -> None:
    reasons = plugin_hooks.unmet_virtual_requirements(
        ["python >=3.10", "__cuda >=13.0", "__win", "__archspec * x86_64_v4", "__glibc >=2.17"],
        HOST_CUDA_128,
    )
    assert reasons == [
        "needs `__cuda >=13.0`, host has 12.8",
        "needs `__win`, host has no __win",
        "needs `__archspec * x86_64_v4`, host has build zen3",
    ]


def test_variant_choice_is_explained() -> None:
    lines = plugin_hooks.explain_variant_choice(CU128, [CPU, CU128, CU130], HOST_CUDA_128)
    assert lines == [
        "torchish 1.0: chose cu128_1 (build number 1)",
        "  not cu130_2 (build number 2): needs `__cuda >=13.0`, host has 12.8",
        "  not cpu_0 (build number 0): ranks lower (build number 0 < 1)",
    ]


def test_variant_excluded_by_something_else_is_not_blamed_on_the_host() -> None:
    lines = plugin_hooks.explain_variant_choice(CPU, [CPU, CU128], HOST_CUDA_128)
    assert lines[1] == (
        "  not cu128_1 (build number 1): the host allows it, but other requirements of this "
        "solve excluded it"
    )


def test_without_a_gpu_every_cuda_variant_is_rejected_for_the_missing_driver() -> None:
    host = {k: v for k, v in HOST_CUDA_128.items() if k != "__cuda"}
    lines = plugin_hooks.explain_variant_choice(CPU, [CPU, CU128, CU130], host)
    assert [line.split(": ", 1)[1] for line in lines[1:]] == [
        "needs `__cuda >=13.0`, host has no __cuda",
        "needs `__cuda >=12.8`, host has no __cuda",
    ]


def test_post_solve_reports_only_packages_with_host_dependent_variants() -> None:
    plain_a = {"name": "plain", "version": "2", "build": "py_0", "build_number": 0, "depends": ()}
    plain_b = {**plain_a, "build": "py_1", "build_number": 1}
    offered = {"torchish": [CPU, CU128, CU130], "plain": [plain_a, plain_b]}
    virtual = {"name": "__cuda", "version": "12.8", "build": "0", "build_number": 0, "depends": ()}
    asked: list[str] = []

    def candidates(record: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        name = str(record["name"])
        asked.append(name)
        return offered.get(name, [record])

    lines = plugin_hooks.post_solve_report([virtual, CU128, plain_b], candidates, HOST_CUDA_128)
    assert lines[0] == "torchish 1.0: chose cu128_1 (build number 1)"
    assert len(lines) == 3  # plain: several builds, but none depends on the host
    assert "__cuda" not in asked


def test_pre_solve_report_lists_specs_and_host() -> None:
    assert plugin_hooks.pre_solve_report(["torchish"], HOST_CUDA_128) == [
        "solving for torchish with virtual packages "
        "__archspec=1=zen3, __cuda=12.8=0, __glibc=2.36=0"
    ]
    assert plugin_hooks.pre_solve_report([], HOST_CUDA_128) == []


def test_report_goes_to_the_given_stream_prefixed() -> None:
    out = io.StringIO()
    plugin_hooks.print_report(["a", "b"], out)
    assert out.getvalue() == "cwb: a\ncwb: b\n"


# --- .whl extractor ----------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


@pytest.mark.parametrize("tag", ["py3-none-any", "cp311-cp311-manylinux_2_17_x86_64"])
def test_wheel_is_laid_out_as_cwb_convert_lays_it_out(tmp_path: Path, tag: str) -> None:
    wheel = make_wheel(tmp_path / "in", "demo-pkg", "1.2", tag=tag,
                       entry_points={"console_scripts": {"demo": "demo_pkg:main"}})
    plugin_hooks.extract_wheel(wheel, tmp_path / "by-plugin")

    convert.wheel_to_conda(wheel, tmp_path / "channel")
    (package,) = [p for p in (tmp_path / "channel").rglob("*") if p.name.endswith(".conda")]
    extract(str(package), dest_dir=str(tmp_path / "by-convert"))

    by_plugin = _tree(tmp_path / "by-plugin")
    assert by_plugin == _tree(tmp_path / "by-convert")
    index = json.loads(by_plugin["info/index.json"])
    assert (index["name"], index["version"]) == ("demo-pkg", "1.2")
    paths = json.loads(by_plugin["info/paths.json"])["paths"]
    assert {p["_path"] for p in paths} <= set(by_plugin)


def test_platform_wheel_for_another_platform_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "native", "1.0", tag="cp311-cp311-win_amd64")
    with pytest.raises(CwbError) as info:
        plugin_hooks.extract_wheel(wheel, tmp_path / "dest", subdir="linux-64")
    assert wheel.name in str(info.value) and "linux-64" in str(info.value)
    assert not (tmp_path / "dest").exists()


def test_pure_wheel_is_noarch_whatever_the_platform(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "pure", "1.0")
    plugin_hooks.extract_wheel(wheel, tmp_path / "dest", subdir="osx-arm64")
    index = json.loads((tmp_path / "dest" / "info" / "index.json").read_text())
    assert (index["subdir"], index.get("noarch")) == ("noarch", "python")


def test_universal2_wheel_is_laid_out_for_the_requested_mac(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "fat", "1.0", tag="cp311-cp311-macosx_11_0_universal2")
    for subdir in ("osx-64", "osx-arm64"):
        plugin_hooks.extract_wheel(wheel, tmp_path / subdir, subdir=subdir)
        index = json.loads((tmp_path / subdir / "info" / "index.json").read_text())
        assert index["subdir"] == subdir


def test_bad_wheel_is_one_clear_error_and_no_destination(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0")
    truncated = tmp_path / "broken-1.0-py3-none-any.whl"
    truncated.write_bytes(wheel.read_bytes()[:200])
    with pytest.raises(CwbError) as info:
        plugin_hooks.extract_wheel(truncated, tmp_path / "dest")
    assert "broken-1.0-py3-none-any.whl" in str(info.value)
    assert not (tmp_path / "dest").exists()


def test_wheel_with_no_package_inside_is_refused(tmp_path: Path) -> None:
    not_a_zip = tmp_path / "nothing-1.0-py3-none-any.whl"
    with zipfile.ZipFile(not_a_zip, "w"):
        pass
    with pytest.raises(CwbError):
        plugin_hooks.extract_wheel(not_a_zip, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
