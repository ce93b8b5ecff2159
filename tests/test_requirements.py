"""PEP 508 <-> conda MatchSpecs: specifiers, markers (when=), extras, and the reverse direction.

py-rattler is the conda-side judge: every produced spec must parse as a rattler ``MatchSpec``,
and (property tests) a translated specifier accepts exactly the versions PEP 440 accepts.
"""

from __future__ import annotations

import asyncio
import email.parser
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import rattler
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from conda_wheel_bridge.errors import BadMetadata, MappingError
from conda_wheel_bridge.mapping.names import NameMap, load_name_map
from conda_wheel_bridge.mapping.requirements import (
    conda_depends_to_requires_dist,
    conda_spec_to_pep440,
    conda_version,
    requires_dist_to_conda,
    requires_python_to_conda,
    specifier_to_conda,
)

LINUX_311 = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "python_version": "3.11",
    "python_full_version": "3.11.4",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "implementation_version": "3.11.4",
    "platform_release": "",
    "platform_version": "",
}


@pytest.fixture(scope="module")
def names() -> NameMap:
    return load_name_map()


@pytest.mark.parametrize(
    ("pep440", "conda"),
    [
        ("", ""),
        (">=1.0", ">=1.0"),
        (">=1.0,<2.0", ">=1.0,<2dev0"),
        ("<2", "<2dev0"),
        ("<2.0rc1", "<2.0rc1"),
        ("<=1.5", "<=1.5"),
        (">1.5", ">1.5"),
        ("==1.2.3", "==1.2.3"),
        ("==1.2.*", "1.2.*"),
        ("!=1.2.*", "!=1.2.*"),
        ("!=1.5", "!=1.5"),
        ("~=1.4.2", ">=1.4.2,1.4.*"),
        ("~=2.2", ">=2.2,2.*"),
        ("===1.0-foo", "==1.0-foo"),
        ("==1.0+local.7", "==1.0+local.7"),
        ("==1.0.dev3", "==1.0.dev3"),
        (">=1.0.0rc1", ">=1.0.0rc1"),
        ("==1!2.0", "==1!2.0"),
        (">=2.0.post1", ">=2.0.post1"),
    ],
)
def test_specifier_to_conda(pep440: str, conda: str) -> None:
    got, _ = specifier_to_conda(pep440)
    assert got == conda
    if got:
        rattler.VersionSpec(got)


def test_specifier_losses_are_reported() -> None:
    assert "post-releases" in specifier_to_conda(">1.5")[1][0]
    assert "compares strings" in specifier_to_conda("===1.0")[1][0]
    assert specifier_to_conda(">=1,<2")[1] == ()


@pytest.mark.parametrize(
    ("pep440", "conda"),
    [
        ("1.5", "1.5"),
        ("1.5.0", "1.5.0"),
        ("1.5.dev0", "1.5.dev0"),
        ("1.5.0RC1", "1.5.0rc1"),
        ("1.5a1-dev2", "1.5a1.dev2"),
        ("1.5.post1", "1.5.post1"),
        ("1.5.post1.dev0", "1.5.post1.dev0"),
        ("2!1.0", "2!1.0"),
        ("1.0+ubuntu.1", "1.0+ubuntu.1"),
    ],
)
def test_conda_version_spelling(pep440: str, conda: str) -> None:
    assert conda_version(pep440) == conda


def test_requires_python() -> None:
    assert requires_python_to_conda(">=3.9") == "python >=3.9"
    assert requires_python_to_conda(">=3.8, <4") == "python >=3.8,<4dev0"
    assert requires_python_to_conda("~=3.10") == "python >=3.10,3.*"
    assert requires_python_to_conda(None) is None
    assert requires_python_to_conda("  ") is None
    with pytest.raises(BadMetadata, match="Requires-Python"):
        requires_python_to_conda(">=three")


