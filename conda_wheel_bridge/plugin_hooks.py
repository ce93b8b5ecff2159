"""What the conda plugin does, as plain functions that need no conda to import or test.

:mod:`conda_wheel_bridge.conda_plugin` registers these with conda; every decision lives here:
the ``conda cwb`` subcommand, the virtual packages conda lacks (``__cuda_arch``, CEP 46), the
``.whl`` extractor, and the solve report (which variant was chosen, why the others were not).
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from .cudaprobe import parse_compute_capability
from .errors import MappingError
from .hostcheck import requirement_met, spec_name, unmet_virtual_requirements
from .model import VirtualPackage

__all__ = [
    "PLUGIN_VIRTUAL_PACKAGES",
    "SUBCOMMAND_NAME",
    "SUBCOMMAND_SUMMARY",
    "WHEEL_EXTENSIONS",
    "cuda_arch_version",
    "detected_compute_capabilities",
    "explain_variant_choice",
    "extract_wheel",
    "missing_virtual_packages",
    "parse_compute_capability",
    "post_solve_report",
    "pre_solve_report",
    "print_report",
    "requirement_met",
    "run_subcommand",
    "unmet_virtual_requirements",
]

SUBCOMMAND_NAME = "cwb"
SUBCOMMAND_SUMMARY = "Bridge conda packages and wheels (the cwb command inside conda)."
WHEEL_EXTENSIONS = (".whl",)

#: virtual packages (names without the leading ``__``) that the mapping writes and that this
#: plugin computes when the running conda does not provide them itself
PLUGIN_VIRTUAL_PACKAGES = ("cuda_arch",)

Record = Mapping[str, Any]


def run_subcommand(argv: Sequence[str]) -> int:
    """Run ``conda cwb ARGS...``: the ``cwb`` command line, named ``conda cwb`` in messages."""
    from .cli import main

    try:
        return main(list(argv), prog=f"conda {SUBCOMMAND_NAME}")
    except SystemExit as exc:  # argparse: --help, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


def missing_virtual_packages(provided: Iterable[str]) -> tuple[str, ...]:
    """The plugin's virtual packages that conda does not already provide (names without ``__``)."""
    have = {name.lower().lstrip("_") for name in provided}
    return tuple(name for name in PLUGIN_VIRTUAL_PACKAGES if name not in have)


def cuda_arch_version(
    environ: Mapping[str, str],
    *,
    cuda_present: Callable[[], bool],
    compute_capabilities: Callable[[], Sequence[str]],
) -> str | None:
    """The ``__cuda_arch`` version by CEP 46, or ``None`` when the package must be absent.

    Absent without ``__cuda``; ``CONDA_OVERRIDE_CUDA_ARCH`` empty removes it, non-empty sets it;
    otherwise the lowest compute capability of the detected devices, as ``{major}.{minor}``.
    """
    override = environ.get("CONDA_OVERRIDE_CUDA_ARCH")
    if override is not None and not override.strip():
        return None
    if not cuda_present():
        return None
    if override is not None:
        try:
            major, minor = parse_compute_capability(override)
        except MappingError as exc:
            raise MappingError("CONDA_OVERRIDE_CUDA_ARCH", exc.reason) from None
        return f"{major}.{minor}"
    found = [parse_compute_capability(cc) for cc in compute_capabilities()]
    if not found:
        return None
    major, minor = min(found)
    return f"{major}.{minor}"


@functools.cache
def detected_compute_capabilities() -> tuple[str, ...]:
    """Compute capabilities of this host's CUDA devices (:func:`cudaprobe.probe_cuda`, in a
    child process). Probed once per process: conda asks in several hooks of one command."""
    from .cudaprobe import probe_cuda

    _driver, devices, _note = probe_cuda()
    return tuple(f"{d.compute_capability[0]}.{d.compute_capability[1]}" for d in devices)


