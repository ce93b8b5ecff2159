"""``cwb detect [--json]``: this host's conda virtual packages and supported variant properties."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``cwb detect``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "detect",
        help="show this host's conda virtual packages and supported variant properties",
        description="Detect this host as conda sees it (virtual packages, CONDA_OVERRIDE_* "
        "honoured) and as wheel-variant providers see it (supported properties).",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--subdir", default=None, metavar="SUBDIR",
                   help="target conda subdir (default: this machine's)")  # fmt: skip
    p.add_argument("--cuda-timeout", type=float, default=20.0, metavar="SECONDS",
                   help="give up on the CUDA driver after this long (default: 20)")  # fmt: skip
    return p


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 0."""
    from ..host import detect

    report = detect(subdir=args.subdir, cuda_timeout=args.cuda_timeout)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
        return 0
    print(f"conda virtual packages ({report.subdir}):")
    for package in report.virtual_packages:
        print(f"  {package}")
    print("variant properties supported (best first):")
    if not report.supported:
        print("  (none)")
    for ns, features in report.supported.items():
        for feature, values in features.items():
            print(f"  {ns} :: {feature} :: {', '.join(values)}")
    for note in report.readings.notes:
        print(f"note: {note}")
    return 0
