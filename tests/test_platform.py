"""Wheel tags ⇄ conda subdir and pins (mapping/platform.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.tags import Tag, parse_tag

from conda_wheel_bridge.errors import UnsupportedTag
from conda_wheel_bridge.mapping.platform import (
    marker_environment,
    subdirs_for_wheel,
    tags_for_conda,
    target_for_wheel,
    targets_for_wheel,
)


def tags(text: str) -> frozenset[Tag]:
    return frozenset(parse_tag(text))


@pytest.mark.parametrize(
    ("tag", "subdir", "depends", "site"),
    [
        ("py3-none-any", "noarch", ("python >=3.9",), "site-packages"),
        ("py2.py3-none-any", "noarch", ("python >=3.9",), "site-packages"),
        (
            "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
            "linux-64",
            ("python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311", "__glibc >=2.17"),
            "lib/python3.11/site-packages",
        ),
        (
            "cp312-cp312-manylinux_2_28_aarch64",
            "linux-aarch64",
            ("python >=3.12,<3.13.0a0", "python_abi 3.12.* *_cp312", "__glibc >=2.28"),
            "lib/python3.12/site-packages",
        ),
        (
            "cp310-cp310-manylinux1_x86_64",
            "linux-64",
            ("python >=3.10,<3.11.0a0", "python_abi 3.10.* *_cp310", "__glibc >=2.5"),
            "lib/python3.10/site-packages",
        ),
        (
            "cp313-cp313t-manylinux_2_17_ppc64le",
            "linux-ppc64le",
            ("python >=3.13,<3.14.0a0", "python_abi 3.13.* *_cp313t", "__glibc >=2.17"),
            "lib/python3.13t/site-packages",
        ),
        (
            "cp311-cp311-macosx_10_9_x86_64",
            "osx-64",
            ("python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311", "__osx >=10.9"),
            "lib/python3.11/site-packages",
        ),
        (
            "cp311-cp311-win_amd64",
            "win-64",
            ("python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311", "__win"),
            "Lib/site-packages",
        ),
        (
            "cp39-abi3-manylinux_2_17_s390x",
            "linux-s390x",
            ("python >=3.9", "__glibc >=2.17"),
            "site-packages",
        ),
        ("py3-none-win_arm64", "win-arm64", ("python >=3.9", "__win"), "site-packages"),
        (
            "cp311-none-linux_x86_64",
            "linux-64",
            ("python >=3.11,<3.12.0a0",),
            "lib/python3.11/site-packages",
        ),
    ],
)
def test_target_for_wheel(tag: str, subdir: str, depends: tuple[str, ...], site: str) -> None:
    target = target_for_wheel(tags(tag), ">=3.9")
    assert target.subdir == subdir
    assert target.depends == depends
    assert target.site_packages == site
    assert target.noarch_python == (site == "site-packages")


def test_several_manylinux_tags_keep_the_lowest_floor() -> None:
    target = target_for_wheel(
        tags("cp311-cp311-manylinux_2_28_x86_64.manylinux_2_17_x86_64.manylinux2010_x86_64"), None
    )
    assert "__glibc >=2.12" in target.depends
    assert not any(d.startswith("__glibc >=2.17") for d in target.depends)


def test_universal2_reaches_both_mac_subdirs_with_apple_silicon_floor() -> None:
    found = targets_for_wheel(tags("cp311-cp311-macosx_10_9_universal2"), None)
    assert [t.subdir for t in found] == ["osx-64", "osx-arm64"]
    assert "__osx >=10.9" in found[0].depends
    assert "__osx >=11.0" in found[1].depends
    with pytest.raises(UnsupportedTag, match="several subdirs"):
        target_for_wheel(tags("cp311-cp311-macosx_10_9_universal2"), None)
    assert (
        target_for_wheel(
            tags("cp311-cp311-macosx_10_9_universal2"), None, subdir="osx-arm64"
        ).subdir
        == "osx-arm64"
    )


def test_musllinux_refused_unless_allowed() -> None:
    with pytest.raises(UnsupportedTag, match="musllinux"):
        target_for_wheel(tags("cp311-cp311-musllinux_1_2_x86_64"), None)
    target = target_for_wheel(tags("cp311-cp311-musllinux_1_2_x86_64"), None, allow_musllinux=True)
    assert "__musl >=1.2" in target.depends


def test_musllinux_beside_manylinux_uses_glibc() -> None:
    target = target_for_wheel(
        tags("py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64"), None
    )
    assert target.subdir == "linux-64"
    assert "__glibc >=2.12" in target.depends
    assert not any(d.startswith("__musl") for d in target.depends)


def test_abi3_takes_the_lowest_version_and_wins_over_a_specific_abi() -> None:
    target = target_for_wheel(tags("cp314-cp314t.abi3-manylinux_2_17_x86_64"), None)
    assert target.depends[0] == "python >=3.14"
    assert target.python_version is None


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("pp310-pypy310_pp73-manylinux_2_17_x86_64", "interpreter"),
        ("cp310.cp311-cp310.cp311-manylinux_2_17_x86_64", "several CPython ABIs"),
        ("cp311-cp311-freebsd_14_x86_64", "no conda subdir"),
        ("cp311-cp311-manylinux_2_17_mips", "no conda subdir"),
    ],
)
def test_unsupported_tags(tag: str, reason: str) -> None:
    with pytest.raises(UnsupportedTag, match=reason):
        target_for_wheel(tags(tag), None, where="x.whl")


def test_python2_only_wheel_is_pinned_below_3() -> None:
    assert target_for_wheel(tags("py2-none-any"), None).depends == ("python <3",)


def test_no_requires_python_means_any_python() -> None:
    assert target_for_wheel(tags("py3-none-any"), None).depends == ("python",)


def test_marker_environment_for_fixed_targets_only() -> None:
    env = marker_environment("win-64", (3, 12))
    assert env is not None
    assert env["sys_platform"] == "win32" and env["python_version"] == "3.12"
    assert env["platform_machine"] == "AMD64"
    assert marker_environment("noarch", None) is None
    assert target_for_wheel(tags("py3-none-any"), None).marker_environment is None
    fixed = target_for_wheel(tags("cp311-cp311-macosx_11_0_arm64"), None).marker_environment
    assert fixed is not None and fixed["sys_platform"] == "darwin"
    assert fixed["platform_machine"] == "arm64"


def test_subdirs_for_wheel() -> None:
    assert subdirs_for_wheel(tags("py3-none-any")) == ("noarch",)
    assert subdirs_for_wheel(tags("cp311-cp311-macosx_11_0_universal2")) == ("osx-64", "osx-arm64")


@pytest.mark.parametrize(
    ("subdir", "depends", "expected"),
    [
        ("noarch", ["python >=3.8"], ["py3-none-any"]),
        (
            "linux-64",
            ["python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311", "__glibc >=2.17"],
            ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"],
        ),
        (
            "linux-aarch64",
            ["python_abi 3.13.* *_cp313t", "__glibc >=2.28"],
            ["cp313-cp313t-manylinux_2_28_aarch64"],
        ),
        ("linux-64", ["libzlib >=1.3"], ["py3-none-linux_x86_64"]),
        ("osx-arm64", ["python >=3.12,<3.13.0a0"], ["cp312-cp312-macosx_11_0_arm64"]),
        ("osx-64", ["python", "__osx >=10.13"], ["py3-none-macosx_10_13_x86_64"]),
        (
            "win-64",
            ["python >=3.10,<3.11.0a0", "python_abi 3.10.* *_cp310"],
            ["cp310-cp310-win_amd64"],
        ),
    ],
)
def test_tags_for_conda(subdir: str, depends: list[str], expected: list[str]) -> None:
    assert [str(t) for t in tags_for_conda(subdir, depends)] == expected


def test_tags_for_conda_refuses_unknown_subdir() -> None:
    with pytest.raises(UnsupportedTag):
        tags_for_conda("zos-z", [])


_PLATFORMS = st.sampled_from(
    [
        "manylinux_2_17_x86_64",
        "manylinux_2_28_aarch64",
        "manylinux2014_ppc64le",
        "macosx_11_0_arm64",
        "macosx_10_13_x86_64",
        "win_amd64",
        "win_arm64",
        "manylinux1_x86_64",
    ]
)


@given(minor=st.integers(min_value=8, max_value=14), ft=st.booleans(), platform=_PLATFORMS)
def test_round_trip_cpython_tags(minor: int, ft: bool, platform: str) -> None:
    """wheel tag → conda target → wheel tags gives back a tag that means the same thing."""
    t = "t" if ft else ""
    tag = Tag(f"cp3{minor}", f"cp3{minor}{t}", platform)
    target = target_for_wheel(frozenset([tag]), None)
    back = tags_for_conda(target.subdir, target.depends)
    again = target_for_wheel(frozenset(back), None)
    assert (again.subdir, again.depends) == (target.subdir, target.depends)
    assert back[0].interpreter == tag.interpreter and back[0].abi == tag.abi


def test_abi3_target_fixes_the_platform_markers_but_not_the_python_ones() -> None:
    """An abi3 manylinux wheel fixes sys_platform and platform_machine, not python_version."""
    target = target_for_wheel(
        frozenset(parse_tag("cp39-abi3-manylinux_2_17_x86_64")), ">=3.9"
    )
    env = target.marker_environment
    assert env is not None
    assert env["sys_platform"] == "linux" and env["platform_machine"] == "x86_64"
    assert "python_version" not in env and "python_full_version" not in env


def test_cpython_target_leaves_the_patch_release_open() -> None:
    target = target_for_wheel(frozenset(parse_tag("cp311-cp311-win_amd64")), None)
    env = target.marker_environment
    assert env is not None and env["python_version"] == "3.11"
    assert "python_full_version" not in env


def test_old_cpython_abi_tag_carries_the_pymalloc_flag() -> None:
    """pip on CPython 3.7 accepts cp37-cp37m, not cp37-cp37; 3.8 dropped the flag."""
    old = tags_for_conda("osx-64", ["python >=3.7,<3.8.0a0", "__osx >=10.9"])
    assert {str(t) for t in old} == {"cp37-cp37m-macosx_10_9_x86_64"}
    pinned = tags_for_conda("osx-64", ["python_abi 3.7.* *_cp37m", "__osx >=10.9"])
    assert {str(t) for t in pinned} == {"cp37-cp37m-macosx_10_9_x86_64"}
    new = tags_for_conda("linux-64", ["python_abi 3.8.* *_cp38", "__glibc >=2.17"])
    assert {(t.interpreter, t.abi) for t in new} == {("cp38", "cp38")}


def test_depends_without_spaces_still_give_the_floor() -> None:
    tags = tags_for_conda("linux-64", ["__glibc>=2.28", "python_abi 3.11.* *_cp311"])
    assert {str(t) for t in tags} == {"cp311-cp311-manylinux_2_28_x86_64"}
