"""The conda ``info/`` metadata of a converted wheel: ``depends``, build string and number,
``index.json`` and ``about.json``, derived from the wheel's metadata through the mapping rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from . import __version__
from .errors import BadMetadata, CwbError
from .licenses import spdx_license
from .mapping.external import external_field_values, external_to_conda_depends
from .mapping.names import NameMap
from .mapping.requirements import requires_dist_to_conda
from .model import CondaTarget
from .wheelfile import WheelInfo

__all__ = ["WheelVariant", "about_json", "index_json", "wheel_depends", "wheel_variant"]


def _conda_version(version: str, where: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:
        raise BadMetadata(where, f"version {version!r} is not PEP 440") from None


def wheel_depends(
    info: WheelInfo,
    target: CondaTarget,
    names: NameMap,
    where: str,
    variant: WheelVariant | None = None,
) -> tuple[list[str], dict[str, list[str]], tuple[str, ...]]:
    """A wheel's conda ``depends`` for ``target`` (tag pins, Requires-Dist, PEP 725 externals,
    variant properties), its ``extra_depends`` and what the translation lost."""
    environment = target.marker_environment
    try:
        translated = requires_dist_to_conda(
            info.requires_dist, names=names, environment=environment
        )
        external = external_to_conda_depends(
            external_field_values(info.metadata), environment=environment, names=names
        )
    except CwbError as exc:
        raise BadMetadata(where, f"{exc.where}: {exc.reason}") from None
    except ValueError as exc:
        raise BadMetadata(where, f"Requires-Dist: {exc}") from None
    depends = [*target.depends, *translated.depends, *external.depends]
    extras = {k: list(v) for k, v in translated.extra_depends.items()}
    for extra, specs in external.extra_depends.items():
        extras[extra] = _dedupe([*extras.get(extra, []), *specs])
    depends += (variant or wheel_variant(info, where)).depends
    return _dedupe(depends), extras, tuple(getattr(translated, "losses", ()))


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class WheelVariant:
    """What a variant wheel's ``variant.json`` adds: depends, build-string label, build rank."""

    depends: tuple[str, ...] = ()
    label: str | None = None
    build_number: int = 0


def wheel_variant(info: WheelInfo, where: str) -> WheelVariant:
    """The variant facts of a wheel (empty for a wheel without ``variant.json``)."""
    if info.variant_json is None:
        return WheelVariant()
    from .mapping.variants import conda_for_variant, read_variant_json

    label = info.filename.variant_label
    desc = read_variant_json(dict(info.variant_json), where=f"{info.dist_info}/variant.json")
    build = conda_for_variant(desc, label or "")
    return WheelVariant(tuple(build.depends), build.build_label or label, int(build.build_number))


def _build_string(
    target: CondaTarget, depends: Sequence[str], label: str | None, number: int
) -> str:
    if target.python_version is None:
        prefix = "py"
    else:
        major, minor = target.python_version
        prefix = f"py{major}{minor}{'t' if target.free_threaded else ''}"
    digest = hashlib.sha1("\n".join(sorted(depends)).encode()).hexdigest()[:7]
    middle = f"_{label}" if label else ""
    return f"{prefix}h{digest}{middle}_{number}"


def _wheel_build_number(build: str | None) -> int:
    if not build:
        return 0
    digits = ""
    for ch in build:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits or 0)


_ARCH = {
    "64": "x86_64",
    "32": "x86",
    "aarch64": "aarch64",
    "arm64": "arm64",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "armv7l": "armv7l",
    "riscv64": "riscv64",
}


def index_json(
    info: WheelInfo,
    target: CondaTarget,
    conda_name: str,
    depends: list[str],
    extras: dict[str, list[str]],
    variant: WheelVariant,
    timestamp: int,
    where: str,
) -> dict[str, Any]:
    """The ``info/index.json`` object of the conda package made from ``info`` for ``target``."""
    number = _wheel_build_number(info.filename.build)
    if info.variant_json is not None:
        # the variant's rank dominates; the wheel's build tag only orders rebuilds of one variant
        from .mapping.variantrank import combined_build_number

        number = combined_build_number(variant.build_number, number)
    build = _build_string(target, depends, variant.label, number)
    index: dict[str, Any] = {
        "name": conda_name,
        "version": _conda_version(info.version, where),
        "build": build,
        "build_number": number,
        "depends": depends,
    }
    if extras:
        index["extra_depends"] = extras
    lic = spdx_license(info.metadata)
    if lic:
        index["license"] = lic
    index["subdir"] = target.subdir
    if target.subdir != "noarch":
        plat, _, arch = target.subdir.partition("-")
        index["platform"] = plat
        index["arch"] = _ARCH.get(arch, arch)
    if target.noarch_python:
        index["noarch"] = "python"
    index["timestamp"] = timestamp
    return index


def about_json(info: WheelInfo, license_names: Sequence[str]) -> dict[str, Any]:
    """The ``info/about.json`` object: summary, URLs, license and where the package came from."""
    meta = info.metadata
    about: dict[str, Any] = {}
    if meta.get("Summary"):
        about["summary"] = str(meta["Summary"]).strip()
    urls: dict[str, str] = {}
    for raw in meta.get_all("Project-URL") or []:
        label, _, url = str(raw).partition(",")
        urls[label.strip().lower().replace(" ", "").replace("-", "").replace("_", "")] = url.strip()
    home = str(meta.get("Home-page") or "").strip() or urls.get("homepage")
    if home and home.upper() != "UNKNOWN":
        about["home"] = home
    for key, labels in (
        ("dev_url", ("source", "sourcecode", "repository", "code")),
        ("doc_url", ("documentation", "docs")),
    ):
        for label in labels:
            if label in urls:
                about[key] = urls[label]
                break
    lic = spdx_license(meta)
    if lic:
        about["license"] = lic
    if license_names:
        about["license_file"] = list(license_names)
    about["extra"] = {
        "converted_from": info.path.name,
        "converter": f"conda-wheel-bridge {__version__}",
    }
    return about