def test_names_and_specifiers(names: NameMap) -> None:
    got = requires_dist_to_conda(
        ["torch>=2.1", "PyYAML~=6.0", "msgpack<2", "numpy==1.26.*", "requests[socks]>=2"],
        names=names,
        environment=None,
    )
    assert got.depends == (
        "pytorch >=2.1",
        "pyyaml >=6.0,6.*",
        "msgpack-python <2dev0",
        "numpy 1.26.*",
        "requests >=2[extras=[socks]]",
    )
    assert got.extra_depends == {}
    for spec in got.depends:
        rattler.MatchSpec(spec)


def test_markers_become_when_conditions_for_noarch(names: NameMap) -> None:
    got = requires_dist_to_conda(
        [
            'typing-extensions; python_version < "3.10"',
            'pywin32; sys_platform == "win32"',
            "colorama; os_name == 'nt'",
            "uvloop; platform_system != 'Windows'",
            'appnope; sys_platform == "darwin" or platform_system == "Linux"',
            'x; python_version != "3.10"',
            'y; python_full_version >= "3.9.1"',
            'z; python_version >= "3.8" and sys_platform == "linux"',
        ],
        names=names,
        environment=None,
    )
    assert got.depends == (
        'typing_extensions[when="python<3.10dev0"]',
        'pywin32[when="__win"]',
        'colorama[when="__win"]',
        'uvloop[when="__unix"]',
        'appnope[when="__osx or __linux"]',
        'x[when="python<3.10dev0 or python>=3.11dev0"]',
        'y[when="python>=3.9.1"]',
        'z[when="python>=3.8dev0 and __linux"]',
    )
    for spec in got.depends:
        assert rattler.MatchSpec(spec).condition is not None


def test_markers_evaluated_for_a_fixed_target(names: NameMap) -> None:
    got = requires_dist_to_conda(
        [
            'typing-extensions; python_version < "3.10"',
            'pywin32; sys_platform == "win32"',
            'nvidia-nccl-cu12; platform_machine == "x86_64" and sys_platform == "linux"',
            'tomli; python_version < "3.11"',
            'exceptiongroup; python_version >= "3.11"',
        ],
        names=names,
        environment=LINUX_311,
    )
    assert got.depends == ("nvidia-nccl-cu12", "exceptiongroup")
    assert got.losses == ()


def test_partly_fixed_target_keeps_the_rest_as_when(names: NameMap) -> None:
    """An abi3 linux wheel fixes the platform but not the Python version."""
    env = {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
    }
    got = requires_dist_to_conda(
        [
            'a; sys_platform == "win32"',
            'b; python_version < "3.11" and platform_machine == "x86_64"',
        ],
        names=names,
        environment=env,
    )
    assert got.depends == ('b[when="python<3.11dev0"]',)


def test_unexpressible_marker_dropped_or_kept_and_reported(names: NameMap) -> None:
    reqs = ['nvidia-nccl-cu12; platform_machine == "x86_64"']
    dropped = requires_dist_to_conda(reqs, names=names, environment=None)
    assert dropped.depends == ()
    assert "platform_machine" in dropped.losses[0] and "dropped" in dropped.losses[0]
    kept = requires_dist_to_conda(reqs, names=names, environment=None, unexpressible="keep")
    assert kept.depends == ("nvidia-nccl-cu12",)
    assert "kept unconditionally" in kept.losses[0]


def test_platforms_conda_lacks_are_never_true_and_reported(names: NameMap) -> None:
    got = requires_dist_to_conda(
        [
            'a; sys_platform == "cygwin"',
            'b; "linux" in sys_platform',
            'c; platform_system != "Java"',
        ],
        names=names,
        environment=None,
    )
    assert got.depends == ('b[when="__linux"]', "c")
    assert len(got.losses) == 2 and all("no conda platform" in loss for loss in got.losses)


