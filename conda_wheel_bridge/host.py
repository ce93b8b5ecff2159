"""This host, in both vocabularies: conda virtual packages and supported wheel-variant properties.

Detection is split in two so that tests (and ``CONDA_OVERRIDE_*``) can describe any host:
:func:`read_host` gathers raw readings (kernel, libc, macOS/Windows version, archspec
microarchitecture, and, in a subprocess with a timeout, the CUDA driver version and GPUs from the
driver library); :func:`virtual_packages` and :func:`supported_properties` are pure functions of
those readings and an environment mapping.

Virtual packages follow conda and CEP 30: ``__unix``, ``__linux``, ``__glibc``, ``__osx``,
``__win``, ``__archspec`` (version ``1``, build = microarchitecture), ``__cuda``, and CEP 46's
``__cuda_arch`` (lowest compute capability, build ``0``, as py-rattler writes it; CEP 30's
earlier text named the GPU model as build, which CEP 46 rejected). ``CONDA_OVERRIDE_<NAME>`` set
to a value replaces the detected one; set empty it removes the package (``__linux`` falls back
to ``0``; ``__unix`` takes no override). Supported properties follow the variant providers:
NVIDIA's (highest compute capability, driver CUDA version, its ``NV_VARIANT_PROVIDER_FORCE_*``
variables honoured), and the x86-64 / aarch64 ones (archspec).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .cudaprobe import CudaDevice, parse_compute_capability, probe_cuda
from .errors import CwbError, MappingError
from .mapping import cpu
from .mapping.nvidia import supported as nvidia_supported
from .model import VirtualPackage

__all__ = [
    "CudaDevice",
    "HostReadings",
    "HostReport",
    "detect",
    "native_subdir",
    "nvidia_supported",
    "probe_cuda",
    "read_host",
    "supported_properties",
    "virtual_packages",
]

Supported = dict[str, dict[str, tuple[str, ...]]]

_LINUX_VERSION_RE = re.compile(r"\d+\.\d+(\.\d+)?(\.\d+)?")
_APPENDIX_A = {  # CEP 30 appendix A: subdir arch -> archspec build when not detected
    "32": "x86", "64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64", "armv6l": "armv6l",
    "armv7l": "armv7l", "ppc64": "ppc64", "ppc64le": "ppc64le", "riscv64": "riscv64",
    "s390x": "s390x", "wasm32": "wasm32", "z": "z",
}  # fmt: skip
_MACHINE_ARCH = {
    "x86_64": "64", "amd64": "64", "i386": "32", "i686": "32", "x86": "32", "aarch64": "aarch64",
    "arm64": "arm64", "ppc64le": "ppc64le", "ppc64": "ppc64", "s390x": "s390x",
    "armv7l": "armv7l", "armv6l": "armv6l", "riscv64": "riscv64",
}  # fmt: skip


@dataclass(frozen=True)
class HostReadings:
    """Raw facts read from a machine, before any override or formatting rule is applied."""

    system: str  # platform.system(): "Linux", "Darwin", "Windows" ...
    machine: str  # platform.machine(): "x86_64", "arm64", "AMD64" ...
    kernel_release: str | None = None  # platform.release() on Linux
    libc: tuple[str, str] | None = None  # ("glibc", "2.39")
    mac_version: str | None = None
    win_version: str | None = None
    microarchitecture: str | None = None  # archspec.cpu.host().name
    cuda_driver_version: int | None = None  # cuDriverGetVersion(), e.g. 13000
    cuda_devices: tuple[CudaDevice, ...] = ()
    notes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "machine": self.machine,
            "kernel_release": self.kernel_release,
            "libc": list(self.libc) if self.libc else None,
            "mac_version": self.mac_version,
            "win_version": self.win_version,
            "microarchitecture": self.microarchitecture,
            "cuda_driver_version": self.cuda_driver_version,
            "cuda_devices": [
                {"name": d.name, "cc": f"{d.compute_capability[0]}.{d.compute_capability[1]}"}
                for d in self.cuda_devices
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class HostReport:
    """Both views of one host: conda virtual packages and supported variant properties."""

    readings: HostReadings
    subdir: str
    virtual_packages: tuple[VirtualPackage, ...]
    supported: Supported = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "subdir": self.subdir,
            "virtual_packages": [
                {"name": p.name, "version": p.version, "build": p.build}
                for p in self.virtual_packages
            ],
            "variant_properties": {
                ns: {feature: list(values) for feature, values in features.items()}
                for ns, features in self.supported.items()
            },
            "readings": self.readings.as_json(),
        }


# ------------------------------------------------------------------------------- reading


def _libc() -> tuple[str, str] | None:
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None
    if not value:
        return None
    family, _, version = value.partition(" ")
    parts = version.split(".")
    return (family.lower(), ".".join(parts[:2])) if family and version else None


def _microarchitecture() -> str | None:
    import archspec.cpu

    try:
        return str(archspec.cpu.host().name)
    except Exception:  # archspec raises assorted errors on unknown hardware
        return None


def read_host(*, cuda: bool = True, cuda_timeout: float = 20.0) -> HostReadings:
    """Read this machine (``cuda=False`` skips the CUDA driver probe)."""
    system = platform.system()
    driver, devices, note = probe_cuda(cuda_timeout) if cuda else (None, (), None)
    mac = platform.mac_ver()[0] if system == "Darwin" else ""
    win = platform.win32_ver()[1] if system == "Windows" else ""
    return HostReadings(
        system=system,
        machine=platform.machine(),
        kernel_release=platform.release() if system == "Linux" else None,
        libc=_libc() if system == "Linux" else None,
        mac_version=mac or None,
        win_version=win or None,
        microarchitecture=_microarchitecture(),
        cuda_driver_version=driver,
        cuda_devices=devices,
        notes=(note,) if note else (),
    )


#: subdir platforms whose hosts get ``__unix``
UNIX_PLATFORMS = frozenset({"linux", "osx", "freebsd", "emscripten"})


def native_subdir(readings: HostReadings) -> str:
    """The conda subdir of the machine the readings came from (``linux-64``, ``osx-arm64``)."""
    plat = {"Linux": "linux", "Darwin": "osx", "Windows": "win", "FreeBSD": "freebsd"}.get(
        readings.system, readings.system.lower()
    )
    arch = _MACHINE_ARCH.get(readings.machine.lower(), readings.machine.lower())
    if plat == "osx" and arch == "aarch64":
        arch = "arm64"
    if plat == "win" and arch == "aarch64":
        arch = "arm64"
    return f"{plat}-{arch}"


# ------------------------------------------------------------------------ virtual packages


def _override(env: Mapping[str, str], name: str) -> str | None:
    """The stripped ``CONDA_OVERRIDE_<NAME>`` value ('' when set empty), None when unset."""
    value = env.get(f"CONDA_OVERRIDE_{name.upper()}")
    return None if value is None else value.strip()


def _two(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _compute_capability(value: str) -> str:
    """``"9.0"`` (or ``"9.0a"``, ``"sm_90"``: letters dropped as CEP 46 says) → ``"9.0"``."""
    try:
        major, minor = parse_compute_capability(value)
    except MappingError:
        raise CwbError(
            "CONDA_OVERRIDE_CUDA_ARCH", f"{value!r} is not a compute capability (9.0)"
        ) from None
    return f"{major}.{minor}"


def _cuda_version(driver: int) -> str:
    return f"{driver // 1000}.{(driver % 1000) // 10}"


def virtual_packages(
    readings: HostReadings, env: Mapping[str, str] | None = None, *, subdir: str | None = None
) -> tuple[VirtualPackage, ...]:
    """The conda virtual packages of a host, ``CONDA_OVERRIDE_*`` in ``env`` applied."""
    env = os.environ if env is None else env
    native = native_subdir(readings)
    subdir = subdir or native
    plat, _, arch = subdir.partition("-")
    out: list[VirtualPackage] = []
    if plat in UNIX_PLATFORMS:
        out.append(VirtualPackage("__unix", "0"))
    if plat == "linux":
        linux = _override(env, "linux")
        if linux is None:
            release = readings.kernel_release if readings.system == "Linux" else None
            match = _LINUX_VERSION_RE.match(release or "")
            linux = match.group() if match else "0"
        out.append(VirtualPackage("__linux", linux or "0"))
        glibc = _override(env, "glibc")
        if glibc is None:
            libc = readings.libc if subdir == native else None
            if libc is None:
                glibc = "2.17"  # CEP 30: a default when the version cannot be read
            elif libc[0] == "glibc":
                glibc = libc[1]
            # another libc (musl): no __glibc
        if glibc:
            out.append(VirtualPackage("__glibc", glibc))
    if plat == "osx":
        osx = _override(env, "osx")
        if osx is None:
            osx = _two(readings.mac_version) if readings.mac_version and subdir == native else "0"
        if osx:
            out.append(VirtualPackage("__osx", osx))
    if plat == "win":
        win = _override(env, "win")
        if win is None:
            win = ".".join((readings.win_version or "0").split(".")[:3])
        if win:
            out.append(VirtualPackage("__win", win))
    archspec = _override(env, "archspec")
    if archspec is None:
        archspec = readings.microarchitecture if subdir == native else None
        archspec = archspec or _APPENDIX_A.get(arch)
    if archspec:
        out.append(VirtualPackage("__archspec", "1", archspec))
    cuda = _override(env, "cuda")
    if cuda is None and readings.cuda_driver_version is not None:
        cuda = _cuda_version(readings.cuda_driver_version)
    if cuda:
        out.append(VirtualPackage("__cuda", cuda))
        arch_override = _override(env, "cuda_arch")
        if arch_override is None and readings.cuda_devices:
            major, minor = min(d.compute_capability for d in readings.cuda_devices)
            out.append(VirtualPackage("__cuda_arch", f"{major}.{minor}"))
        elif arch_override:
            out.append(VirtualPackage("__cuda_arch", _compute_capability(arch_override)))
    return tuple(sorted(out, key=lambda p: p.name))


# ------------------------------------------------------------------ supported variant values


def _parse_cc(value: str) -> tuple[int, int] | None:
    try:
        return parse_compute_capability(value)
    except MappingError:
        return None


def supported_properties(readings: HostReadings, env: Mapping[str, str] | None = None) -> Supported:
    """The variant properties the host supports (namespace → feature → values, best first),
    by the providers' rules, from the readings with ``CONDA_OVERRIDE_*`` (and the NVIDIA
    provider's own ``NV_VARIANT_PROVIDER_FORCE_*``) applied."""
    env = os.environ if env is None else env
    out: Supported = {}
    archspec = _override(env, "archspec")
    name = readings.microarchitecture if archspec is None else archspec
    if name:
        # an override that archspec does not know names no CPU features
        with contextlib.suppress(ValueError):
            out.update(cpu.supported_cpu_properties(name))
    umd = env.get("NV_VARIANT_PROVIDER_FORCE_CUDA_DRIVER_VERSION") or _override(env, "cuda")
    if umd is None and readings.cuda_driver_version is not None:
        umd = _cuda_version(readings.cuda_driver_version)
    sm_text = env.get("NV_VARIANT_PROVIDER_FORCE_SM_ARCH") or _override(env, "cuda_arch")
    if sm_text:
        sm = _parse_cc(sm_text)
    elif sm_text is None and readings.cuda_devices:
        sm = max(d.compute_capability for d in readings.cuda_devices)
    else:
        sm = None
    if umd:
        nvidia = nvidia_supported(umd, sm)
        if nvidia:
            out["nvidia"] = nvidia
    return out


def detect(
    readings: HostReadings | None = None,
    env: Mapping[str, str] | None = None,
    *,
    subdir: str | None = None,
    cuda_timeout: float = 20.0,
) -> HostReport:
    """Both views of this host (or of ``readings``), overrides from ``env`` applied."""
    env = os.environ if env is None else env
    if readings is None:
        # skip the driver probe when both CUDA facts are overridden anyway
        need_cuda = _override(env, "cuda") is None or _override(env, "cuda_arch") is None
        readings = read_host(cuda=need_cuda, cuda_timeout=cuda_timeout)
    return HostReport(
        readings=readings,
        subdir=subdir or native_subdir(readings),
        virtual_packages=virtual_packages(readings, env, subdir=subdir),
        supported=supported_properties(readings, env),
    )
