"""The CUDA driver probe: a child process, killed on timeout, absent without a driver."""

from __future__ import annotations

import stat
from pathlib import Path

from conda_wheel_bridge.cudaprobe import probe_cuda


def test_probe_without_driver_or_with_a_hanging_one(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    driver, devices, note = probe_cuda(timeout=0.5, python=str(fake))
    assert (driver, devices) == (None, ())
    assert note is not None and "timed out" in note
    crash = tmp_path / "crash"
    crash.write_text("#!/bin/sh\nexit 3\n")
    crash.chmod(crash.stat().st_mode | stat.S_IXUSR)
    assert probe_cuda(timeout=5, python=str(crash))[2] == "CUDA driver probe exited 3"


def test_probe_on_this_machine_is_consistent() -> None:
    driver, devices, _ = probe_cuda(timeout=20)
    if driver is None:
        assert devices == ()
    else:
        assert driver >= 1000 and all(d.compute_capability >= (1, 0) for d in devices)
