"""Tests for the .dist-info parsers: METADATA/WHEEL headers, RECORD, entry points, variant.json."""

from __future__ import annotations

import pytest
from packaging.tags import Tag

from conda_wheel_bridge.distinfo import (
    parse_entry_points,
    parse_headers,
    parse_record,
    parse_variant_json,
    parse_wheel_file,
)
from conda_wheel_bridge.errors import BadMetadata, UnsafePath, UnsupportedTag

W = "demo-1.0-py3-none-any.whl"


def test_headers_tolerate_crlf_and_keep_multiple_values() -> None:
    data = (
        b"Metadata-Version: 2.1\r\nName: demo\r\nRequires-Dist: a\r\n"
        b"Requires-Dist: b ; extra == 'x'\r\n\r\nBody\r\n"
    )
    msg = parse_headers(W, "METADATA", data)
    assert msg["Name"] == "demo"
    assert msg.get_all("Requires-Dist") == ["a", "b ; extra == 'x'"]
    assert msg.get_payload() == "Body\n"


def test_headers_must_be_utf8() -> None:
    with pytest.raises(BadMetadata, match=r"METADATA is not UTF-8"):
        parse_headers(W, "METADATA", b"Name: d\xe9mo\n")


def test_record_rows() -> None:
    data = b'a/b.py,sha256=abc,3\n"odd, name.txt",sha512=def,10\ndemo-1.0.dist-info/RECORD,,\n\n'
    assert parse_record(W, data) == {
        "a/b.py": ("sha256=abc", 3),
        "odd, name.txt": ("sha512=def", 10),
        "demo-1.0.dist-info/RECORD": (None, None),
    }


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"a.py,sha256=abc\n", "RECORD line 1 has 2 fields, not 3"),
        (b"a.py,sha1=abc,3\n", "hash algorithm 'sha1' is not allowed"),
        (b"a.py,nosuchhash=abc,3\n", "hash algorithm 'nosuchhash' is not allowed"),
        (b"a.py,sha256,3\n", "malformed hash 'sha256'"),
        (b"a.py,sha256=abc,three\n", "size 'three' is not a number"),
        (b"a.py,sha256=abc,1\na.py,sha256=abc,1\n", "RECORD lists a.py twice"),
        (b"\xff,,\n", "RECORD is not UTF-8"),
    ],
)
def test_bad_record(data: bytes, reason: str) -> None:
    with pytest.raises(BadMetadata) as info:
        parse_record(W, data)
    assert str(info.value) == f"{W}: {reason}" or reason in str(info.value)


def test_entry_points_are_case_sensitive_and_keep_extras() -> None:
    data = (
        b"[console_scripts]\nMyTool = pkg.cli:main [fancy]\nmytool = pkg.cli:other\n\n"
        b"[pkg.plugins]\nx=pkg:X\n"
    )
    eps = parse_entry_points(W, data)
    assert eps["console_scripts"] == {"MyTool": "pkg.cli:main [fancy]", "mytool": "pkg.cli:other"}
    assert eps["pkg.plugins"] == {"x": "pkg:X"}


def test_entry_points_duplicate_key_last_wins() -> None:
    eps = parse_entry_points(W, b"[console_scripts]\na = m:one\na = m:two\n")
    assert eps["console_scripts"]["a"] == "m:two"


@pytest.mark.parametrize("group", ["console_scripts", "gui_scripts"])
def test_script_names_must_be_plain(group: str) -> None:
    with pytest.raises(UnsafePath, match=r"not a plain file name"):
        parse_entry_points(W, f"[{group}]\n../x = m:f\n".encode())
    # other groups carry names that are not file names; they are left alone
    assert parse_entry_points(W, b"[pkg.plugins]\n../x = m:f\n")["pkg.plugins"]["../x"] == "m:f"


def test_wheel_file() -> None:
    data = (
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
        b"Tag: cp311-cp311-linux_x86_64\nTag: cp311-abi3-linux_x86_64\n"
    )
    purelib, tags = parse_wheel_file(W, data)
    assert purelib is False
    assert tags == {Tag("cp311", "cp311", "linux_x86_64"), Tag("cp311", "abi3", "linux_x86_64")}


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        (b"Root-Is-Purelib: true\n", BadMetadata, "WHEEL has no Wheel-Version"),
        (b"Wheel-Version: 2.0\nRoot-Is-Purelib: true\n", BadMetadata, "major must be 1"),
        (b"Wheel-Version: 1.0\nRoot-Is-Purelib: maybe\n", BadMetadata, "not true or false"),
        (
            b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none\n",
            UnsupportedTag,
            "malformed",
        ),
    ],
)
def test_bad_wheel_file(data: bytes, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        parse_wheel_file(W, data)


def test_variant_json() -> None:
    assert parse_variant_json(W, b'{"variants": {}}') == {"variants": {}}
    with pytest.raises(BadMetadata, match="not a JSON object"):
        parse_variant_json(W, b"[1, 2]")
    with pytest.raises(BadMetadata, match="not valid JSON"):
        parse_variant_json(W, b"{nope")
