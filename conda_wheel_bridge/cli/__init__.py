"""The ``cwb`` command: a thin shell that dispatches to one module per subcommand.

Each module in this package defines ``add_parser(subparsers)`` and ``run(args) -> int``; errors
from the library (:class:`~conda_wheel_bridge.errors.CwbError`) become one line on stderr, exit 1.
Every module is imported to build the parser, so library imports belong in ``run()``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import CwbError

__all__ = ["COMMANDS", "build_parser", "main"]

#: subcommands in the order ``cwb --help`` lists them; each is ``conda_wheel_bridge.cli.<name>``
COMMANDS = (
    "convert",
    "inspect",
    "detect",
    "map",
    "index",
    "serve",
    "solve",
    "publish",
)


def build_parser(prog: str = "cwb") -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Bridge conda packages and wheels."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "cwb") -> int:
    """Entry point of ``cwb``; returns the exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        status: int = args._run(args)
    except CwbError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
