"""The plugin inside a real conda (classic solver): runs only where ``import conda`` works.

conda is not on PyPI, so CI runs these only where conda is installed beside this package; every
conda call is a real ``python -m conda`` process, isolated from the user's configuration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from conda_wheel_bridge import __version__, plugin_hooks
from conda_wheel_bridge.model import VirtualPackage

from tests.support.pyprefix import make_python_package
from tests.support.wheelmaker import make_wheel

conda = pytest.importorskip("conda", reason="conda is not importable here (it is not on PyPI)")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="the fake python package is built for Linux"
    ),
]

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def conda_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a conda process that sees no user configuration and writes only to tmp."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".condarc").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "_CE_", "_CONDA"))}
    env.update(
        HOME=str(home),
        CONDARC=str(home / ".condarc"),
        CONDA_PKGS_DIRS=str(tmp_path / "pkgs"),
        CONDA_ENVS_DIRS=str(tmp_path / "envs"),
        CONDA_SOLVER="classic",
        CONDA_REPODATA_USE_SHARDS="false",
        CONDA_NUMBER_CHANNEL_NOTICES="0",
        CONDA_AUTO_UPDATE_CONDA="false",
        CONDA_NOTIFY_OUTDATED_CONDA="false",
        CONDA_ADD_PIP_AS_PYTHON_DEPENDENCY="false",  # the channel has no pip
    )
    return env


def run_conda(
    env: Mapping[str, str], *args: str, extra: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python -m conda ARGS`` (conda's own entry, as condabin/conda runs it)."""
    proc = subprocess.run(
        [sys.executable, "-m", "conda", *args],
        env={**env, **(extra or {})}, capture_output=True, text=True, timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"conda {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


# --- a channel whose python is the running interpreter (DESIGN.md section 7) -------------


def _subdir() -> str:
    """conda's own subdir; the ``python`` package is tests/support/pyprefix.py's, as .tar.bz2 (the
    v3.whl install below reads it from repodata's ``packages``)."""
    from conda.base.context import context

    return str(context.subdir)


def _variant_json(label: str, properties: Mapping[str, list[str]]) -> dict[str, Any]:
    return {
        "$schema": "https://variants-schema.wheelnext.dev/v0.0.2.json",
        "default-priorities": {"namespace": ["nvidia"]},
        "providers": {"nvidia": {
            "enable-if": "platform_system == 'Linux' or platform_system == 'Windows'",
            "plugin-api": "nvidia_variant_provider.plugin:NvidiaVariantPlugin",
            "requires": ["nvidia-variant-provider>=0.0.2,<1.0.0"],
        }},
        "variants": {label: {"nvidia": dict(properties)} if properties else {}},
    }


VARIANTS: dict[str, dict[str, list[str]]] = {
    "null": {},
    "cu12": {"cuda_version_lower_bound": ["12.0"]},
    # needs __cuda_arch, which this plugin provides where conda does not
    "cu12sm": {"cuda_version_lower_bound": ["12.0"], "sm_arch": ["80_real", "90_real"]},
}


def make_variant_channel(root: Path, env: dict[str, str], labels: tuple[str, ...]) -> Path:
    """``varpkg 1.0`` in the given variants, converted and indexed by ``conda cwb``."""
    wheels = [
        make_wheel(root / "wheels", "varpkg", "1.0", variant_label=label,
                   variant=_variant_json(label, VARIANTS[label]))
        for label in labels
    ]
    channel = root / "channel"
    make_python_package(channel, fmt="tar.bz2", subdir=_subdir())
    run_conda(env, "cwb", "convert", *map(str, wheels), "-o", str(channel))
    run_conda(env, "cwb", "index", str(channel))
    return channel


@pytest.fixture
def variant_channel(tmp_path: Path, conda_env: dict[str, str]) -> Path:
    """``varpkg 1.0`` as a CPU (null) and a CUDA variant."""
    return make_variant_channel(tmp_path, conda_env, ("null", "cu12"))


def _records(channel: Path) -> dict[str, dict[str, Any]]:
    """Every record of the channel by ``name-version-build``."""
    found = {}
    for repodata in channel.glob("*/repodata.json"):
        data = json.loads(repodata.read_text())
        for key in ("packages", "packages.conda"):
            for record in data.get(key, {}).values():
                found[f"{record['name']}-{record['version']}-{record['build']}"] = record
    return found


def _dry_run(
    env: dict[str, str], channel: Path, spec: str, cuda: str, **more: str
) -> tuple[dict[str, Any], str]:
    proc = run_conda(env, "create", "--dry-run", "--json", "--offline", "-p",
                     str(channel.parent / "never"), "--override-channels", "-c",
                     channel.as_uri(), spec, extra={"CONDA_OVERRIDE_CUDA": cuda, **more})
    link = json.loads(proc.stdout)["actions"]["LINK"]
    (chosen,) = [r for r in link if r["name"] == spec]
    record = _records(channel)[f"{chosen['name']}-{chosen['version']}-{chosen['build_string']}"]
    return record, proc.stderr


# --- tests -------------------------------------------------------------------------------


def test_conda_loads_the_plugin_and_its_hooks() -> None:
    from conda.base.context import context

    manager = context.plugin_manager
    assert "cwb" in manager.get_subcommands()
    names = [vp.name for vp in manager.get_hook_results("virtual_packages")]
    assert len(names) == len(set(names)), f"a virtual package is provided twice: {sorted(names)}"
    assert "cuda_arch" in names
    if hasattr(manager, "get_package_extractors"):
        chosen = manager.get_package_extractors()[".whl"].name
        assert chosen == "cwb-wheel", (
            f"conda hands .whl files to {chosen!r}, not to cwb: another plugin (conda-pypi's "
            "extractor) claims the extension too; docs/plugin.md says not to install both")


def _virtual(env: dict[str, str], **overrides: str) -> dict[str, tuple[str, str]]:
    info = json.loads(run_conda(env, "info", "--json", extra=overrides).stdout)
    return {name: (version, build) for name, version, build in info["virtual_pkgs"]}


def test_conda_reports_cuda_arch_by_cep_46(conda_env: dict[str, str]) -> None:
    both = _virtual(conda_env, CONDA_OVERRIDE_CUDA="12.8", CONDA_OVERRIDE_CUDA_ARCH="9.0")
    assert both["__cuda"] == ("12.8", "0")
    assert both["__cuda_arch"] == ("9.0", "0")
    no_cuda = _virtual(conda_env, CONDA_OVERRIDE_CUDA="", CONDA_OVERRIDE_CUDA_ARCH="9.0")
    assert "__cuda" not in no_cuda and "__cuda_arch" not in no_cuda
    emptied = _virtual(conda_env, CONDA_OVERRIDE_CUDA="12.8", CONDA_OVERRIDE_CUDA_ARCH="")
    assert "__cuda_arch" not in emptied


def test_conda_cwb_is_the_cwb_command(conda_env: dict[str, str]) -> None:
    proc = run_conda(conda_env, "cwb", "--version")
    assert proc.stdout.strip() == f"conda cwb {__version__}"


def test_conda_cwb_reports_bad_input_in_one_line(
    tmp_path: Path, conda_env: dict[str, str]
) -> None:
    bad = tmp_path / "bad-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    proc = run_conda(conda_env, "cwb", "convert", str(bad), "-o", str(tmp_path / "out"),
                     check=False)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"conda cwb: error: {bad}: ")
    assert not (tmp_path / "out").exists()


