"""Read the CUDA driver version and GPUs from the driver library, in a child process.

conda does the same (``conda/plugins/virtual_packages/cuda.py``): loading ``libcuda`` and calling
``cuInit`` can hang or crash on a broken driver, so the calls run in a separate Python process that
is killed after a timeout, and the parent only reads one JSON line back.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

from .errors import MappingError

__all__ = ["CudaDevice", "parse_compute_capability", "probe_cuda"]

_CC = re.compile(r"^(?:sm_|compute_)?(\d+)\.(\d+)[af]?$|^(?:sm_|compute_)?(\d+?)(\d)[af]?$")

#: run with ``python -c`` in a child process, so that a hanging or crashing driver cannot take
#: the caller down (conda does the same); prints one JSON line
_CUDA_PROBE = r"""
import ctypes, itertools, json, os, platform
def probe():
    system = platform.system()
    if system == "Linux":
        names = ["libcuda.so", "/usr/lib64/nvidia/libcuda.so",
                 "/usr/lib/x86_64-linux-gnu/libcuda.so", "/usr/lib/wsl/lib/libcuda.so"]
        names = list(itertools.chain.from_iterable((n + ".1", n) for n in names))
    elif system == "Windows":
        names = ["nvcuda.dll"]
    elif system == "Darwin":
        names = ["libcuda.1.dylib", "libcuda.dylib", "/usr/local/cuda/lib/libcuda.1.dylib",
                 "/usr/local/cuda/lib/libcuda.dylib"]
    else:
        return None
    loader = ctypes.windll if system == "Windows" else ctypes.cdll
    lib = None
    for name in names:
        try:
            lib = loader.LoadLibrary(name)
            break
        except OSError:
            continue
    if lib is None:
        return None
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    if lib.cuInit(0) != 0:
        return None
    version = ctypes.c_int(0)
    if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    devices = []
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) == 0:
        for index in range(count.value):
            device = ctypes.c_int(0)
            if lib.cuDeviceGet(ctypes.byref(device), index) != 0:
                continue
            major, minor = ctypes.c_int(0), ctypes.c_int(0)
            if lib.cuDeviceGetAttribute(ctypes.byref(major), 75, device) != 0:
                continue
            if lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, device) != 0:
                continue
            name = ctypes.create_string_buffer(256)
            lib.cuDeviceGetName(name, 256, device)
            devices.append({"name": name.value.decode("utf-8", "replace"),
                            "cc": [major.value, minor.value]})
    return {"driver_version": version.value, "devices": devices}
print(json.dumps(probe()))
"""


@dataclass(frozen=True)
class CudaDevice:
    """One GPU as the CUDA driver reports it: model name and compute capability."""

    name: str
    compute_capability: tuple[int, int]


def probe_cuda(
    timeout: float = 20.0, python: str | None = None
) -> tuple[int | None, tuple[CudaDevice, ...], str | None]:
    """(driver CUDA version, devices, note) from the CUDA driver library, read in a child
    process that is killed after ``timeout`` seconds. No driver: ``(None, (), None)``."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    try:
        done = subprocess.run(
            [python or sys.executable, "-c", _CUDA_PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, (), f"CUDA driver probe timed out after {timeout:g} s"
    except OSError as exc:
        return None, (), f"CUDA driver probe could not start: {exc}"
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if done.returncode != 0 or not isinstance(result, dict):
        note = None if done.returncode == 0 else f"CUDA driver probe exited {done.returncode}"
        return None, (), note
    devices = tuple(
        CudaDevice(str(d["name"]), (int(d["cc"][0]), int(d["cc"][1]))) for d in result["devices"]
    )
    return int(result["driver_version"]), devices, None


def parse_compute_capability(value: str) -> tuple[int, int]:
    """``"9.0"``, ``"12.0f"``, ``"90"``, ``"sm_90a"`` -> ``(major, minor)``; ``a``/``f`` dropped."""
    match = _CC.match(value.strip().lower())
    if not match:
        raise MappingError(value, "not a CUDA compute capability such as 9.0 or 12.0")
    major, minor = (match[1], match[2]) if match[1] is not None else (match[3], match[4])
    return int(major), int(minor)