def test_legacy_in_marker_on_python_version(names: NameMap) -> None:
    got = requires_dist_to_conda(
        ['a; python_version in "2.7 3.6"', 'b; python_version not in "3.8 3.9"'],
        names=names,
        environment=None,
    )
    assert got.depends == (
        'a[when="python>=2.7dev0,<2.8dev0 or python>=3.6dev0,<3.7dev0"]',
        'b[when="python<3.8dev0 or python>=3.10dev0"]',
    )


def test_implementation_markers_assume_cpython_and_say_so(names: NameMap) -> None:
    got = requires_dist_to_conda(
        [
            'greenlet; platform_python_implementation == "CPython"',
            'cffi; implementation_name == "pypy"',
        ],
        names=names,
        environment=None,
    )
    assert got.depends == ("greenlet",)
    assert any("assumed 'CPython'" in loss for loss in got.losses)


def test_extras_go_to_extra_depends(names: NameMap) -> None:
    got = requires_dist_to_conda(
        [
            "charset-normalizer<4,>=2",
            'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
            'chardet<6,>=3.0.2; extra == "use_chardet_on_py3"',
            'exceptiongroup; python_version < "3.11" or extra == "test"',
            'pytest>=7; extra == "test" and python_version >= "3.8"',
            'doc-tool; extra == "docs" or extra == "all"',
        ],
        names=names,
        environment=None,
    )
    assert got.depends == (
        "charset-normalizer >=2,<4dev0",
        'exceptiongroup[when="python<3.11dev0"]',
    )
    assert got.extra_depends == {
        "all": ("doc-tool",),
        "docs": ("doc-tool",),
        "socks": ("pysocks >=1.5.6,!=1.5.7",),
        "test": ("exceptiongroup", 'pytest >=7[when="python>=3.8dev0"]'),
        "use-chardet-on-py3": ("chardet >=3.0.2,<6dev0",),
    }


def test_conditional_and_extras_parse_in_rattler_repodata(names: NameMap) -> None:
    """The specs we write load as real repodata records in py-rattler (CEP 43 / CEP 44)."""
    got = requires_dist_to_conda(
        ['pywin32; sys_platform == "win32"', 'pysocks>=1.5.6; extra == "socks"'],
        names=names,
        environment=None,
    )
    record = rattler.PackageRecord(
        name="demo",
        version="1.0",
        build=rattler.BuildString("py_0"),
        build_number=0,
        subdir="noarch",
        depends=list(got.depends),
        extra_depends={k: list(v) for k, v in got.extra_depends.items()},
    )
    assert record.depends == ['pywin32[when="__win"]']
    assert record.extra_depends == {"socks": ["pysocks >=1.5.6"]}


def test_bad_requirement_is_one_clear_error(names: NameMap) -> None:
    with pytest.raises(BadMetadata) as info:
        requires_dist_to_conda(["not a requirement !!"], names=names, environment=None)
    assert str(info.value).startswith("Requires-Dist: ")


def test_direct_url_reference_is_reported(names: NameMap) -> None:
    got = requires_dist_to_conda(
        ["pkg @ https://example.com/pkg-1.0.whl"], names=names, environment=None
    )
    assert got.depends == ("pkg",)
    assert "direct URL" in got.losses[0]


# --- reverse -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conda", "pep440"),
    [
        ("", ""),
        ("*", ""),
        (">=1.2,<2.0a0", ">=1.2,<2.0a0"),
        ("1.2.*", "==1.2.*"),
        ("=1.2", "==1.2.*"),
        ("1.2.3", "==1.2.3"),
        ("==1.2.3", "==1.2.3"),
        ("!=1.5", "!=1.5"),
        (">=2,<3dev0", ">=2,<3dev0"),
    ],
)
def test_conda_spec_to_pep440(conda: str, pep440: str) -> None:
    assert conda_spec_to_pep440(conda) == pep440


