"""atomic_output: all or nothing, and outputs readable by others like any written file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conda_wheel_bridge.atomic import atomic_output, atomic_write_bytes


def test_success_renames_into_place_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "repodata.json"
    old = os.umask(0o022)
    try:
        atomic_write_bytes(target, b"{}")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"{}"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["repodata.json"]


def test_failure_leaves_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "repodata.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as fh:
        fh.write(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["repodata.json"]