def test_conda_cwb_detect_runs(conda_env: dict[str, str]) -> None:
    proc = run_conda(conda_env, "cwb", "detect", "--json",
                     extra={"CONDA_OVERRIDE_CUDA": "12.8", "CONDA_OVERRIDE_CUDA_ARCH": "9.0"})
    assert "__cuda" in proc.stdout and "12.8" in proc.stdout


def test_classic_solver_picks_the_cuda_variant_with_a_cuda_driver(
    conda_env: dict[str, str], variant_channel: Path
) -> None:
    record, report = _dry_run(conda_env, variant_channel, "varpkg", cuda="12.8")
    assert any(d.startswith("__cuda") for d in record["depends"]), record
    assert "cwb: varpkg 1.0: chose " + record["build"] in report


def test_classic_solver_picks_the_cpu_variant_without_one(
    conda_env: dict[str, str], variant_channel: Path
) -> None:
    record, report = _dry_run(conda_env, variant_channel, "varpkg", cuda="")
    assert not any(d.startswith("__cuda") for d in record["depends"]), record
    assert "host has no __cuda" in report


@pytest.mark.parametrize(
    ("cuda_arch", "chosen", "why_not_sm"),
    [
        ("9.0", "cu12sm", None),
        ("12.0", "cu12", "needs `__cuda_arch >=8.0,<10`, host has 12.0"),
        ("", "cu12", "host has no __cuda_arch"),
    ],
)
def test_cuda_arch_from_the_plugin_decides_among_gpu_variants(
    tmp_path: Path, conda_env: dict[str, str], cuda_arch: str, chosen: str, why_not_sm: str | None
) -> None:
    channel = make_variant_channel(tmp_path, conda_env, ("null", "cu12", "cu12sm"))
    record, report = _dry_run(conda_env, channel, "varpkg", cuda="12.8",
                              CONDA_OVERRIDE_CUDA_ARCH=cuda_arch)
    assert f"_{chosen}_" in record["build"], (record["build"], report)
    if why_not_sm:
        (line,) = [x for x in report.splitlines() if "_cu12sm_" in x]
        assert why_not_sm in line