def extract_wheel(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    subdir: str | None = None,
) -> None:
    """Lay a ``.whl`` out in ``destination`` as an extracted conda package, as ``cwb convert`` does.

    ``subdir`` is the platform conda installs for: a platform wheel must reach it (a universal2
    wheel is laid out for it), a pure wheel becomes ``noarch``. The wheel is converted into a
    temporary channel and that package is extracted as a stream.
    """
    from conda_package_streaming.extract import extract

    from .convert import wheel_to_conda_all

    source_path = Path(source)
    wanted = None if subdir is None else (subdir, "noarch")
    with tempfile.TemporaryDirectory(prefix="cwb-whl-") as tmp:
        # a throw-away archive: the fastest zstd level, it is unpacked at once
        result = wheel_to_conda_all(source_path, Path(tmp), zstd_level=1, subdirs=wanted)[0]
        Path(destination).mkdir(parents=True, exist_ok=True)
        extract(str(result.path), dest_dir=str(destination))


def _label(record: Record) -> str:
    return f"{record['build']} (build number {record.get('build_number', 0)})"


def explain_variant_choice(
    chosen: Record,
    candidates: Sequence[Record],
    host: Mapping[str, VirtualPackage],
    *,
    met: Callable[[str, VirtualPackage | None], bool] = requirement_met,
) -> list[str]:
    """Say which build of ``chosen``'s name and version was picked and why each other was not.

    ``candidates`` are every build of that name and version the channels offer (``chosen`` among
    them); records are mappings with ``name``, ``version``, ``build``, ``build_number`` and
    ``depends``.
    """
    others = [c for c in candidates if c["build"] != chosen["build"]]
    if not others:
        return []
    number = int(chosen.get("build_number", 0))
    lines = [f"{chosen['name']} {chosen['version']}: chose {_label(chosen)}"]
    for other in sorted(others, key=lambda c: -int(c.get("build_number", 0))):
        reasons = unmet_virtual_requirements(other.get("depends", ()), host, met=met)
        if reasons:
            why = "; ".join(reasons)
        elif int(other.get("build_number", 0)) < number:
            why = f"ranks lower (build number {other.get('build_number', 0)} < {number})"
        else:
            why = "the host allows it, but other requirements of this solve excluded it"
        lines.append(f"  not {_label(other)}: {why}")
    return lines


def pre_solve_report(
    specs_to_add: Iterable[str], host: Mapping[str, VirtualPackage]
) -> list[str]:
    """Before a solve: the requested specs and the virtual packages that decide among variants."""
    specs = sorted(str(s) for s in specs_to_add)
    if not specs:
        return []
    vps = ", ".join(str(host[name]) for name in sorted(host)) or "none"
    return [f"solving for {', '.join(specs)} with virtual packages {vps}"]


def post_solve_report(
    link_records: Iterable[Record],
    candidates: Callable[[Record], Sequence[Record]],
    host: Mapping[str, VirtualPackage],
    *,
    met: Callable[[str, VirtualPackage | None], bool] = requirement_met,
) -> list[str]:
    """After a solve: each linked package offered in builds that differ in virtual-package
    requirements (variants chosen by the host), with the choice explained."""
    lines: list[str] = []
    for record in link_records:
        if str(record["name"]).startswith("__"):
            continue
        builds = candidates(record)
        if len(builds) > 1 and len({_virtual_depends(b) for b in builds}) > 1:
            lines += explain_variant_choice(record, builds, host, met=met)
    return lines


def _virtual_depends(record: Record) -> frozenset[str]:
    return frozenset(d for d in record.get("depends", ()) if spec_name(d).startswith("__"))


def print_report(lines: Iterable[str], stream: TextIO | None = None) -> None:
    """Write report lines, prefixed ``cwb:``, to stderr (stdout may carry conda's ``--json``)."""
    out = stream if stream is not None else sys.stderr
    for line in lines:
        print(f"cwb: {line}", file=out)
