"""Build small but real wheels for tests (variant wheels, bad wheels, wheels of any tag).

The wheels follow PEP 427: a ``.dist-info`` with METADATA, WHEEL and a RECORD whose hashes match,
so anything that fails on them fails for the reason the test means.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    files: Mapping[str, bytes] | None = None,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    extra_metadata: Sequence[str] = (),
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    variant: Mapping[str, Any] | None = None,
    variant_label: str | None = None,
    build_tag: str | None = None,
    license_expression: str | None = None,
) -> Path:
    """Write ``{name}-{version}[-{build}]-{tag}[-{label}].whl`` into ``directory`` and return it.

    ``files`` maps archive paths to contents; by default one module ``{name}/__init__.py``.
    ``variant`` is written as ``.dist-info/variant.json`` (the caller picks the schema generation).
    """
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    default = {f"{dist}/__init__.py": f'__version__ = "{version}"\n'.encode()}
    payload: dict[str, bytes] = dict(files if files is not None else default)
    meta = ["Metadata-Version: 2.4", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    if license_expression:
        meta.append(f"License-Expression: {license_expression}")
    meta += [f"Requires-Dist: {r}" for r in requires_dist]
    meta += list(extra_metadata)
    payload[f"{dist_info}/METADATA"] = ("\n".join(meta) + "\n\n").encode()
    interp, abi, plat = tag.split("-")
    purelib = str(plat == "any").lower()
    wheel_lines = ["Wheel-Version: 1.0", "Generator: cwb-tests", f"Root-Is-Purelib: {purelib}"]
    for i in interp.split("."):
        for a in abi.split("."):
            for p in plat.split("."):
                wheel_lines.append(f"Tag: {i}-{a}-{p}")
    if build_tag:
        wheel_lines.append(f"Build: {build_tag}")
    payload[f"{dist_info}/WHEEL"] = ("\n".join(wheel_lines) + "\n").encode()
    if entry_points:
        text = ""
        for group, eps in entry_points.items():
            text += f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        payload[f"{dist_info}/entry_points.txt"] = text.encode()
    if variant is not None:
        payload[f"{dist_info}/variant.json"] = json.dumps(variant, indent=2).encode()
    record_lines = [f"{path},{record_hash(data)},{len(data)}" for path, data in payload.items()]
    record_lines.append(f"{dist_info}/RECORD,,")
    payload[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()

    parts = [dist, version, *([build_tag] if build_tag else []), tag]
    parts += [variant_label] if variant_label else []
    path = Path(directory) / ("-".join(parts) + ".whl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arc, data in payload.items():
            zf.writestr(arc, data)
    return path