def _host_reports_cuda(env: dict[str, str]) -> dict[str, tuple[str, str]]:
    vps = _virtual(env)
    if "__cuda" not in vps:
        pytest.skip("conda detects no CUDA driver on this host (the GPU checks need one)")
    return vps


def test_on_a_gpu_host_cuda_arch_is_the_weakest_device(conda_env: dict[str, str]) -> None:
    from conda_wheel_bridge.host import probe_cuda

    vps = _host_reports_cuda(conda_env)
    _driver, devices, _note = probe_cuda()
    weakest = min(d.compute_capability for d in devices)
    assert vps["__cuda_arch"] == (f"{weakest[0]}.{weakest[1]}", "0")


def test_on_a_gpu_host_the_solver_takes_the_best_variant_the_gpu_runs(
    tmp_path: Path, conda_env: dict[str, str]
) -> None:
    vps = _host_reports_cuda(conda_env)
    channel = make_variant_channel(tmp_path, conda_env, ("null", "cu12", "cu12sm"))
    proc = run_conda(conda_env, "create", "--dry-run", "--json", "--offline", "-p",
                     str(tmp_path / "never"), "--override-channels", "-c", channel.as_uri(),
                     "varpkg")
    (chosen,) = [r for r in json.loads(proc.stdout)["actions"]["LINK"] if r["name"] == "varpkg"]
    host = {name: VirtualPackage(name, v, b) for name, (v, b) in vps.items()}
    runnable = [r for r in _records(channel).values() if r["name"] == "varpkg"
                and not plugin_hooks.unmet_virtual_requirements(r["depends"], host)]
    best = max(runnable, key=lambda r: r["build_number"])
    assert chosen["build_string"] == best["build"], proc.stderr


