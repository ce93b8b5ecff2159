"""``make bench``: run every benchmark of the project, one after another, and print their reports.

Each entry is a module in ``benchmarks/`` with ``main(argv) -> int``; add yours to ``BENCHMARKS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

BENCHMARKS = ("convert", "index")


def main(argv: list[str] | None = None) -> int:
    """Run each benchmark (or the ones named); the exit status is the worst of theirs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)}); default: all")
    args = parser.parse_args(argv)
    unknown = [name for name in args.only if name not in BENCHMARKS]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (there are: "
                     f"{', '.join(BENCHMARKS)})")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    status = 0
    for name in args.only or BENCHMARKS:
        print(f"== benchmarks/{name}.py", flush=True)
        module = importlib.import_module(name)
        status = max(status, int(module.main([])))
    return status


if __name__ == "__main__":
    sys.exit(main())