def test_conda_depends_back_to_requires_dist(names: NameMap) -> None:
    got = conda_depends_to_requires_dist(
        [
            "python >=3.9",
            "pytorch >=2.1",
            "libzlib >=1.2.13,<2.0a0",
            "__glibc >=2.17",
            'pywin32[when="__win"]',
            'tomli >=1.1[when="python<3.11dev0"]',
            "msgpack-python 1.0.*",
            "foo 1.2.3 py_0",
        ],
        names=names,
        extra_depends={"socks": ["pysocks >=1.5.6,!=1.5.7"]},
    )
    assert got.requires_python == ">=3.9"
    assert got.requires_dist == (
        "torch>=2.1",
        'pywin32; sys_platform == "win32"',
        'tomli>=1.1; python_version < "3.11"',
        "msgpack==1.0.*",
        "foo==1.2.3",
        'pysocks>=1.5.6,!=1.5.7; extra == "socks"',
    )
    assert got.virtual == ("__glibc >=2.17",)
    assert got.external == ("libzlib >=1.2.13,<2.0a0",)
    assert got.extras == {"socks": ('pysocks>=1.5.6,!=1.5.7; extra == "socks"',)}
    assert got.losses == ("'foo 1.2.3 py_0': build string 'py_0' dropped",)


def test_round_trip_requires_dist_through_conda(names: NameMap) -> None:
    original = [
        "torch>=2.1",
        'pywin32; sys_platform == "win32"',
        'tomli>=1.1; python_version < "3.11"',
        'pysocks>=1.5.6,!=1.5.7; extra == "socks"',
    ]
    there = requires_dist_to_conda(original, names=names, environment=None)
    back = conda_depends_to_requires_dist(
        there.depends, names=names, extra_depends=there.extra_depends
    )
    assert back.requires_dist == tuple(original)


# --- property tests: py-rattler judges the conda side ----------------------------------------

_NUM = st.integers(0, 3)


@st.composite
def _versions(draw: st.DrawFn, release: tuple[int, int], suffixes: bool) -> str:
    parts = draw(st.lists(_NUM, min_size=release[0], max_size=release[1]))
    text = ".".join(map(str, parts))
    if suffixes and draw(st.booleans()):
        text += draw(st.sampled_from(["a", "b", "rc"])) + str(draw(_NUM))
    if suffixes and draw(st.booleans()):
        text += f".post{draw(_NUM)}"
    return str(Version(text))


@st.composite
def _specifiers(draw: st.DrawFn, release: tuple[int, int], suffixes: bool) -> str:
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "~=", "==*", "!=*"]))
    v = Version(draw(_versions(release, suffixes)))
    if op.endswith("*"):
        return f"{op[:-1]}{'.'.join(map(str, v.release))}.*"
    if op == "~=" and len(v.release) < 2:
        v = Version(f"{v.release[0]}.0")
    return f"{op}{v}"


def _agree(spec: str, version: str) -> None:
    conda, losses = specifier_to_conda(spec)
    pep = SpecifierSet(spec).contains(version, prereleases=True)
    candidate = rattler.Version(conda_version(version))
    ours = rattler.VersionSpec(conda).matches(candidate) if conda else True
    if pep != ours:
        # the one documented loss: conda's '>V' admits V's post-releases
        assert spec.startswith(">") and not spec.startswith(">=") and losses, (spec, version, conda)
        assert Version(version).is_postrelease, (spec, version, conda)


@settings(max_examples=1500, deadline=None)
@given(_specifiers((1, 4), suffixes=False), _versions((1, 4), suffixes=False))
def test_property_final_releases_of_any_length_agree(spec: str, version: str) -> None:
    """Finals of any release length, every operator and wildcard: exact agreement."""
    _agree(spec, version)


@settings(max_examples=2000, deadline=None)
@given(_specifiers((3, 3), suffixes=True), _versions((3, 3), suffixes=True))
def test_property_pre_and_post_releases_agree_at_one_release_length(
    spec: str, version: str
) -> None:
    """Pre- and post-releases, where a project keeps one release length (docs: the loss)."""
    _agree(spec, version)


