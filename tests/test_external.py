"""PEP 725 DepURLs <-> conda packages through conda-forge's PEP 804 mapping."""

from __future__ import annotations

import email.message

import pytest
import rattler

from conda_wheel_bridge.errors import MappingError
from conda_wheel_bridge.mapping.external import (
    EXTERNAL_FIELDS,
    PROVIDES_EXTERNAL_EXTRA,
    conda_spec_to_depurl,
    conda_to_depurl,
    conda_to_external,
    depurl_to_conda,
    external_field_values,
    external_to_conda,
    external_to_conda_depends,
    parse_depurl,
)
from conda_wheel_bridge.mapping.names import load_name_map


def test_fields_are_pep_725_names() -> None:
    assert EXTERNAL_FIELDS == ("Requires-External-Dep", "Requires-External")
    assert PROVIDES_EXTERNAL_EXTRA == "Provides-External-Extra"


def test_parse_depurl_parts() -> None:
    dep = parse_depurl("dep:github/OpenMathLib/OpenBLAS@%3E%3D0.3?foo=bar#sub")
    assert (dep.type, dep.namespace, dep.name) == ("github", "OpenMathLib", "OpenBLAS")
    assert (dep.version, dep.qualifiers, dep.subpath) == (">=0.3", "foo=bar", "sub")
    assert dep.id == "dep:github/OpenMathLib/OpenBLAS?foo=bar"


@pytest.mark.parametrize("bad", ["zlib", "dep:zlib", "pkg:generic/zlib", "dep:/"])
def test_not_a_depurl(bad: str) -> None:
    with pytest.raises(MappingError):
        parse_depurl(bad)


@pytest.mark.parametrize(
    ("depurl", "conda"),
    [
        ("dep:generic/zlib", ("zlib",)),
        ("dep:generic/zlib@>=1.2.13", ("zlib >=1.2.13",)),
        ("dep:generic/zlib@1.3.1", ("zlib ==1.3.1",)),
        ("dep:generic/openssl@>=3,<4", ("openssl >=3,<4dev0",)),
        ("dep:generic/libffi", ("libffi",)),  # the first alternative, not the MSYS2 repackaging
        ("dep:generic/libyaml", ("yaml",)),
        ("dep:generic/openblas", ("libblas * *_openblas",)),
        ("dep:generic/openblas@>=0.3", ("libblas * *_openblas",)),  # proxy package keeps no version
        ("dep:virtual/interface/lapack@>=3.7.1", ("liblapack >=3.7.1", "liblapacke >=3.7.1")),
        ("dep:virtual/interface/blas", ("libblas",)),
        ("dep:virtual/compiler/c", ("c-compiler",)),
        ("dep:github/OpenMathLib/OpenBLAS", ("libblas * *_openblas",)),  # registry alias
        ("dep:github/Kitware/CMake", ("cmake",)),
        ("dep:generic/cmake?repository_url=https://gitlab.kitware.com/cmake/cmake", ("cmake",)),
        ("dep:github/Reference-LAPACK/lapack", ("lapack",)),
        ("dep:conda/ncurses@>=6.4", ("ncurses >=6.4",)),
        ("dep:pypi/torch@>=2", ("pytorch >=2",)),
    ],
)
def test_depurl_to_conda(depurl: str, conda: tuple[str, ...]) -> None:
    got = depurl_to_conda(depurl, names=load_name_map())
    assert got == conda
    for spec in got:
        rattler.MatchSpec(spec)  # every spec is one conda accepts


@pytest.mark.parametrize(
    ("depurl", "reason"),
    [
        ("dep:generic/not-a-known-library", "no conda package known"),
        ("dep:virtual/compiler/cuda", "lists no package"),
        ("dep:generic/libraqm", "lists no package"),
        ("dep:generic/zlib@~=1.2", "neither a version nor a range"),
    ],
)
def test_unknown_depurl_is_an_error_not_a_silent_drop(depurl: str, reason: str) -> None:
    with pytest.raises(MappingError) as info:
        external_to_conda([depurl])
    assert reason in str(info.value) and depurl.split("@")[0] in str(info.value)


def test_external_to_conda_reads_both_fields_and_markers() -> None:
    got = external_to_conda(
        [
            "dep:generic/zlib",
            'dep:generic/openssl; sys_platform == "linux"',
            "dep:generic/libffi; sys_platform == 'win32'",
            'dep:generic/tk; extra == "gui"',
            "libxml2 (>=2.9)",
            "dep:generic/zlib",
        ]
    )
    assert got == ("zlib", 'openssl[when="__linux"]', 'libffi[when="__win"]', "libxml2 >=2.9")
    fixed = external_to_conda(
        ['dep:generic/openssl; sys_platform == "linux"', "dep:generic/libffi; os_name == 'nt'"],
        environment={"sys_platform": "linux", "os_name": "posix"},
    )
    assert fixed == ("openssl",)


