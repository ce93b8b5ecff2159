"""Small data classes shared by every part of the bridge.

They carry facts between the pure translation rules in :mod:`conda_wheel_bridge.mapping` and the
I/O at the edges (archives, channels, CLI). They hold no behaviour beyond formatting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "CondaDepends",
    "CondaTarget",
    "VariantProperty",
    "VirtualPackage",
]


@dataclass(frozen=True)
class CondaTarget:
    """Where and how a wheel lands as a conda package, derived from its tags.

    ``subdir`` is the conda platform ("noarch", "linux-64" ...); ``noarch_python`` marks
    ``noarch: python`` packages. ``python_version`` is the fixed CPython ``(major, minor)`` of a
    version-specific build, else ``None``. ``depends`` are the pins that the tags imply (python,
    python_abi, virtual-package floors such as ``__glibc >=2.17``). ``site_packages`` and
    ``scripts_dir`` are the install locations relative to the prefix (for noarch: ``site-packages``
    and ``python-scripts``, which conda relocates at install time).
    """

    subdir: str
    noarch_python: bool
    depends: tuple[str, ...]
    site_packages: str
    scripts_dir: str
    python_version: tuple[int, int] | None = None
    free_threaded: bool = False
    # marker environment for evaluating PEP 508 markers when the target is fixed, else None
    marker_environment: Mapping[str, str] | None = None

    @property
    def is_windows(self) -> bool:
        return self.subdir.startswith("win-")


@dataclass(frozen=True)
class CondaDepends:
    """Conda dependencies translated from wheel requirements: ``depends`` plus CEP 44 extras."""

    depends: tuple[str, ...] = ()
    extra_depends: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class VirtualPackage:
    """A conda virtual package as a solver sees it: ``__cuda 12.8 0``."""

    name: str
    version: str
    build: str = "0"

    def __str__(self) -> str:
        return f"{self.name}={self.version}={self.build}"


@dataclass(frozen=True)
class VariantProperty:
    """A wheel-variant property ``namespace :: feature :: value``."""

    namespace: str
    feature: str
    value: str

    def __str__(self) -> str:
        return f"{self.namespace} :: {self.feature} :: {self.value}"
