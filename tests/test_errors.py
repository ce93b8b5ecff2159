"""Errors print as one line ``<where>: <reason>``, whatever bytes a damaged archive put in them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conda_wheel_bridge.errors import BadArchive, CwbError


def test_message_is_where_then_reason() -> None:
    exc = BadArchive("/tmp/x.whl", "RECORD hash mismatch for x/é.py")
    assert str(exc) == "/tmp/x.whl: RECORD hash mismatch for x/é.py"
    assert (exc.where, exc.reason) == ("/tmp/x.whl", "RECORD hash mismatch for x/é.py")
    assert isinstance(exc, ValueError)


def test_a_newline_in_a_member_name_is_escaped_not_printed() -> None:
    exc = BadArchive("/tmp/x.whl", "several .dist-info directories: de\no-1.0.dist-info")
    assert str(exc) == "/tmp/x.whl: several .dist-info directories: de\\no-1.0.dist-info"
    assert exc.reason.endswith("de\no-1.0.dist-info")  # the attribute keeps the real name


@given(st.text(), st.text())
def test_reason_never_breaks_the_line_and_where_is_kept(where: str, reason: str) -> None:
    message = str(CwbError(where, reason))
    assert message.startswith(f"{where}: ")
    assert len(message[len(where):].splitlines()) == 1


def test_about_names_the_file_first_and_keeps_the_class() -> None:
    from conda_wheel_bridge.errors import MappingError

    inner = MappingError("nvidia :: sm_arch :: 99", "no conda counterpart")
    outer = inner.about("/tmp/x.whl")
    assert type(outer) is MappingError
    assert str(outer) == "/tmp/x.whl: nvidia :: sm_arch :: 99: no conda counterpart"
    assert outer.about("/tmp/x.whl") is outer  # already about the file: unchanged
