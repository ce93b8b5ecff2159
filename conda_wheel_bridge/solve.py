"""``cwb solve``: solve specs against channels through py-rattler, for this host or a simulated one.

Classic records and ``v3.whl`` wheel records are read alike. Virtual packages come from this host
(:mod:`conda_wheel_bridge.host` when present, else py-rattler's detection, ``CONDA_OVERRIDE_*``
honoured) or are simulated (``--virtual __cuda=12.4``). :func:`explain` says, for each candidate of
a requested package that was not chosen, which requirement the host failed.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rattler

from .errors import CwbError
from .host import UNIX_PLATFORMS, detect
from .hostcheck import unmet_virtual_requirements
from .model import VirtualPackage

__all__ = [
    "Candidate",
    "SolveFailed",
    "SolveResult",
    "explain",
    "host_virtual_packages",
    "parse_virtual",
    "solve",
]


#: rattler's exception types that mean "no solution" or "bad spec", not a bug
_SOLVER_ERRORS = {"SolverError", "InvalidMatchSpecError", "InvalidPackageNameError",
                  "PackageNameMatcherParseError", "ParseMatchSpecError"}


class SolveFailed(CwbError):
    """No set of packages satisfies the specs on this (real or simulated) host."""


@dataclass(frozen=True)
class Candidate:
    """One record of a requested package, chosen or not, with why it was not chosen."""

    name: str
    version: str
    build: str
    fn: str
    subdir: str
    chosen: bool
    reasons: tuple[str, ...] = ()


@dataclass
class SolveResult:
    """Chosen records (as JSON-ready dicts), the virtual packages used, and the candidates."""

    records: list[dict[str, Any]]
    virtual_packages: list[VirtualPackage]
    platform: str
    candidates: list[Candidate] = field(default_factory=list)
    error: str | None = None
    #: the chosen ``rattler.RepoDataRecord`` objects, ready for ``rattler.install``
    raw: list[Any] = field(default_factory=list)


def parse_virtual(text: str) -> VirtualPackage:
    """``NAME=VERSION[=BUILD]`` as a virtual package (``__cuda=12.4``, ``__glibc=2.28=0``)."""
    parts = text.split("=")
    if len(parts) not in (2, 3) or not parts[0].startswith("__") or not parts[1]:
        raise CwbError(text, "expected NAME=VERSION[=BUILD] with NAME starting with '__'")
    try:
        rattler.Version(parts[1])
    except Exception as exc:
        raise CwbError(text, f"{parts[1]!r} is not a version ({exc})") from exc
    return VirtualPackage(parts[0], parts[1], parts[2] if len(parts) == 3 and parts[2] else "0")


def host_virtual_packages() -> list[VirtualPackage]:
    """This host's virtual packages, as conda would report them (``CONDA_OVERRIDE_*`` honoured)."""
    return list(detect().virtual_packages)


def solve(specs: Sequence[str], channels: Sequence[str | os.PathLike[str]], *,
          platform: str | None = None, virtual: Sequence[VirtualPackage] | None = None,
          use_host: bool | None = None, with_candidates: bool = False) -> SolveResult:
    """Solve ``specs`` against ``channels`` (directories or http(s) URLs) for ``platform``.

    Virtual packages: the host's (when ``platform`` is the host's and ``use_host`` is not
    false), overridden and extended by ``virtual``; with ``use_host`` false only the platform's
    family packages (``__unix``/``__linux``/``__win``) and ``virtual``. Raises
    :class:`SolveFailed` when there is no solution, unless ``with_candidates`` is set, in which
    case the result carries the error and the candidates explain it.
    """
    target = platform or str(rattler.Subdir.current())
    host_platform = str(rattler.Subdir.current())
    if use_host is None:
        use_host = target == host_platform
    vpkgs = _virtuals(target, virtual or (), use_host=use_host)
    with tempfile.TemporaryDirectory(prefix="cwb-solve-") as tmp:
        sparse = _sparse_repodata(channels, target, Path(tmp))
        generic = [rattler.GenericVirtualPackage(rattler.PackageName(v.name),
                                                 rattler.Version(v.version),
                                                 rattler.BuildString(v.build))
                   for v in vpkgs]
        error: str | None = None
        chosen: list[Any] = []
        try:
            chosen = asyncio.run(rattler.solve_with_sparse_repodata(
                list(specs), sparse, virtual_packages=generic,
                package_format_selection=rattler.PackageFormatSelection.PREFER_CONDA_WITH_WHL))
        except Exception as exc:  # rattler raises its own SolverError types
            if type(exc).__name__ not in _SOLVER_ERRORS:
                raise
            error = _one_line(str(exc))
            if not with_candidates:
                raise SolveFailed(", ".join(specs), error) from exc
        records = [_record_dict(r) for r in chosen]
        candidates = (explain(specs, sparse, records, vpkgs) if with_candidates else [])
    return SolveResult(records=records, virtual_packages=vpkgs, platform=target,
                       candidates=candidates, error=error, raw=list(chosen))


