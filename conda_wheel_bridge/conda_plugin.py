"""conda's plugin entry point (group ``conda``): registers the hooks and adapts conda's objects.

The only module that imports conda. Every decision is made by the plain functions in
:mod:`conda_wheel_bridge.plugin_hooks`; here they are wrapped in conda's plugin types, and conda's
records and settings are read into plain values. Hooks the running conda does not know are skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from conda.plugins import hookimpl as _conda_hookimpl
from conda.plugins import types

from . import plugin_hooks as _hooks
from .model import VirtualPackage

__all__ = [
    "conda_package_extractors",
    "conda_post_solves",
    "conda_pre_solves",
    "conda_subcommands",
    "conda_virtual_packages",
]

log = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., Any])


def hookimpl(function: _F) -> _F:
    """conda's hook-implementation marker, typed (it marks and returns the function itself)."""
    marked: _F = _conda_hookimpl(function)
    return marked


_DEFERRED_VERSIONS = "override_entity" in {
    f.name for f in dataclasses.fields(types.CondaVirtualPackage)
}


@hookimpl
def conda_subcommands() -> Iterator[types.CondaSubcommand]:
    """``conda cwb ...`` runs the ``cwb`` command line."""
    yield types.CondaSubcommand(
        name=_hooks.SUBCOMMAND_NAME,
        summary=_hooks.SUBCOMMAND_SUMMARY,
        action=_hooks.run_subcommand,
    )


@hookimpl
def conda_virtual_packages() -> Iterator[types.CondaVirtualPackage]:
    """The virtual packages the mapping needs that this conda does not provide (``__cuda_arch``)."""
    for name in _hooks.missing_virtual_packages(_others_virtual_packages()):
        if name == "cuda_arch":
            version: Any = _cuda_arch if _DEFERRED_VERSIONS else _cuda_arch()
            if version is _null():
                continue
            yield types.CondaVirtualPackage(name="cuda_arch", version=version, build="0")


if hasattr(types, "CondaPackageExtractor"):

    @hookimpl
    def conda_package_extractors() -> Iterator[Any]:
        """conda unpacks a raw ``.whl`` (a channel's ``v3.whl`` record) as ``cwb convert`` would."""
        yield types.CondaPackageExtractor(
            name="cwb-wheel",
            extensions=list(_hooks.WHEEL_EXTENSIONS),
            extract=_extract_wheel,
        )


if hasattr(types, "CondaPreSolve"):

    @hookimpl
    def conda_pre_solves() -> Iterator[Any]:
        """Before a solve (with ``-v``): the requested specs and the host's virtual packages."""
        yield types.CondaPreSolve(name="cwb-variant-report", action=_pre_solve)

    @hookimpl
    def conda_post_solves() -> Iterator[Any]:
        """After a solve: which build of each variant package was chosen, why not the others."""
        yield types.CondaPostSolve(name="cwb-variant-report", action=_post_solve)


# --- adapters: conda objects in, plain values out -------------------------------------------


def _extract_wheel(source: Any, destination: Any) -> None:
    """The wheel laid out for the platform this conda installs for."""
    from conda.base.context import context

    _hooks.extract_wheel(source, destination, subdir=str(context.subdir))


def _null() -> Any:
    from conda.auxlib import NULL

    return NULL


def _others_virtual_packages() -> dict[str, Any]:
    """Virtual packages every other plugin (conda's own included) declares, by name, unevaluated."""
    from conda.base.context import context

    found: dict[str, Any] = {}
    for impl in context.plugin_manager.hook.conda_virtual_packages.get_hookimpls():
        if getattr(impl.function, "__module__", None) == __name__:
            continue
        for package in cast("Iterable[Any]", impl.function() or ()):
            found[package.name] = package
    return found


def _cuda_present() -> bool:
    """Whether conda itself reports ``__cuda`` (its detection and its override rules)."""
    cuda = _others_virtual_packages().get("cuda")
    if cuda is None:
        return False
    if hasattr(cuda, "to_virtual_package"):
        return bool(cuda.to_virtual_package() is not _null())
    return cuda.version not in (None, _null())  # pragma: no cover - conda before 25.11


def _cuda_arch() -> Any:
    """``__cuda_arch`` version by CEP 46, or conda's NULL (absent)."""
    from conda.base.context import context

    environ: dict[str, str] = dict(os.environ)
    configured = getattr(context, "override_virtual_packages", None) or {}
    if "CONDA_OVERRIDE_CUDA_ARCH" not in environ and "cuda_arch" in configured:
        environ["CONDA_OVERRIDE_CUDA_ARCH"] = str(configured["cuda_arch"] or "")
    version = _hooks.cuda_arch_version(
        environ,
        cuda_present=_cuda_present,
        compute_capabilities=_hooks.detected_compute_capabilities,
    )
    return _null() if version is None else version


def _host() -> dict[str, VirtualPackage]:
    from conda.base.context import context

    return {
        rec.name: VirtualPackage(rec.name, str(rec.version), str(rec.build))
        for rec in context.plugin_manager.get_virtual_package_records()
    }


def _record(rec: Any) -> Mapping[str, Any]:
    return {
        "name": rec.name,
        "version": str(rec.version),
        "build": rec.build,
        "build_number": int(rec.build_number or 0),
        "depends": tuple(rec.depends or ()),
    }


def _candidates(record: Mapping[str, Any], source: Any) -> Sequence[Mapping[str, Any]]:
    """Every build of ``record``'s name and version in the channel subdir it came from."""
    from conda.core.subdir_data import SubdirData
    from conda.models.match_spec import MatchSpec

    try:
        spec = MatchSpec(name=record["name"], version=record["version"])  # type: ignore[no-untyped-call]
        return [_record(r) for r in SubdirData(source.channel).query(spec)]
    except Exception:  # the report must never break a solve
        log.debug("cwb: no candidates for %s", record["name"], exc_info=True)
        return [record]


def _pre_solve(specs_to_add: Iterable[Any], specs_to_remove: Iterable[Any]) -> None:
    from conda.base.context import context

    if getattr(context, "verbosity", 0) > 0:
        _hooks.print_report(_hooks.pre_solve_report((str(s) for s in specs_to_add), _host()))


def _post_solve(repodata_fn: str, unlink_precs: Sequence[Any], link_precs: Sequence[Any]) -> None:
    sources = {rec.name: rec for rec in link_precs}
    _hooks.print_report(
        _hooks.post_solve_report(
            [_record(rec) for rec in link_precs],
            lambda record: _candidates(record, sources[record["name"]]),
            _host(),
        )
    )