@settings(max_examples=400, deadline=None)
@given(_versions((3, 3), suffixes=True), _versions((3, 3), suffixes=True))
def test_property_conda_orders_our_spelling_as_pep440_does(a: str, b: str) -> None:
    ours = rattler.Version(conda_version(a)), rattler.Version(conda_version(b))
    assert (ours[0] < ours[1]) == (Version(a) < Version(b))
    assert (ours[0] == ours[1]) == (Version(a) == Version(b))


@pytest.mark.parametrize(
    "candidate", ["2.0.0rc1", "2.0rc1", "2rc1", "2.0.0.dev0", "2.0.dev0", "2.0.0", "2.0.0a0"]
)
def test_upper_bound_floor_excludes_every_spelling_of_the_series(candidate: str) -> None:
    """``<2`` and ``<2.0.0`` both become ``<2dev0``, below all spellings of 2's pre/dev releases."""
    for spec in ("<2", "<2.0", "<2.0.0"):
        conda, _ = specifier_to_conda(spec)
        assert conda == "<2dev0"
        assert not rattler.VersionSpec(conda).matches(rattler.Version(candidate))
        assert not SpecifierSet(spec).contains(candidate, prereleases=True)
    assert rattler.VersionSpec("<2dev0").matches(rattler.Version("1.99.post3"))


def test_dev_release_ordering_is_the_documented_loss() -> None:
    """conda sorts 1.5.0.dev0 above 1.5.0rc1; PEP 440 below. No specifier spelling can fix it."""
    assert rattler.Version("1.5.0.dev0") > rattler.Version("1.5.0rc1")
    assert Version("1.5.0.dev0") < Version("1.5.0rc1")


_PYTHONS = [f"{x}.{y}.{z}" for x in (2, 3, 4) for y in (0, 1, 7, 9, 10, 11, 12) for z in (0, 1)]
_PYTHONS += ["3.10.0rc1", "3.11.0a1", "3.13.0b2"]  # conda-forge spelling of pre-release Pythons


def _rattler_holds(condition: str, python: str) -> bool:
    record = rattler.PackageRecord(
        name="python",
        version=python,
        build=rattler.BuildString("0"),
        build_number=0,
        subdir="noarch",
    )
    tokens = re.findall(r"\(|\)|\band\b|\bor\b|[^\s()]+", condition)
    words = [
        t if t in ("(", ")", "and", "or") else str(rattler.MatchSpec(t).matches(record))
        for t in tokens
    ]
    return bool(eval(" ".join(words)))  # only True/False/and/or/parentheses remain


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["python_version", "python_full_version"]),
    st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "~="]),
    st.sampled_from(
        ["2.7", "3", "3.0", "3.9", "3.10", "3.11", "3.10.1", "3.11.0", "3.*", "3.10.*", "4.0"]
    ),
)
def test_property_python_markers_as_when(variable: str, op: str, value: str) -> None:
    """For every Python, the when= condition holds exactly when the marker does."""
    if value.endswith(".*") and op not in ("==", "!="):
        return
    if op == "~=" and "." not in value:
        return
    marker = f'{variable} {op} "{value}"'
    got = requires_dist_to_conda([f"x; {marker}"], names=NameMap(), environment=None)
    for python in _PYTHONS:
        env = {"python_full_version": python, "python_version": ".".join(python.split(".")[:2])}
        expected = Marker(marker).evaluate(env)
        if not got.depends:
            assert not expected, (marker, python)
        elif got.depends == ("x",):
            assert expected, (marker, python)
        else:
            (spec,) = got.depends
            condition = spec.split('[when="', 1)[1][:-2]
            assert _rattler_holds(condition, python) == expected, (marker, python, condition)


