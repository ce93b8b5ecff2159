"""Which virtual-package requirements a (real or simulated) host fails, in words.

One rule for ``cwb solve --explain`` and the conda plugin's solve report: a dependency on a
virtual package is judged by rattler's own MatchSpec (versions and builds, globs and regexes), and
an unmet one reads "needs `__cuda >=12.8`, host has 12.4".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from .model import VirtualPackage

__all__ = ["requirement_met", "spec_name", "unmet_virtual_requirements"]

_NAME = re.compile(r"[\s<>=!~\[;]")


def spec_name(dep: str) -> str:
    """The package name a MatchSpec string starts with (``__cuda >=12`` -> ``__cuda``)."""
    return _NAME.split(dep.strip(), maxsplit=1)[0]


def requirement_met(spec: str, package: VirtualPackage | None) -> bool:
    """Whether ``package`` (``None``: the host lacks it) satisfies the dependency ``spec``."""
    if package is None:
        return False
    import rattler

    record = rattler.PackageRecord(
        name=package.name,
        version=package.version,
        build=rattler.BuildString(package.build),
        build_number=0,
        subdir="noarch",
    )
    return bool(rattler.MatchSpec(spec).matches(record))


def unmet_virtual_requirements(
    depends: Iterable[str],
    host: Mapping[str, VirtualPackage],
    *,
    met: Callable[[str, VirtualPackage | None], bool] = requirement_met,
) -> list[str]:
    """One reason per unconditional dependency on a virtual package that ``host`` fails.

    Conditional (``when=``) dependencies are left to the solver: whether they apply depends on
    the rest of the environment.
    """
    reasons = []
    for dep in depends:
        name = spec_name(dep)
        if not name.startswith("__") or _conditional(dep):
            continue
        package = host.get(name)
        if met(dep, package):
            continue
        reasons.append(f"needs `{dep.strip()}`, host has {_has(dep, name, package)}")
    return reasons


def _conditional(dep: str) -> bool:
    import rattler

    try:
        return bool(rattler.MatchSpec(dep).condition)
    except Exception:  # a dependency rattler cannot parse is the solver's to report
        return True


def _has(dep: str, name: str, package: VirtualPackage | None) -> str:
    """What the host has, naming the part (version or build) that fails."""
    if package is None:
        return f"no {name}"
    import rattler

    spec = rattler.MatchSpec(dep)
    version_ok = spec.version is None or rattler.VersionSpec(str(spec.version)).matches(
        rattler.Version(package.version)
    )
    if version_ok:
        return f"build {package.build}"
    return package.version if spec.build is None else f"{package.version} {package.build}"

