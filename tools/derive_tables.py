#!/usr/bin/env python3
"""Derive the compact mapping tables shipped in ``conda_wheel_bridge/mapping/data/``.

Reads the public data sets in ``../shared/data`` (see its README) and writes only what the mapping
modules need: name pairs that differ from the normalised fallback, non-Python conda names, the
PEP 804 conda-forge DepURL table, the licenses, and a ``PROVENANCE.json`` with each input's sha256.
Output is deterministic (sorted keys, gzip mtime 0), so a test can re-run this and compare bytes.

    python tools/derive_tables.py [--data ../shared/data] [--out conda_wheel_bridge/mapping/data]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import struct
import sys
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "conda_wheel_bridge" / "mapping" / "data"

GRAYSKULL = "pypi-conda-names/grayskull_pypi_mapping.json"
PARSELMOUTH = "pypi-conda-names/parselmouth-conda-forge-compressed_mapping.json"
CONDA_FORGE = "external-metadata-mappings/data/conda-forge.mapping.json"
REGISTRY = "external-metadata-mappings/data/registry.json"

# Facts about each input, recorded in PROVENANCE.json next to the sha256 this script computes.
SOURCES: dict[str, dict[str, str]] = {
    GRAYSKULL: {
        "source": "conda-pypi 0.13.1 wheel on PyPI (grayskull_pypi_mapping.json, made by "
        "conda-forge's regro bot from feedstock recipes)",
        "license": "MIT",
        "license_file": "pypi-conda-names/conda-pypi-LICENSE",
    },
    PARSELMOUTH: {
        "source": "github:prefix-dev/parselmouth",
        "commit": "345e9bfbd11d932d63df2bc1146511337f7ba5dd",
        "path": "files/v0/conda-forge/compressed_mapping.json",
        "license": "BSD-3-Clause",
        "license_file": "pypi-conda-names/parselmouth-LICENSE",
    },
    CONDA_FORGE: {
        "source": "github:jaimergp/external-metadata-mappings",
        "commit": "b027048d606d5f73e1251af43fc75a706d07da2b",
        "path": "data/conda-forge.mapping.json",
        "license": "BSD-3-Clause",
        "license_file": "external-metadata-mappings/LICENSE",
    },
    REGISTRY: {
        "source": "github:jaimergp/external-metadata-mappings",
        "commit": "b027048d606d5f73e1251af43fc75a706d07da2b",
        "path": "data/registry.json",
        "license": "BSD-3-Clause",
        "license_file": "external-metadata-mappings/LICENSE",
    },
}

# Runtime-library splits of conda-forge that the PEP 804 table does not list (it names the -dev
# style package, e.g. ``zlib``). Each pair is a fact about conda-forge packaging: the named conda
# package is the run-time part of the DepURL's library. Used only for conda -> DepURL.
CURATED_REVERSE: dict[str, str] = {
    "libzlib": "dep:generic/zlib",
    "libffi": "dep:generic/libffi",
    "libopenblas": "dep:generic/openblas",
    "libjpeg-turbo": "dep:generic/libjpeg",
    "libsodium": "dep:generic/libsodium",
    "libxml2": "dep:generic/libxml2",
    "libxml2-16": "dep:generic/libxml2",
    "openblas": "dep:generic/openblas",
    "libxslt": "dep:generic/libxslt",
    "libwebp-base": "dep:generic/libwebp",
    "libtiff": "dep:generic/libtiff",
    "libpq": "dep:generic/libpq",
    "openssl": "dep:generic/openssl",
    "freetype": "dep:generic/freetype",
    "libfreetype": "dep:generic/freetype",
    "libfreetype6": "dep:generic/freetype",
    "lcms2": "dep:generic/lcms2",
    "openjpeg": "dep:generic/openjpeg",
    "yaml": "dep:generic/libyaml",
    "gmp": "dep:generic/gmp",
    "tk": "dep:generic/tk",
    "libxcb": "dep:generic/libxcb",
    "libimagequant": "dep:generic/libimagequant",
    "libarrow": "dep:generic/arrow",
    "liblapack": "dep:virtual/interface/lapack",
    "libblas": "dep:virtual/interface/blas",
    "libcblas": "dep:virtual/interface/blas",
}

_NORMALISE = re.compile(r"[-_.]+")


def _canonical(name: str) -> str:
    return _NORMALISE.sub("-", name).lower()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as stream:
        return json.load(stream)


def derive_names(grayskull: Mapping[str, Any], parselmouth: Mapping[str, Any]) -> dict[str, Any]:
    """Name tables: only what the normalised fallback would get wrong, plus non-Python names."""
    pypi_to_conda = {
        _canonical(entry["pypi_name"]): entry["conda_name"].lower()
        for entry in grayskull.values()
        if entry.get("conda_name") and entry["conda_name"].lower() != _canonical(entry["pypi_name"])
    }
    claims: dict[str, set[str]] = {}
    for entry in grayskull.values():
        if entry.get("conda_name"):
            claims.setdefault(entry["conda_name"].lower(), set()).add(
                _canonical(entry["pypi_name"])
            )
    conda_claims = {conda: sorted(pypis) for conda, pypis in claims.items() if len(pypis) > 1}
    # conda names a reverse lookup could get wrong: keep parselmouth's answer for them even when it
    # is just the name itself (the fallback), so "what the package holds" beats "who claims it".
    targets = set(pypi_to_conda.values()) | set(conda_claims)
    non_python = sorted(name for name, value in parselmouth.items() if not value)
    conda_to_pypi: dict[str, list[str]] = {}
    for name, value in parselmouth.items():
        if not value:
            continue
        pypi = sorted({_canonical(v) for v in value})
        if pypi != [_canonical(name)] or name in targets:
            conda_to_pypi[name] = pypi
    holders_found, pypi_ambiguous = _holders(grayskull, parselmouth)
    return {
        "pypi_to_conda": dict(sorted({**holders_found, **pypi_to_conda}.items())),
        "pypi_ambiguous": dict(sorted(pypi_ambiguous.items())),
        "conda_claims": dict(sorted(conda_claims.items())),
        "conda_to_pypi": dict(sorted(conda_to_pypi.items())),
        "non_python": non_python,
    }


def _holders(
    grayskull: Mapping[str, Any], parselmouth: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """PyPI -> conda answers for names grayskull lacks, from the packages that hold them.

    A conda-forge package that holds exactly one distribution is a *holder* of it (parselmouth).
    For a PyPI name without a grayskull entry whose normalised name is not itself a holder (the
    fallback would answer a package that does not hold it, or none at all): one holder, or one
    holder spelled like it (``adam-core`` -> ``adam_core``), is the answer; several are ambiguous.
    """
    holders: dict[str, set[str]] = {}
    for name, value in parselmouth.items():
        if value and len(value) == 1:
            holders.setdefault(_canonical(value[0]), set()).add(name.lower())
    known = {_canonical(entry["pypi_name"]) for entry in grayskull.values()}
    found: dict[str, str] = {}
    ambiguous: dict[str, list[str]] = {}
    for pypi, conda_names in holders.items():
        if pypi in known or pypi in conda_names:
            continue
        spelled = sorted(c for c in conda_names if _canonical(c) == pypi)
        choice = sorted(conda_names) if len(conda_names) == 1 else spelled
        if len(choice) == 1:
            found[pypi] = choice[0]
        else:
            ambiguous[pypi] = sorted(conda_names)
    return found, ambiguous


def _spec_names(specs: Any) -> list[str]:
    """Run-time conda specs of one PEP 804 mapping entry (str, list, or build/host/run dict)."""
    if isinstance(specs, str):
        return [specs]
    if isinstance(specs, list):
        return [s for s in specs if isinstance(s, str)]
    if isinstance(specs, dict):
        return _spec_names(specs.get("run", []))
    return []


def derive_external(mapping: Mapping[str, Any], registry: Mapping[str, Any]) -> dict[str, Any]:
    """DepURL -> alternatives, each the conda run-time specs that together provide it.

    Entry order is kept: the first alternative is conda-forge's main package (later ones are
    CentOS CDT or MSYS2 repackagings). Recipe-time Jinja (``{{ compiler('c') }}``) is skipped.
    """
    forward: dict[str, list[list[str]]] = {}
    entries = {e["id"]: e for e in mapping["mappings"] if "specs" in e}
    for entry in mapping["mappings"]:
        specs = entry.get("specs")
        if specs is None and "specs_from" in entry:
            specs = entries.get(entry["specs_from"], {}).get("specs")
        alternatives = forward.setdefault(entry["id"], [])
        runtime = [" ".join(s.split()) for s in _spec_names(specs) if "{{" not in s]
        if runtime and runtime not in alternatives:
            alternatives.append(runtime)
    provides: dict[str, list[str]] = {}
    known = []
    for definition in registry["definitions"]:
        known.append(definition["id"])
        value = definition.get("provides")
        if value:
            provides[definition["id"]] = [value] if isinstance(value, str) else list(value)
    return {
        "conda_forge": dict(sorted(forward.items())),
        "provides": dict(sorted(provides.items())),
        "registry": sorted(known),
        "curated_reverse": dict(sorted(CURATED_REVERSE.items())),
    }


def _license_name(rel: str) -> str:
    """``pypi-conda-names/parselmouth-LICENSE`` -> ``LICENSE-parselmouth``."""
    folder, _, leaf = rel.partition("/")
    stem = leaf.removesuffix("LICENSE").rstrip("-") or folder
    return f"LICENSE-{stem}"


def _dump_json(data: Any) -> bytes:
    return (
        json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    ).encode()


def _gzip(payload: bytes) -> bytes:
    """gzip with a fixed header (no name, mtime 0, OS "unknown"): ``gzip.compress`` writes a
    different OS byte from Python 3.11 on, which would make the tables differ by interpreter."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflate.compress(payload) + deflate.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    trailer = struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)
    return header + body + trailer