def test_real_solver_honours_when_and_extras(tmp_path: Path, names: NameMap) -> None:
    """py-rattler solves a channel whose record carries our when= conditions and extra_depends."""
    got = requires_dist_to_conda(
        [
            'pywin32; sys_platform == "win32"',
            'typing-extensions; python_version < "3.10"',
            'pysocks>=1.5.6; extra == "socks"',
        ],
        names=names,
        environment=None,
    )
    (tmp_path / "noarch").mkdir()
    packages: dict[str, object] = {}

    def add(name: str, version: str, **extra: object) -> None:
        packages[f"{name}-{version}-0.tar.bz2"] = {
            "name": name, "version": version, "build": "0", "build_number": 0, "depends": [],
            "subdir": "noarch", "size": 1, "md5": "0" * 32, "sha256": "0" * 64,
            "timestamp": 1700000000000, **extra,
        }  # fmt: skip

    add(
        "demo",
        "1.0",
        depends=list(got.depends),
        extra_depends={k: list(v) for k, v in got.extra_depends.items()},
    )
    for name, version in [("python", "3.9.0"), ("python", "3.12.0"), ("pywin32", "306"),
                          ("typing_extensions", "4.0"), ("pysocks", "1.7.1")]:  # fmt: skip
        add(name, version)
    repodata = {
        "info": {"subdir": "noarch"},
        "packages": packages,
        "packages.conda": {},
        "repodata_version": 2,
    }
    (tmp_path / "noarch" / "repodata.json").write_text(json.dumps(repodata))

    def solve(specs: list[str], *virtual: tuple[str, str]) -> list[str]:
        vps = [
            rattler.GenericVirtualPackage(
                rattler.PackageName(n), rattler.Version(v), rattler.BuildString("0")
            )
            for n, v in virtual
        ]
        channel = rattler.Channel(str(tmp_path))
        gateway = rattler.Gateway(cache_dir=tmp_path / "cache")
        records = asyncio.run(
            rattler.solve(
                [channel], specs, platforms=["noarch"], virtual_packages=vps, gateway=gateway
            )
        )
        return sorted(r.name.normalized for r in records)

    assert solve(["demo", "python 3.9.*"], ("__win", "0")) == [
        "demo",
        "python",
        "pywin32",
        "typing_extensions",
    ]
    assert solve(["demo", "python 3.12.*"], ("__linux", "6.1"), ("__unix", "0")) == [
        "demo",
        "python",
    ]
    assert solve(["demo[extras=[socks]]", "python 3.12.*"], ("__linux", "6.1")) == [
        "demo",
        "pysocks",
        "python",
    ]


# --- real artifacts ------------------------------------------------------------------------------


