"""``make bench``: run every benchmark of the project, one after another, and print their reports.

Each entry is a module in ``benchmarks/`` with ``main(argv) -> int``; add yours to ``BENCHMARKS``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCHMARKS = ("convert", "index")


def main() -> int:
    """Run each benchmark; the exit status is the worst of theirs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    status = 0
    for name in BENCHMARKS:
        print(f"== benchmarks/{name}.py", flush=True)
        module = importlib.import_module(name)
        status = max(status, int(module.main([])))
    return status


if __name__ == "__main__":
    sys.exit(main())
