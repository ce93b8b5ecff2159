"""conda -> wheel with real conda packages: the wheels install with pip, import, run and pass twine.

pip installs into a fresh virtual environment (``python -m venv`` in tmp_path). Wheels whose tags
are not for this interpreter (bcj-cffi is cp310, mock and the osx conda-index-pkg-a are for macOS)
are installed with pip's own ``--target --platform --python-version`` options instead; bcj-cffi's
abi3 extension still imports here, mock cannot (it needs pbr at import time, and --no-deps).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag

from conda_wheel_bridge.condameta import header_mapping
from conda_wheel_bridge.condasource import read_conda_info
from conda_wheel_bridge.errors import BadArchive, BadMetadata, UnsupportedTag
from conda_wheel_bridge.mapping import platform as conda_platform
from conda_wheel_bridge.mapping import requirements
from conda_wheel_bridge.mapping.names import load_name_map
from conda_wheel_bridge.to_wheel import (
    conda_to_wheel,
    core_metadata_for_conda,
    python_layout,
    wheel_core_metadata,
)
from conda_wheel_bridge.wheelfile import open_wheel

from tests.support.condamaker import make_conda_package

pytestmark = pytest.mark.slow

CONDA = "conda"


def _venv(tmp_path: Path) -> Path:
    env = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    return env


def _pip(env: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    if env is not None:
        cmd += ["--python", str(env / "bin" / "python")]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, check=True)


def _pip_fails(env: Path, *args: str) -> str:
    """Run pip in ``env`` expecting it to refuse; return what it said."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input",
           "--python", str(env / "bin" / "python"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode != 0, done.stdout
    return done.stdout + done.stderr


def _run(
    *cmd: str | Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True,
                          env=env)


def _pip_show(env: Path, name: str) -> dict[str, str]:
    out = _pip(env, "show", name).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def _metadata(wheel: Path) -> dict[str, list[str]]:
    with open_wheel(wheel) as reader:
        return dict(header_mapping(reader.info.metadata_bytes))


def _twine_ok(wheel: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "twine", "check", str(wheel)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "PASSED" in result.stdout, result.stdout + result.stderr


def _install_foreign(wheel: Path, target: Path) -> None:
    """pip install a wheel made for another platform/interpreter into ``target``."""
    (tag,) = parse_tag(wheel.name[:-4].split("-", 2)[2])
    py = tag.interpreter[2:]
    # pip before 23.1 judged Requires-Python by the running interpreter even with --python-version
    _pip(None, "install", "--no-deps", "--no-compile", "--target", str(target),
         "--ignore-requires-python",
         "--only-binary=:all:", "--implementation", "cp", "--python-version",
         f"{py[0]}.{py[1:]}", "--abi", tag.abi, "--platform", tag.platform, str(wheel))


# --- noarch: python ------------------------------------------------------------------------------

@pytest.mark.parametrize("fixture,module", [
    ("noarch/boltons-0.1.0-pyhbf21a9e_0.conda", "boltons.main"),
    ("noarch/foobar-0.1.0-pyhbf21a9e_0.conda", "foobar.b"),
])
def test_rattler_build_dist_info_wheel_installs_and_imports(
        fixtures_dir: Path, tmp_path: Path, fixture: str, module: str) -> None:
    wheel = conda_to_wheel(fixtures_dir / CONDA / fixture, tmp_path / "out")
    name = fixture.split("/")[1].split("-")[0]
    assert wheel.name == f"{name}-0.1.0-py3-none-any.whl"
    _twine_ok(wheel)
    env = _venv(tmp_path)
    (requires_python,) = _metadata(wheel)["requires-python"]
    if platform.python_version() not in SpecifierSet(requires_python):
        # the wheel keeps the package's own floor: an older interpreter must be refused
        refused = _pip_fails(env, "install", "--no-deps", str(wheel))
        assert "requires a different Python" in refused
        return
    _pip(env, "install", "--no-deps", str(wheel))
    _run(env / "bin" / "python", "-c", f"import {module}")
    show = _pip_show(env, name)
    assert (show["Name"], show["Version"]) == (name, "0.1.0")
    with zipfile.ZipFile(wheel) as zf:  # install-time records were not carried into the wheel
        names = zf.namelist()
    assert not any(n.endswith(("INSTALLER", "REQUESTED", "direct_url.json")) for n in names)


def test_boltons_keeps_its_own_requirements(fixtures_dir: Path, tmp_path: Path) -> None:
    wheel = conda_to_wheel(fixtures_dir / CONDA / "noarch/boltons-0.1.0-pyhbf21a9e_0.conda",
                           tmp_path)
    meta = _metadata(wheel)
    assert meta["requires-python"] == [">=3.11"]
    assert meta["requires-dist"] == ["rich"]
    assert meta["description-content-type"] == ["text/markdown"]


def test_egg_info_noarch_with_link_json_entry_points_runs(fixtures_dir: Path,
                                                          tmp_path: Path) -> None:
    package = fixtures_dir / CONDA / "noarch/conda-index-pkg-a-1.0-pyhed9eced_1.tar.bz2"
    wheel = conda_to_wheel(package, tmp_path / "out")
    assert wheel.name == "conda_index_pkg_a-1.0-py3-none-any.whl"
    _twine_ok(wheel)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = zf.read("conda_index_pkg_a-1.0.dist-info/entry_points.txt").decode()
    assert "conda_index_pkg_a-1.0.dist-info/METADATA" in names  # egg-info became dist-info
    assert not any(".egg-info" in n or "post-link" in n for n in names)
    assert "conda-index-pkg-a-helper = conda_index_pkg_a:helper" in entry_points
    meta = _metadata(wheel)
    assert meta["summary"] == ["Summary field for conda-index-pkg-a. This is the python noarch "
                               "version."]  # "UNKNOWN" replaced from about.json
    assert "Homepage, https://anaconda.org/conda-test/conda-index-pkg-a" in meta["project-url"]
    env = _venv(tmp_path)
    _pip(env, "install", "--no-deps", str(wheel))
    for script in ("conda-index-pkg-a", "conda-index-pkg-a-helper"):
        out = _run(env / "bin" / script, env={"CWB_PROBE": "42", "PATH": "/usr/bin:/bin"})
        assert json.loads(out.stdout)["CWB_PROBE"] == "42"
    probe = ("import importlib.metadata as m; d = m.distribution('conda-index-pkg-a'); "
             "print(d.version, sorted(e.name for e in d.entry_points))")
    shown = _run(env / "bin" / "python", "-c", probe).stdout.strip()
    assert shown == "1.0 ['conda-index-pkg-a', 'conda-index-pkg-a-helper']"


def test_moto_metadata_entry_point_and_install(fixtures_dir: Path, tmp_path: Path) -> None:
    wheel = conda_to_wheel(fixtures_dir / CONDA / "noarch/moto-1.3.7-py_0.tar.bz2", tmp_path)
    _twine_ok(wheel)
    meta = _metadata(wheel)
    requires = {Requirement(r).name.lower() for r in meta["requires-dist"]}
    assert {"boto3", "botocore", "jinja2", "werkzeug"} <= requires
    env = _venv(tmp_path)
    _pip(env, "install", "--no-deps", str(wheel))
    launcher = env / "bin" / "moto_server"
    assert launcher.is_file() and "moto.server" in launcher.read_text()
    # moto itself needs boto3 & co. at import time, which --no-deps leaves out: check the files
    probe = ("import importlib.metadata as m; d = m.distribution('moto'); "
             "print(len(d.files), d.metadata['Version'], d.read_text('WHEEL').count('Tag:'))")
    count, version, tags = _run(env / "bin" / "python", "-c", probe).stdout.split()
    assert version == "1.3.7" and int(count) > 300
    assert tags == "2"  # py2-none-any and py3-none-any: the carried WHEEL's tags, same platform
    assert wheel.name == "moto-1.3.7-py2.py3-none-any.whl"
    show = _pip_show(env, "moto")
    assert "boto3" in show["Requires"]


def test_link_json_entry_points_are_added_to_entry_points_txt(tmp_path: Path) -> None:
    package = make_conda_package(
        tmp_path / "in", "greet", "2.0", noarch="python",
        files={"site-packages/greet/__init__.py": b"def hi():\n    print('hi from greet')\n",
               "site-packages/greet-2.0.dist-info/METADATA":
                   b"Metadata-Version: 2.1\nName: greet\nVersion: 2.0\n"},
        entry_points=["greet = greet:hi"], depends=["python >=3.8"])
    wheel = conda_to_wheel(package, tmp_path / "out")
    assert _metadata(wheel)["requires-python"] == [">=3.8"]
    env = _venv(tmp_path)
    _pip(env, "install", "--no-deps", str(wheel))
    assert _run(env / "bin" / "greet").stdout == "hi from greet\n"


# --- platform builds ---------------------------------------------------------------------------

def test_bcj_cffi_extension_wheel(fixtures_dir: Path, tmp_path: Path) -> None:
    package = fixtures_dir / CONDA / "linux-64/bcj-cffi-0.5.1-py310h295c915_0.tar.bz2"
    wheel = conda_to_wheel(package, tmp_path / "out")
    assert wheel.name == "bcj_cffi-0.5.1-cp310-cp310-linux_x86_64.whl"
    _twine_ok(wheel)
    meta = _metadata(wheel)
    assert meta["requires-python"] == [">=3.10,<3.11.0a0"]
    # non-Python depends as PEP 725 DepURLs (conda-forge's mapping has no libgcc-ng: dep:conda/)
    assert "dep:conda/libgcc-ng@>=7.5.0" in meta["requires-external"]
    assert "cffi (>=1.14.0)" in meta["requires-dist"]  # the distribution's own line, kept
    with zipfile.ZipFile(wheel) as zf:
        assert "WHEEL" not in "".join(n for n in zf.namelist() if "__pycache__" in n)
        assert not any("__pycache__" in n for n in zf.namelist())
        wheel_file = zf.read("bcj_cffi-0.5.1.dist-info/WHEEL").decode()
    assert "Root-Is-Purelib: false" in wheel_file
    target = tmp_path / "target"
    _install_foreign(wheel, target)
    assert (target / "_bcj.abi3.so").is_file()
    # the extension is abi3, so this interpreter (with cffi) can load it: encode/decode round trip
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import bcj;"
            "data = bytes(range(256)) * 64;"
            "enc = bcj.BCJEncoder(); e = enc.encode(data) + enc.flush();"
            "dec = bcj.BCJDecoder(len(data)); assert dec.decode(e) == data; print('ok')")
    try:
        import cffi  # noqa: F401
    except ImportError:
        pytest.skip("cffi is not installed here: bcj's extension cannot be loaded")
    assert _run(sys.executable, "-c", code, target).stdout.strip() == "ok"


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_mock_egg_info_platform_wheel(fixtures_dir: Path, tmp_path: Path, fmt: str) -> None:
    package = fixtures_dir / CONDA / f"osx-64/mock-2.0.0-py37_1000.{fmt}"
    wheel = conda_to_wheel(package, tmp_path / "out")
    assert wheel.name.startswith("mock-2.0.0-cp37-") and "macosx" in wheel.name
    _twine_ok(wheel)
    meta = _metadata(wheel)
    assert meta["provides-extra"] == ["docs", "test"]  # from PKG-INFO, not doubled
    assert "pbr>=0.11" in meta["requires-dist"]  # requires.txt became Requires-Dist
    assert 'unittest2>=1.1.0; extra == "test"' in meta["requires-dist"]
    assert "funcsigs>=1; (python_version<\"3.3\")" in meta["requires-dist"]
    # "License: UNKNOWN" is dropped; its license classifier already says BSD, so none is added
    assert "license" not in meta
    assert "Classifier: License :: OSI Approved :: BSD License" in "\n".join(
        f"Classifier: {c}" for c in meta["classifier"])
    target = tmp_path / "target"
    _install_foreign(wheel, target)
    import importlib.metadata

    (dist,) = [d for d in importlib.metadata.distributions(path=[str(target)])]
    assert dist.metadata["Name"] == "mock" and dist.version == "2.0.0"
    assert (target / "mock" / "mock.py").is_file()
    assert not list(target.rglob("*.pyc"))  # cpython-37 bytecode was not carried


def test_both_formats_give_the_same_wheel(fixtures_dir: Path, tmp_path: Path) -> None:
    a = conda_to_wheel(fixtures_dir / CONDA / "osx-64/mock-2.0.0-py37_1000.conda", tmp_path / "a")
    b = conda_to_wheel(fixtures_dir / CONDA / "osx-64/mock-2.0.0-py37_1000.tar.bz2",
                       tmp_path / "b")
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        assert {n: za.read(n) for n in za.namelist()} == {n: zb.read(n) for n in zb.namelist()}


def test_platform_launchers_and_link_scripts_are_dropped(fixtures_dir: Path,
                                                         tmp_path: Path) -> None:
    package = fixtures_dir / CONDA / "osx-64/conda-index-pkg-a-1.0-py27h5e241af_0.conda"
    wheel = conda_to_wheel(package, tmp_path)
    assert wheel.name.startswith("conda_index_pkg_a-1.0-cp27-")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert not any(".data/" in n for n in names)  # bin/ launchers of entry points, post-link
    assert not any(n.endswith(".pyc") for n in names)


# --- variants, scripts, links, data ---------------------------------------------------------------

def test_cuda_depends_become_a_variant_wheel(tmp_path: Path) -> None:
    from variantlib.api import validate_variant  # noqa: F401  (variantlib is the reader)

    package = make_conda_package(
        tmp_path / "in", "gpukit", "1.0", build="cuda12_0", subdir="linux-64",
        depends=["python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311", "__glibc >=2.17",
                 "__cuda >=12.0"],
        files={"lib/python3.11/site-packages/gpukit/__init__.py": b"",
               "lib/python3.11/site-packages/gpukit-1.0.dist-info/METADATA":
                   b"Metadata-Version: 2.1\nName: gpukit\nVersion: 1.0\n"})
    wheel = conda_to_wheel(package, tmp_path / "out")
    parts = wheel.name[:-4].split("-")
    assert parts[2:5] == ["cp311", "cp311", "manylinux_2_17_x86_64.manylinux2014_x86_64"]
    label = parts[5]
    with zipfile.ZipFile(wheel) as zf:
        variant = json.loads(zf.read("gpukit-1.0.dist-info/variant.json"))
    assert list(variant["variants"]) == [label]
    assert variant["variants"][label]["nvidia"]["cuda_version_lower_bound"] == ["12.0"]
    from variantlib.models.variant import VariantDescription, VariantProperty

    desc = VariantDescription(properties=[VariantProperty("nvidia", "cuda_version_lower_bound",
                                                          "12.0")])
    assert desc.hexdigest == label  # the label variantlib itself would give
    with open_wheel(wheel) as reader:  # WHEEL's tags agree with the file name (label aside)
        assert reader.info.tags_match and reader.info.filename.variant_label == label
    _twine_ok(wheel)


def test_scripts_data_and_symlinks_are_carried(tmp_path: Path) -> None:
    package = make_conda_package(
        tmp_path / "in", "tool", "3.1", build="py311_0", subdir="linux-64",
        depends=["python >=3.11,<3.12.0a0", "__glibc >=2.28", "libzlib >=1.3"],
        files={"lib/python3.11/site-packages/tool/__init__.py": b"X = 1\n",
               "lib/python3.11/site-packages/tool-3.1.dist-info/METADATA":
                   b"Metadata-Version: 2.1\nName: tool\nVersion: 3.1\n",
               "lib/python3.11/site-packages/tool-3.1.dist-info/RECORD": b"stale,,\n",
               "bin/tool-helper": b"#!/opt/anaconda1anaconda2anaconda3/bin/python3.11\nprint(1)\n",
               "share/tool/data.txt": b"payload"},
        links={"lib/python3.11/site-packages/tool/alias.py": "__init__.py"})
    wheel = conda_to_wheel(package, tmp_path / "out")
    assert wheel.name == "tool-3.1-cp311-cp311-manylinux_2_28_x86_64.whl"
    with open_wheel(wheel) as reader:
        reader.verify()  # RECORD matches every member
        assert reader.read("tool-3.1.data/scripts/tool-helper") == b"#!python\nprint(1)\n"
        assert reader.read("tool-3.1.data/data/share/tool/data.txt") == b"payload"
        assert reader.read("tool/alias.py") == b"X = 1\n"
        record = reader.read("tool-3.1.dist-info/RECORD").decode()
    assert "stale" not in record
    meta = _metadata(wheel)
    assert meta["requires-external"] == ["dep:generic/zlib@>=1.3"]  # PEP 804 mapping, reversed


def test_symlink_to_a_directory_cannot_go_in_a_wheel(tmp_path: Path) -> None:
    package = make_conda_package(
        tmp_path / "in", "odd", "1.0", noarch="python",
        files={"site-packages/odd/__init__.py": b"",
               "site-packages/odd-1.0.dist-info/METADATA":
                   b"Metadata-Version: 2.1\nName: odd\nVersion: 1.0\n"},
        links={"site-packages/odd2": "odd"})
    out = tmp_path / "out"
    with pytest.raises(BadArchive, match=r"link to site-packages/odd cannot go in a wheel"):
        conda_to_wheel(package, out)
    assert not out.exists() or not list(out.iterdir())  # no partial output


# --- refusals and metadata only -------------------------------------------------------------------

@pytest.mark.parametrize("fixture,why", [
    ("noarch/sample_noarch_python-1.0-py_0.conda", "no .dist-info or .egg-info"),
    ("linux-64/zlib-1.2.11-h7b6447c_3.conda", "no site-packages content"),
    ("noarch/tzdata-2025b-h78e105d_0.conda", "no site-packages content"),
])
def test_package_without_python_distribution_is_refused(fixtures_dir: Path, tmp_path: Path,
                                                        fixture: str, why: str) -> None:
    package = fixtures_dir / CONDA / fixture
    with pytest.raises(BadMetadata, match=why) as err:
        conda_to_wheel(package, tmp_path / "out")
    assert str(err.value).startswith(str(package)) and "--metadata-only" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_metadata_only_fixture_is_refused_as_wheel_but_gives_metadata(fixtures_dir: Path,
                                                                      tmp_path: Path) -> None:
    package = fixtures_dir / CONDA / "noarch/spiffy-test-app-0.5-pyh6afbcc8_0.tar.bz2"
    with pytest.raises(BadArchive, match=r"missing from the archive"):
        conda_to_wheel(package, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.whl"))
    doc = conda_to_wheel(package, tmp_path / "out", metadata_only=True)
    assert doc.name == "spiffy_test_app-0.5-py3-none-any.whl.metadata"
    meta = header_mapping(doc.read_bytes())
    assert (meta["name"], meta["version"]) == (["spiffy-test-app"], ["0.5"])


@pytest.mark.parametrize("fixture,name,external", [
    ("linux-64/zlib-1.2.11-h7b6447c_3.conda", "zlib", "dep:conda/libgcc-ng@>=7.3.0"),
    ("noarch/flask-0.11.1-py_0.tar.bz2", "flask", None),
    ("linux-64/openssl-3.3.1-h4ab18f5_1.conda", "openssl", "dep:conda/ca-certificates"),
])
def test_metadata_only_documents(fixtures_dir: Path, tmp_path: Path, fixture: str, name: str,
                                 external: str | None) -> None:
    package = fixtures_dir / CONDA / fixture
    doc = conda_to_wheel(package, tmp_path, metadata_only=True)
    data = doc.read_bytes()
    assert data == core_metadata_for_conda(package)
    meta = header_mapping(data)
    assert meta["name"] == [name]
    from packaging.metadata import Metadata

    parsed = Metadata.from_email(data, validate=True)  # valid core metadata, as twine reads it
    assert str(parsed.name) == name
    if external:
        assert external in meta["requires-external"]
    if name == "flask":
        requires = {Requirement(r).name.lower() for r in meta["requires-dist"]}
        assert {"click", "itsdangerous", "jinja2", "werkzeug"} <= requires
        assert meta["license"] == ["BSD"]  # not an SPDX expression: the free-text field
        assert meta["summary"] == ["A microframework based on Werkzeug, Jinja2 and good intentions"]
        assert "Homepage, http://flask.pocoo.org/" in meta["project-url"]  # from about.json


def test_tampered_package_leaves_no_wheel(tmp_path: Path, fixtures_dir: Path) -> None:
    import bz2

    src = fixtures_dir / CONDA / "noarch/conda-index-pkg-a-1.0-pyhed9eced_1.tar.bz2"
    raw = bz2.decompress(src.read_bytes())
    needle = b"def helper():"
    assert needle in raw
    bad = tmp_path / src.name
    bad.write_bytes(bz2.compress(raw.replace(needle, b"def HELPER():")))
    out = tmp_path / "out"
    with pytest.raises(BadArchive, match=r"sha256 .* does not match info/paths.json"):
        conda_to_wheel(bad, out)
    assert not out.exists() or not list(out.iterdir())


# --- names ----------------------------------------------------------------------------------------

def _depends_on(tmp_path: Path, dep: str) -> Path:
    return make_conda_package(
        tmp_path / "in", "user", "1.0", noarch="python", depends=["python", dep],
        files={"site-packages/user/__init__.py": b"",
               "site-packages/user-1.0.dist-info/METADATA":
                   b"Metadata-Version: 2.1\nName: user\nVersion: 1.0\n"})


def test_ambiguous_conda_name_is_reported_not_guessed(tmp_path: Path, cwb: object) -> None:
    from conda_wheel_bridge.errors import NameConflict

    package = _depends_on(tmp_path, "antlr-python-runtime >=4.9")
    out = tmp_path / "out"
    with pytest.raises(NameConflict) as err:
        conda_to_wheel(package, out)
    message = str(err.value)
    assert message.startswith(f"{package}: antlr-python-runtime: ambiguous")
    assert "antlr4-python3-runtime" in message and "--name-map" in message
    assert not out.exists()


def test_overlay_settles_the_name_and_wins(tmp_path: Path) -> None:
    from conda_wheel_bridge.mapping.names import load_name_map

    overlay = tmp_path / "names.json"
    overlay.write_text(json.dumps({"conda_to_pypi": {
        "antlr-python-runtime": "antlr4-python3-runtime", "libfoo": None, "numpy": "my-numpy"}}))
    package = _depends_on(tmp_path, "antlr-python-runtime >=4.9")
    wheel = conda_to_wheel(package, tmp_path / "out", names=load_name_map(overlay))
    assert _metadata(wheel)["requires-dist"] == ["antlr4-python3-runtime>=4.9"]
    other = make_conda_package(
        tmp_path / "in2", "user", "1.0", noarch="python", depends=["numpy >=2", "libfoo"],
        files={"site-packages/user-1.0.dist-info/METADATA":
               b"Metadata-Version: 2.1\nName: user\nVersion: 1.0\n"})
    meta = _metadata(conda_to_wheel(other, tmp_path / "out2", names=load_name_map(overlay)))
    assert meta["requires-dist"] == ["my-numpy>=2"]  # the overlay beats the shipped table
    assert meta["requires-external"] == ["dep:conda/libfoo"]  # null: not a Python package


def test_two_links_to_one_file_and_a_chain(tmp_path: Path) -> None:
    package = make_conda_package(
        tmp_path / "in", "chain", "1.0", noarch="python",
        files={"site-packages/chain/real.py": b"V = 2\n",
               "site-packages/chain-1.0.dist-info/METADATA":
                   b"Metadata-Version: 2.1\nName: chain\nVersion: 1.0\n"},
        links={"site-packages/chain/a.py": "real.py", "site-packages/chain/b.py": "a.py"})
    wheel = conda_to_wheel(package, tmp_path / "out")
    with open_wheel(wheel) as reader:
        reader.verify()
        assert reader.read("chain/a.py") == reader.read("chain/b.py") == b"V = 2\n"


# --- the command line (cwb convert belongs to the convert engineer; this is the wiring) ---------

def test_cwb_convert_to_wheel_and_metadata_only(fixtures_dir: Path, tmp_path: Path,
                                                cwb: Callable[..., tuple[int, str, str]]) -> None:
    package = fixtures_dir / CONDA / "noarch/foobar-0.1.0-pyhbf21a9e_0.conda"
    rc, _, err = cwb("convert", package, "--to", "wheel", "-o", tmp_path / "w")
    assert rc == 0, err
    assert [p.name for p in (tmp_path / "w").iterdir()] == ["foobar-0.1.0-py3-none-any.whl"]
    zlib = fixtures_dir / CONDA / "linux-64/zlib-1.2.11-h7b6447c_3.conda"
    rc, _, err = cwb("convert", zlib, "--to", "wheel", "-o", tmp_path / "w")
    assert rc == 1 and err.startswith(f"cwb: error: {zlib}: carries no Python distribution")
    assert err.count("\n") == 1
    rc, _, err = cwb("convert", zlib, "--to", "wheel", "--metadata-only", "-o", tmp_path / "m")
    assert rc == 0, err
    (doc,) = (tmp_path / "m").iterdir()
    assert doc.name == "zlib-1.2.11-py3-none-linux_x86_64.whl.metadata"
    assert header_mapping(doc.read_bytes())["name"] == ["zlib"]


def test_egg_info_as_a_single_file(tmp_path: Path) -> None:
    pkg_info = b"Metadata-Version: 1.1\nName: oldie\nVersion: 0.9\nSummary: distutils era\n"
    package = make_conda_package(
        tmp_path / "in", "oldie", "0.9", build="py27_0", subdir="linux-64",
        depends=["python >=2.7,<2.8.0a0"],
        files={"lib/python2.7/site-packages/oldie.py": b"X = 1\n",
               "lib/python2.7/site-packages/oldie-0.9-py2.7.egg-info": pkg_info})
    wheel = conda_to_wheel(package, tmp_path / "out")
    with open_wheel(wheel) as reader:
        names = [m.name for m in reader.members]
        assert "oldie-0.9.dist-info/METADATA" in names
        assert not any("egg-info" in n for n in names)
    assert _metadata(wheel)["summary"] == ["distutils era"]


def test_windows_layout(tmp_path: Path) -> None:
    package = make_conda_package(
        tmp_path / "in", "wintool", "2.0", build="py311_0", subdir="win-64",
        depends=["python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311"],
        files={"Lib/site-packages/wintool/__init__.py": b"def main(): pass\n",
               "Lib/site-packages/wintool-2.0.dist-info/METADATA":
                   b"Metadata-Version: 2.1\nName: wintool\nVersion: 2.0\n",
               "Lib/site-packages/wintool-2.0.dist-info/entry_points.txt":
                   b"[console_scripts]\nwintool = wintool:main\n",
               "Scripts/wintool.exe": b"MZ launcher", "Scripts/wintool-script.py": b"launcher",
               "Scripts/other.bat": b"@echo off\r\n", "Library/bin/helper.dll": b"MZ dll"})
    wheel = conda_to_wheel(package, tmp_path / "out")
    assert wheel.name == "wintool-2.0-cp311-cp311-win_amd64.whl"
    with open_wheel(wheel) as reader:
        names = sorted(m.name for m in reader.members)
    assert names == ["wintool-2.0.data/data/Library/bin/helper.dll",
                     "wintool-2.0.data/scripts/other.bat",
                     "wintool-2.0.dist-info/METADATA", "wintool-2.0.dist-info/RECORD",
                     "wintool-2.0.dist-info/WHEEL", "wintool-2.0.dist-info/entry_points.txt",
                     "wintool/__init__.py"]


def test_malformed_tag_in_a_carried_wheel_file_is_one_clear_error(tmp_path: Path) -> None:
    package = make_conda_package(
        tmp_path / "in", "tagged", "1.0", build="py_0", noarch="python",
        files={"site-packages/tagged/__init__.py": b"",
               "site-packages/tagged-1.0.dist-info/METADATA":
                   b"Metadata-Version: 2.1\nName: tagged\nVersion: 1.0\n",
               "site-packages/tagged-1.0.dist-info/WHEEL":
                   b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: garbage\n"})
    with pytest.raises(UnsupportedTag, match=r"carried WHEEL: malformed compatibility tag garbage"):
        conda_to_wheel(package, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_an_existing_wheel_in_the_output_folder_is_left_alone(fixtures_dir: Path,
                                                             tmp_path: Path) -> None:
    """Converting writes only the final wheel: no other file of the output folder is touched."""
    out = tmp_path / "out"
    out.mkdir()
    bystander = out / "boltons-0.1.0-0-py3-none-any.whl"
    bystander.write_bytes(b"someone else's wheel")
    wheel = conda_to_wheel(fixtures_dir / CONDA / "noarch/boltons-0.1.0-pyhbf21a9e_0.conda", out)
    assert bystander.read_bytes() == b"someone else's wheel"
    assert sorted(p.name for p in out.iterdir()) == sorted([bystander.name, wheel.name])


# --- one translation per conversion ---------------------------------------------------------------

@pytest.mark.parametrize("metadata_only", [False, True])
@pytest.mark.parametrize("fixture", [
    "osx-64/mock-2.0.0-py37_1000.conda",  # cp37 tags: METADATA's markers need them too
    "noarch/boltons-0.1.0-pyhbf21a9e_0.conda",  # noarch: python, Requires-Python from depends
])
def test_one_conversion_translates_depends_and_computes_tags_once(
        fixtures_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture: str,
        metadata_only: bool) -> None:
    calls = {"depends": 0, "tags": 0}
    translate, tags = requirements.conda_depends_to_requires_dist, conda_platform.tags_for_conda

    def counted_translate(*args: Any, **kw: Any) -> Any:
        calls["depends"] += 1
        return translate(*args, **kw)

    def counted_tags(*args: Any, **kw: Any) -> Any:
        calls["tags"] += 1
        return tags(*args, **kw)

    monkeypatch.setattr(requirements, "conda_depends_to_requires_dist", counted_translate)
    monkeypatch.setattr("conda_wheel_bridge.to_wheel_meta.tags_for_conda", counted_tags)
    out = conda_to_wheel(fixtures_dir / CONDA / fixture, tmp_path, metadata_only=metadata_only)
    assert calls == {"depends": 1, "tags": 1}
    data = out.read_bytes() if metadata_only else None
    if data is None:
        with open_wheel(out) as reader:
            data = reader.info.metadata_bytes
            assert {str(t) for t in reader.info.wheel_tags} == {
                str(t) for t in reader.info.filename.tags}  # WHEEL says what the name says
    assert data == core_metadata_for_conda(fixtures_dir / CONDA / fixture)
    assert header_mapping(data)["requires-dist"]  # the one translation reached METADATA


@pytest.mark.parametrize("fixture", [
    "noarch/moto-1.3.7-py_0.tar.bz2",
    "osx-64/mock-2.0.0-py37_1000.tar.bz2",
    "linux-64/cuda-0.1.0-h055459d_0.conda",  # no Python: a synthesised document, a variant label
    "_nosubdir/symlink-test-1.0.0-0.conda",  # no paths listing: the layout is found by a pass
])
def test_wheel_core_metadata_from_info_already_read(fixtures_dir: Path, tmp_path: Path,
                                                    fixture: str) -> None:
    package = fixtures_dir / CONDA / fixture
    info = read_conda_info(package)
    data, filename = wheel_core_metadata(info, python_layout(info), load_name_map())
    assert data == core_metadata_for_conda(package)
    doc = conda_to_wheel(package, tmp_path, metadata_only=True)
    assert doc.name == f"{filename}.metadata" and doc.read_bytes() == data


def test_wheel_core_metadata_error_names_the_package(fixtures_dir: Path) -> None:
    package = fixtures_dir / CONDA / "linux-fake/virtualdep-package-2.0-0.conda"
    info = read_conda_info(package)
    with pytest.raises(UnsupportedTag) as err:
        wheel_core_metadata(info, python_layout(info), load_name_map())
    assert err.value.where == str(package)
    assert err.value.reason == "linux-fake: no wheel platform tag for this conda subdir"