def _wheel_requires(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = email.parser.BytesParser().parsebytes(archive.read(metadata))
    return [str(v) for v in message.get_all("Requires-Dist") or []]


def test_every_fixture_wheel_requires_dist_converts(fixtures_dir: Path, names: NameMap) -> None:
    """Real Requires-Dist (requests, pytest, attrs, flit, notebook_shim ...) become valid specs."""
    seen = 0
    for wheel in sorted((fixtures_dir / "wheels").glob("*.whl")):
        requires = _wheel_requires(wheel)
        got = requires_dist_to_conda(requires, names=names, environment=None)
        for spec in [*got.depends, *(s for group in got.extra_depends.values() for s in group)]:
            rattler.MatchSpec(spec)
            seen += 1
        back = conda_depends_to_requires_dist(
            got.depends, names=names, extra_depends=got.extra_depends
        )
        assert len(back.requires_dist) == len(got.depends) + sum(
            map(len, got.extra_depends.values())
        )
    assert seen > 40
    requests = next((fixtures_dir / "wheels").glob("requests-2.32.3-*.whl"))
    got = requires_dist_to_conda(_wheel_requires(requests), names=names, environment=None)
    assert got.depends == ("charset-normalizer >=2,<4dev0", "idna >=2.5,<4dev0",
                           "urllib3 >=1.21.1,<3dev0", "certifi >=2017.4.17")  # fmt: skip
    assert got.extra_depends == {
        "socks": ("pysocks >=1.5.6,!=1.5.7",),
        "use-chardet-on-py3": ("chardet >=3.0.2,<6dev0",),
    }
    pytest_wheel = next((fixtures_dir / "wheels").glob("pytest-8.3.5-*.whl"))
    got = requires_dist_to_conda(_wheel_requires(pytest_wheel), names=names, environment=None)
    assert 'colorama[when="__win"]' in got.depends
    assert 'exceptiongroup >=1.0.0rc8[when="python<3.11dev0"]' in got.depends  # upstream spelling


def test_every_fixture_repodata_record_reads_back(fixtures_dir: Path, names: NameMap) -> None:
    """Thousands of real conda records (Anaconda main, conda-forge, pytorch ...) read back as wheel
    metadata without an error; Python packages land in Requires-Dist, libraries in external."""
    records = 0
    external: set[str] = set()
    for path in sorted((fixtures_dir / "repodata").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for key in ("packages", "packages.conda"):
            for record in (data.get(key) or {}).values():
                got = conda_depends_to_requires_dist(
                    record.get("depends") or [],
                    names=names,
                    extra_depends=record.get("extra_depends"),
                )
                external |= {s.split()[0] for s in got.external}
                records += 1
    assert records > 5000
    assert {"openssl", "libzlib", "libgcc-ng"} <= external
    assert not external & {"numpy", "six", "requests", "setuptools"}


def test_conda_spec_forms_rattler_reads(names: NameMap) -> None:
    got = conda_depends_to_requires_dist(
        [
            "python 3.11.*",
            "pkg==1.0=py_0",
            "conda-forge::numpy >=1.21",
            'bar[version=">=1", build="py*"]',
            "openssl >=1.1.1g,<1.1.2a",
            "six >=1.10|<1.5",
        ],
        names=names,
    )
    assert got.requires_python == "==3.11.*"
    assert got.requires_dist == ("pkg==1.0", "numpy>=1.21", "bar>=1", "six")
    assert got.external == ("openssl >=1.1.1g,<1.1.2a",)
    assert any("py_0" in loss for loss in got.losses) and any("|" in loss for loss in got.losses)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(_specifiers((1, 3), suffixes=False), min_size=1, max_size=3),
    st.lists(_versions((1, 3), suffixes=False), min_size=5, max_size=5),
)
def test_property_reverse_gives_back_the_same_version_set(
    specs: list[str], versions: list[str]
) -> None:
    """PEP 440 -> conda -> PEP 440 accepts the same versions (or says it cannot: '|')."""
    original = SpecifierSet(",".join(specs))
    conda, _ = specifier_to_conda(original)
    try:
        back = SpecifierSet(conda_spec_to_pep440(conda))
    except MappingError:
        assert "|" in conda
        return
    for v in versions:
        assert back.contains(v, prereleases=True) == original.contains(v, prereleases=True), (
            original,
            conda,
            back,
            v,
        )


def test_a_pypi_wheel_with_extras_and_markers(
    pypi_wheel: Callable[..., Path], names: NameMap
) -> None:
    """black's real metadata: conda-forge names, python markers, and four extras."""
    wheel = pypi_wheel("black==24.10.0")
    requires = _wheel_requires(wheel)
    noarch = requires_dist_to_conda(requires, names=names, environment=None)
    assert "mypy_extensions >=0.4.3" in noarch.depends  # conda-forge spells it with "_"
    assert 'tomli >=1.1.0[when="python<3.11dev0"]' in noarch.depends
    assert noarch.extra_depends["jupyter"] == ("ipython >=7.8.0", "tokenize-rt >=3.2.0")
    assert set(noarch.extra_depends) == {"colorama", "d", "jupyter", "uvloop"}
    fixed = requires_dist_to_conda(requires, names=names, environment=LINUX_311)
    assert not any(spec.startswith(("tomli", "typing_extensions")) for spec in fixed.depends)
    assert not any("when=" in spec for spec in fixed.depends)
    assert fixed.extra_depends == noarch.extra_depends
