"""Tests for wheel file names (parse and format, property round trips) and member-name safety."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import Version

from conda_wheel_bridge.errors import BadArchive, BadMetadata, CwbError, UnsafePath, UnsupportedTag
from conda_wheel_bridge.wheelname import (
    MAX_TAGS,
    check_member_name,
    parse_tags,
    parse_wheel_filename,
    wheel_filename,
)

# --- parsing -------------------------------------------------------------------------------


def test_parse_plain_filename() -> None:
    fn = parse_wheel_filename(
        "MarkupSafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    assert (fn.name, fn.version, fn.build, fn.variant_label) == ("MarkupSafe", "3.0.2", None, None)
    assert fn.tags == {
        Tag("cp311", "cp311", "manylinux_2_17_x86_64"),
        Tag("cp311", "cp311", "manylinux2014_x86_64"),
    }


def test_parse_build_tag_and_variant_label() -> None:
    assert parse_wheel_filename("build_tag-1.0.0-1-py2.py3-none-any.whl").build == "1"
    fn = parse_wheel_filename("test_package-0-py3-none-any-fbe82642.whl")
    assert (fn.build, fn.variant_label) == (None, "fbe82642")
    assert parse_wheel_filename("test_package-0-py3-none-any-null.whl").variant_label == "null"
    both = parse_wheel_filename("x-1.0-2b-cp311-cp311-linux_x86_64-abc.whl")
    assert (both.build, both.variant_label) == ("2b", "abc")
    assert both.tags == {Tag("cp311", "cp311", "linux_x86_64")}


@pytest.mark.parametrize(
    ("filename", "error"),
    [
        ("demo-1.0.tar.gz", BadArchive),
        ("demo-1.0-py3-none.whl", BadArchive),
        ("demo-not a version-py3-none-any.whl", BadArchive),
        ("demo-1.0-py3-none-any-Upper.whl", BadArchive),
        ("demo-1.0-py3..x-none-any.whl", UnsupportedTag),
        ("a-b-c-d-e-f-g-h.whl", BadArchive),
    ],
)
def test_parse_bad_filenames_name_the_file(filename: str, error: type[CwbError]) -> None:
    with pytest.raises(error) as info:
        parse_wheel_filename(filename)
    assert str(info.value).startswith(filename + ": ")


@given(st.text(st.characters(codec="utf-8"), max_size=80).map(lambda t: t + ".whl"))
def test_any_file_name_parses_or_raises_a_cwb_error(filename: str) -> None:
    try:
        parsed = parse_wheel_filename(filename)
    except CwbError as exc:
        assert str(exc).startswith(filename + ": ")
    else:
        assert parsed.tags and "-" not in parsed.name


# --- formatting -------------------------------------------------------------------------------


def test_wheel_filename_examples() -> None:
    assert (
        wheel_filename("Foo.Bar-baz", "1.0-1", "py3-none-any")
        == "foo_bar_baz-1.0.post1-py3-none-any.whl"
    )
    tags = [
        Tag("cp311", "cp311", "manylinux_2_17_x86_64"),
        Tag("cp311", "cp311", "manylinux2014_x86_64"),
    ]
    assert (
        wheel_filename("markupsafe", "3.0.2", tags)
        == "markupsafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    assert (
        wheel_filename("t", "0", "py3-none-any", variant_label="fbe82642")
        == "t-0-py3-none-any-fbe82642.whl"
    )
    assert wheel_filename("t", "0", "py3-none-any", build="1") == "t-0-1-py3-none-any.whl"
    # a one-shot iterator works as well as a list
    assert wheel_filename("t", "0", iter(tags)).endswith(
        "-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )
    with pytest.raises(UnsupportedTag, match="not a product"):
        wheel_filename("t", "0", [Tag("py3", "none", "any"), Tag("cp311", "cp311", "linux_x86_64")])
    with pytest.raises(BadMetadata):
        wheel_filename("t", "0", "py3-none-any", build="x1")
    with pytest.raises(BadMetadata):
        wheel_filename("t", "0", "py3-none-any", variant_label="UPPER")


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_names = st.builds(
    lambda head, mid, tail: head + mid + tail,
    st.sampled_from(_ALNUM),
    st.text(_ALNUM + "._-", max_size=20),
    st.sampled_from(_ALNUM),
)
_versions = st.builds(
    lambda rel, pre, post, dev, local: ".".join(map(str, rel)) + pre + post + dev + local,
    st.lists(st.integers(0, 999), min_size=1, max_size=4),
    st.sampled_from(["", "a1", "rc2"]),
    st.sampled_from(["", ".post1", "-2"]),
    st.sampled_from(["", ".dev3"]),
    st.sampled_from(["", "+local.7"]),
)
_tag_part = st.text(_LOWER + "0123456789_", min_size=1, max_size=12)
_interp = st.builds(
    lambda a, b: a + b, st.sampled_from(_LOWER), st.text(_LOWER + "0123456789_", max_size=11)
)
_build = st.builds(
    lambda a, b: a + b, st.sampled_from("0123456789"), st.text(_LOWER + "0123456789_.", max_size=5)
)
_label = st.text(_LOWER + "0123456789._", min_size=1, max_size=16)


@given(
    name=_names,
    version=_versions,
    interps=st.lists(_interp, min_size=1, max_size=3, unique=True),
    abis=st.lists(_tag_part, min_size=1, max_size=2, unique=True),
    plats=st.lists(_tag_part, min_size=1, max_size=3, unique=True),
    build=st.none() | _build,
    label=st.none() | _label,
)
def test_filename_round_trip(
    name: str,
    version: str,
    interps: list[str],
    abis: list[str],
    plats: list[str],
    build: str | None,
    label: str | None,
) -> None:
    tags = frozenset(Tag(i, a, p) for i in interps for a in abis for p in plats)
    filename = wheel_filename(name, version, tags, build=build, variant_label=label)
    parsed = parse_wheel_filename(filename)
    assert canonicalize_name(parsed.name) == canonicalize_name(name)
    assert Version(parsed.version) == Version(version)
    assert parsed.build == build
    assert parsed.variant_label == label
    assert parsed.tags == tags
    # formatting what we parsed gives the same name back
    assert (
        wheel_filename(parsed.name, parsed.version, parsed.tags, parsed.build, parsed.variant_label)
        == filename
    )


def test_huge_or_invalid_tag_sets_are_refused() -> None:
    interps = ".".join(f"cp3{i}" for i in range(100))
    plats = ".".join(f"p{i}" for i in range(MAX_TAGS // 100 + 1))
    with pytest.raises(UnsupportedTag, match="expands to"):
        parse_tags("x.whl", f"{interps}-none-{plats}")
    with pytest.raises(UnsupportedTag, match="malformed compatibility tag"):
        parse_tags("x.whl", "py3-none")


# --- member names ---


@pytest.mark.parametrize(
    "name", ["pkg/__init__.py", "pkg-1.0.data/scripts/tool", "a/b/c.txt", "dir/"]
)
def test_safe_member_names(name: str) -> None:
    check_member_name("x.whl", name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.py", "'..' component"),
        ("pkg/../../evil.py", "'..' component"),
        ("/etc/passwd", "is absolute"),
        ("C:/evil.py", "is absolute"),
        ("pkg\\evil.py", "backslash"),
        ("pkg//x.py", "empty"),
        ("./x", "'.'"),
        ("pkg/x\x00.py", "NUL"),
    ],
)
def test_unsafe_member_names(name: str, reason: str) -> None:
    with pytest.raises(UnsafePath) as info:
        check_member_name("x.whl", name)
    assert str(info.value).startswith("x.whl: ") and reason in str(info.value)
