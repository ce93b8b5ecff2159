"""``cwb inspect FILE [--json]``: one wheel or conda package, in both vocabularies."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``cwb inspect``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "inspect",
        help="show a wheel or conda package in both vocabularies",
        description="Describe one wheel (.whl) or conda package (.conda, .tar.bz2): what it says "
        "about itself and what it becomes in the other world.",
    )
    p.add_argument("file", type=Path, metavar="FILE", help="a .whl, .conda or .tar.bz2 file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--name-map", type=Path, default=None, metavar="FILE",
                   help="PyPI⇄conda name overlay that wins over the shipped tables")
    return p


def run(args: argparse.Namespace) -> int:
    """Print the report; bad input raises a CwbError (one line, exit 1)."""
    from ..inspect import format_text, inspect_artifact
    from ..mapping.names import load_name_map

    report = inspect_artifact(args.file, names=load_name_map(args.name_map))
    if args.json:
        json.dump(report, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_text(report))
    return 0