def _python_in(prefix: Path, code: str) -> str:
    proc = subprocess.run([str(prefix / "bin" / "python"), "-c", code],
                          capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def test_converted_package_installs_and_imports(tmp_path: Path, conda_env: dict[str, str]) -> None:
    wheel = make_wheel(tmp_path / "wheels", "demo-pkg", "2.5",
                       entry_points={"console_scripts": {"demo-pkg": "demo_pkg:__init__"}})
    channel = tmp_path / "channel"
    make_python_package(channel, fmt="tar.bz2", subdir=_subdir())
    run_conda(conda_env, "cwb", "convert", str(wheel), "-o", str(channel))
    run_conda(conda_env, "cwb", "index", str(channel))
    prefix = tmp_path / "env"
    run_conda(conda_env, "create", "--yes", "--offline", "-p", str(prefix), "--override-channels",
              "-c", channel.as_uri(), "demo-pkg")
    assert _python_in(prefix, "import demo_pkg; print(demo_pkg.__version__)") == "2.5"
    assert _python_in(prefix, "import sys; print(sys.prefix)") == str(prefix)
    assert (prefix / "bin" / "demo-pkg").exists()


# What conda does once a solver has picked a channel's ``v3.whl`` record (this conda's classic
# solver reads v3 records only from sharded repodata): fetch, extract through the plugin, link.
_INSTALL_V3_WHL = """
import json, sys
from pathlib import Path
from conda.core.link import PrefixSetup, UnlinkLinkTransaction
from conda.core.package_cache_data import ProgressiveFetchExtract
from conda.models.channel import Channel
from conda.models.match_spec import MatchSpec
from conda.models.records import PackageRecord

channel, prefix, subdir = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
picked = []
for sub, name in ((subdir, "python"), ("noarch", "rawpkg")):
    data = json.loads((channel / sub / "repodata.json").read_text())
    group = data["v3"]["whl"] if sub == "noarch" else data["packages"]
    ((key, rec),) = [(k, r) for k, r in group.items() if r["name"] == name]
    rec = {k: v for k, v in rec.items() if k not in ("extra_depends", "indexed_timestamp")}
    rec["fn"] = rec.get("fn", key)
    base = f"{channel.as_uri()}/{sub}"
    picked.append(PackageRecord(**{**rec, "url": f"{base}/{rec['fn']}", "channel": Channel(base)}))
ProgressiveFetchExtract(picked).execute()
setup = PrefixSetup(prefix, (), tuple(picked), (), (MatchSpec("rawpkg"),), ())
UnlinkLinkTransaction(setup).execute()
"""


def test_conda_installs_a_raw_wheel_from_v3_whl_records_through_the_extractor(
    tmp_path: Path, conda_env: dict[str, str]
) -> None:
    from conda.base.context import context

    if not hasattr(context.plugin_manager, "get_package_extractors"):
        pytest.skip(f"conda {conda.__version__} has no package extractor hook")
    channel = tmp_path / "channel"
    wheel = make_wheel(channel / "noarch", "rawpkg", "3.1", requires_python=">=3.8")
    make_python_package(channel, fmt="tar.bz2", subdir=_subdir())
    run_conda(conda_env, "cwb", "index", str(channel))
    (record,) = json.loads((channel / "noarch" / "repodata.json").read_text())["v3"]["whl"].values()
    assert record["fn"] == wheel.name
    prefix = tmp_path / "env"
    subprocess.run([sys.executable, "-c", _INSTALL_V3_WHL, str(channel), str(prefix), _subdir()],
                   env=conda_env, check=True, capture_output=True, text=True)
    assert _python_in(prefix, "import rawpkg; print(rawpkg.__version__)") == "3.1"
    (meta_file,) = (prefix / "conda-meta").glob("rawpkg-3.1-*.json")
    meta = json.loads(meta_file.read_text())
    assert meta["fn"] == wheel.name
    installed = {Path(f).as_posix() for f in meta["files"]}
    assert f"lib/python{PY}/site-packages/rawpkg/__init__.py" in installed
    assert f"lib/python{PY}/site-packages/rawpkg-3.1.dist-info/INSTALLER" in installed
    extracted = Path(conda_env["CONDA_PKGS_DIRS"]) / wheel.name.removesuffix(".whl")
    assert json.loads((extracted / "info" / "index.json").read_text())["name"] == "rawpkg"