def render(data_dir: Path) -> dict[str, bytes]:
    """Every output file name and its bytes, computed from ``data_dir``."""
    inputs = {rel: data_dir / rel for rel in SOURCES}
    for rel, path in inputs.items():
        if not path.is_file():
            raise SystemExit(f"derive_tables: {path}: missing input ({rel})")
    names = derive_names(_load(inputs[GRAYSKULL]), _load(inputs[PARSELMOUTH]))
    external = derive_external(_load(inputs[CONDA_FORGE]), _load(inputs[REGISTRY]))
    outputs = {
        "names.json.gz": _gzip(_dump_json(names)),
        "external.json": _dump_json(external),
    }
    licenses = {
        info["license_file"]: _license_name(info["license_file"]) for info in SOURCES.values()
    }
    for rel, out_name in licenses.items():
        outputs[out_name] = (data_dir / rel).read_bytes()
    provenance = {
        "generator": "tools/derive_tables.py",
        "inputs": {
            rel: {
                **info,
                "license_file": licenses[info["license_file"]],
                "sha256": _sha256(inputs[rel]),
            }
            for rel, info in SOURCES.items()
        },
        "outputs": {
            name: {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
            for name, blob in sorted(outputs.items())
            if name.endswith((".json", ".gz"))
        },
        "curated": "external.json curated_reverse: conda-forge run-time library splits, listed in "
        "tools/derive_tables.py (CURATED_REVERSE)",
    }
    outputs["PROVENANCE.json"] = (json.dumps(provenance, indent=2, sort_keys=True) + "\n").encode()
    return outputs


def write(outputs: Mapping[str, bytes], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, blob in outputs.items():
        tmp = out_dir / f".{name}.tmp"
        tmp.write_bytes(blob)
        tmp.replace(out_dir / name)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the tables go")
    parser.add_argument(
        "--check", action="store_true", help="compare with the files in --out; write nothing"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    outputs = render(args.data)
    if args.check:
        stale = [
            n
            for n, b in outputs.items()
            if not (args.out / n).is_file() or (args.out / n).read_bytes() != b
        ]
        for name in stale:
            print(
                f"derive_tables: {args.out / name}: differs from what {args.data} derives",
                file=sys.stderr,
            )
        return 1 if stale else 0
    write(outputs, args.out)
    for name, blob in sorted(outputs.items()):
        print(f"{len(blob):>9}  {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