def explain(specs: Iterable[str], sparse: Sequence[Any], records: Sequence[Mapping[str, Any]],
            virtual: Sequence[VirtualPackage]) -> list[Candidate]:
    """Every candidate of each requested package, with why it was rejected.

    A reason names the failed requirement and what the host has, e.g. "needs `__cuda >=12.8`,
    host has 12.4"; a candidate that fits the host but lost to a better one says so.
    """
    host = {v.name: v for v in virtual}
    picked = {(r["name"], r["version"], r["build"], r["subdir"]) for r in records}
    out: list[Candidate] = []
    for spec_text in specs:
        spec = rattler.MatchSpec(spec_text)
        name = spec.name.normalized
        seen: set[tuple[str, str, str, str]] = set()
        for source in sparse:
            for rec in source.load_records(
                    rattler.PackageName(name),
                    rattler.PackageFormatSelection.PREFER_CONDA_WITH_WHL):
                key = (rec.name.normalized, str(rec.version), str(rec.build), rec.subdir)
                if key in seen:
                    continue
                seen.add(key)
                chosen = key in picked
                reasons: list[str] = []
                if not chosen:
                    if not spec.matches(rec):
                        reasons.append(f"does not match the request `{spec_text}`")
                    reasons += unmet_virtual_requirements(rec.depends, host)
                    if not reasons:
                        winner = next((r for r in records if r["name"] == key[0]), None)
                        reasons.append(
                            f"fits this host; {winner['name']} {winner['version']} "
                            f"{winner['build']} ranks higher" if winner is not None else
                            "fits this host, but its other dependencies could not be met")
                out.append(Candidate(name=key[0], version=key[1], build=key[2],
                                     fn=str(rec.url).rsplit("/", 1)[-1], subdir=key[3],
                                     chosen=chosen,
                                     reasons=tuple(reasons)))
    out.sort(key=lambda c: (c.name, not c.chosen))
    return out


def _virtuals(platform: str, given: Sequence[VirtualPackage], *, use_host: bool
              ) -> list[VirtualPackage]:
    base: dict[str, VirtualPackage] = {}
    if use_host:
        base = {v.name: v for v in host_virtual_packages()}
    else:
        family = platform.split("-", 1)[0]
        if family in UNIX_PLATFORMS:
            base["__unix"] = VirtualPackage("__unix", "0")
        if family == "linux":
            base["__linux"] = VirtualPackage("__linux", "0")
        if family == "win":
            base["__win"] = VirtualPackage("__win", "0")
    for v in given:
        base[v.name] = v
    return sorted(base.values(), key=lambda v: v.name)


def _sparse_repodata(channels: Sequence[str | os.PathLike[str]], platform: str, tmp: Path
                     ) -> list[Any]:
    sparse = []
    for index, channel in enumerate(channels):
        url, local = _channel_location(channel)
        for subdir in dict.fromkeys((platform, "noarch")):
            path = (local / subdir / "repodata.json" if local is not None
                    else _download(url, subdir, tmp / str(index)))
            if path is None or not path.is_file():
                if subdir == "noarch":
                    raise CwbError(f"{url}{subdir}/repodata.json",
                                   "missing: is this an indexed channel? (cwb index)")
                continue
            try:
                sparse.append(rattler.SparseRepoData(rattler.Channel(url.rstrip("/")), subdir,
                                                     path))
            except Exception as exc:
                raise CwbError(path, f"cannot read repodata ({exc})") from exc
    return sparse


def _channel_location(channel: str | os.PathLike[str]) -> tuple[str, Path | None]:
    text = os.fspath(channel)
    scheme = urllib.parse.urlsplit(text).scheme
    if scheme in ("http", "https"):
        return text.rstrip("/") + "/", None
    if scheme == "file":
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(text).path))
    else:
        path = Path(text)
    if not path.is_dir():
        raise CwbError(text, "no such channel directory")
    return path.resolve().as_uri() + "/", path.resolve()


def _download(url: str, subdir: str, into: Path) -> Path | None:
    import requests

    target = into / subdir / "repodata.json"
    try:
        response = requests.get(f"{url}{subdir}/repodata.json", timeout=60)
    except requests.RequestException as exc:
        raise CwbError(f"{url}{subdir}/repodata.json", f"cannot fetch ({exc})") from exc
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise CwbError(f"{url}{subdir}/repodata.json", f"HTTP {response.status_code}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(response.content)
    return target


def _one_line(message: str) -> str:
    """rattler's tree-shaped solver message as one line."""
    parts = [line.strip().lstrip("│├└─ ").strip() for line in message.strip().splitlines()]
    return " / ".join(p for p in parts if p)


def _record_dict(rec: Any) -> dict[str, Any]:
    url = str(rec.url)
    return {
        "name": rec.name.normalized,
        "version": str(rec.version),
        "build": str(rec.build),
        "build_number": rec.build_number,
        "subdir": rec.subdir,
        "fn": url.rsplit("/", 1)[-1],
        "url": url,
        "channel": str(rec.channel) if rec.channel is not None else None,
        "depends": list(rec.depends),
        "kind": "whl" if url.endswith(".whl") else "conda",
        "sha256": rec.sha256.hex() if isinstance(rec.sha256, bytes) else rec.sha256,
    }