def test_legacy_requires_external_unknown_name_is_an_error() -> None:
    with pytest.raises(MappingError, match="Requires-External"):
        external_to_conda(["C"])


@pytest.mark.parametrize(
    ("conda", "depurl"),
    [
        ("libzlib", "dep:generic/zlib"),
        ("zlib", "dep:generic/zlib"),
        ("openssl", "dep:generic/openssl"),
        ("libffi", "dep:generic/libffi"),
        ("libblas", "dep:virtual/interface/blas"),
        ("libopenblas", "dep:generic/openblas"),
        ("yaml", "dep:generic/libyaml"),
        ("liblapack", "dep:virtual/interface/lapack"),
        ("ncurses", None),
        ("libgcc-ng", None),
    ],
)
def test_conda_to_depurl(conda: str, depurl: str | None) -> None:
    assert conda_to_depurl(conda) == depurl


def test_conda_spec_to_depurl_keeps_versions_and_builds() -> None:
    assert conda_spec_to_depurl("libzlib >=1.2.13,<2.0a0") == (
        "dep:generic/zlib@>=1.2.13,<2.0a0",
        True,
    )
    assert conda_spec_to_depurl("libblas 3.9.* *_openblas") == ("dep:generic/openblas", False)
    assert conda_spec_to_depurl("ncurses") == ("dep:conda/ncurses", True)
    assert conda_spec_to_depurl("foo 1.2.*") == ("dep:conda/foo@>=1.2.dev0,<1.3.dev0", True)
    assert conda_spec_to_depurl("foo !=1.2") == ("dep:conda/foo", False)


def test_conda_to_external_both_fields() -> None:
    got = conda_to_external(
        [
            "libzlib >=1.2.13,<2.0a0",
            "openssl >=3.3,<4.0a0",
            "ncurses",
            'libffi[when="__linux"]',
            "foo !=1",
        ]
    )
    assert got.requires_external_dep == (
        "dep:generic/zlib@>=1.2.13,<2.0a0",
        "dep:generic/openssl@>=3.3,<4.0a0",
        "dep:conda/ncurses",
        'dep:generic/libffi; sys_platform == "linux"',
        "dep:conda/foo",
    )
    assert got.requires_external == (
        "libzlib (>=1.2.13,<2.0a0)",
        "openssl (>=3.3,<4.0a0)",
        "ncurses",
        "libffi",
        "foo",
    )
    assert len(got.losses) == 1 and "foo !=1" in got.losses[0]
    with pytest.raises(MappingError, match="virtual package"):
        conda_to_external(["__glibc >=2.17"])


def test_round_trip_conda_to_depurl_to_conda() -> None:
    """A non-Python dependency survives conda -> wheel -> conda as a package that provides it."""
    for spec, back in [
        # zlib (the -dev package) needs libzlib
        ("libzlib >=1.2.13,<2.0a0", "zlib >=1.2.13,<2.0a0"),
        ("openssl >=3", "openssl >=3"),
        ("ncurses >=6.4", "ncurses >=6.4"),
    ]:
        deps = conda_to_external([spec]).requires_external_dep
        assert external_to_conda(deps) == (back,)


def test_external_extras_go_to_extra_depends() -> None:
    """PEP 725's NAVis example: Provides-External-Extra: nat, with dep:cran/... would be unknown;
    here a mapped library behind an extra, and one needed with or without it."""
    got = external_to_conda_depends(
        [
            'dep:generic/tk; extra == "gui"',
            'dep:generic/libffi; extra == "gui" or sys_platform == "win32"',
            "dep:generic/zlib",
        ]
    )
    assert got.depends == ('libffi[when="__win"]', "zlib")
    assert got.extra_depends == {"gui": ("tk", "libffi")}
    with pytest.raises(MappingError, match="dep:cran/nat"):
        external_to_conda_depends(['dep:cran/nat; extra == "nat"'])


def test_field_values_prefer_pep_725_over_legacy_copies() -> None:
    """A wheel we write carries both fields; reading it back must not read the copies twice."""
    written = conda_to_external(["libzlib >=1.2.13", "ncurses"])
    message = email.message.Message()
    for value in written.requires_external_dep:
        message["Requires-External-Dep"] = value
    for value in written.requires_external:
        message["Requires-External"] = value
    values = external_field_values(message)
    assert values == ["dep:generic/zlib@>=1.2.13", "dep:conda/ncurses"]
    assert external_to_conda(values) == ("zlib >=1.2.13", "ncurses")
    legacy_only = email.message.Message()
    legacy_only["Requires-External"] = "libxml2 (>=2.9)"
    legacy_only["Requires-External"] = "dep:generic/zlib"
    assert external_field_values(legacy_only) == ["libxml2 (>=2.9)", "dep:generic/zlib"]
