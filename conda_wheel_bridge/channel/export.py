"""Wheels exported from a channel's Python-carrying conda packages, for its simple API.

Each conda package with a site-packages distribution is converted once (cached by the package's
sha256) with :func:`conda_wheel_bridge.to_wheel.conda_to_wheel` into ``CHANNEL/wheels/``. One
wheel per file name: ``.conda`` twins win over ``.tar.bz2`` ones, and a raw wheel already in the
channel wins over an export; refusals are reported, not fatal.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import CwbError
from ..to_wheel import conda_to_wheel
from .cache import load_json, save_json
from .wheelinfo import read_wheel_facts

__all__ = ["EXPORT_DIR", "exported_wheels"]

#: where wheels exported from conda packages live, relative to the channel root
EXPORT_DIR = "wheels"


def exported_wheels(root: Path, pythonic: Iterable[tuple[Path, str]], state: Path,
                    skipped: list[str], *, taken: set[str]) -> tuple[list[dict[str, Any]], int]:
    """Facts of the wheels exported from ``pythonic`` (``(package path, sha256)`` pairs), and how
    many were converted in this run; what was left out is appended to ``skipped``.

    A raw wheel in the channel (``taken``) wins over an exported wheel of the same name.
    """
    items = sorted(pythonic, key=lambda item: (item[0].parent.name,
                                               not item[0].name.endswith(".conda"), item[0].name))
    out_dir = root / EXPORT_DIR
    cache_path = state / "cache" / "exported.json"
    cache = load_json(cache_path)
    result: dict[str, Any] = {}
    wheels: list[dict[str, Any]] = []
    used = set(taken)
    converted = 0
    for path, sha in items:
        where = f"{path.parent.name}/{path.name}"
        cached = cache.get(sha)
        if cached is not None and "skipped" in cached["facts"]:
            if cached["facts"].get("fn") is None or cached["facts"]["fn"] in used:
                result[sha] = cached  # the same verdict as last time, without converting again
                skipped.append(f"{where}: {cached['facts']['skipped']}")
                continue
            cached = None
        if cached is not None and cached["facts"]["fn"] not in used and _present(
                out_dir / cached["facts"]["fn"], cached["size"]):
            result[sha] = cached
        else:
            try:
                with _scratch(state) as tmp:
                    produced = Path(conda_to_wheel(path, tmp))
                    if produced.name in used:
                        why = f"its wheel {produced.name} is already in the channel"
                        result[sha] = _skip_entry(why, produced.name)
                        skipped.append(f"{where}: {why}")
                        continue
                    facts = read_wheel_facts(produced)
                    out_dir.mkdir(exist_ok=True)
                    os.replace(produced, out_dir / produced.name)
            except CwbError as exc:
                why = f"not exported as a wheel ({exc.reason})"
                result[sha] = _skip_entry(why, None)
                skipped.append(f"{where}: {why}")
                continue
            except ImportError as exc:  # a converter part is missing: try again next time
                skipped.append(f"{where}: not exported as a wheel ({exc})")
                continue
            result[sha] = {"size": facts["size"], "mtime_ns": 0, "sha256": facts["sha256"],
                           "facts": facts}
            converted += 1
        facts = result[sha]["facts"]
        used.add(facts["fn"])
        wheels.append({**facts, "url": f"{EXPORT_DIR}/{facts['fn']}", "source": where})
    keep = {r["facts"]["fn"] for r in result.values() if "skipped" not in r["facts"]}
    if out_dir.is_dir():
        for item in out_dir.iterdir():
            base = item.name.removesuffix(".metadata")
            if base.endswith(".whl") and base not in keep:
                item.unlink()
    if result != cache:
        save_json(cache_path, result)
    return wheels, converted


def _skip_entry(reason: str, fn: str | None) -> dict[str, Any]:
    return {"size": 0, "mtime_ns": 0, "sha256": "", "facts": {"skipped": reason, "fn": fn}}


def _present(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


class _scratch:
    """A temporary directory under the channel's state dir (same file system: rename works)."""

    def __init__(self, state: Path) -> None:
        self.path = state / f"tmp-{os.getpid()}-{time.monotonic_ns()}"

    def __enter__(self) -> Path:
        self.path.mkdir(parents=True)
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
