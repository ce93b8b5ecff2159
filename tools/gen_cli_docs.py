"""Write docs/cli.md, the CLI reference, from the argument parsers themselves.

Run ``python tools/gen_cli_docs.py`` after changing a command; ``tests/test_cli_docs.py`` fails
while docs/cli.md differs from what this prints, so the reference cannot drift from the code.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"

HEADER = """\
# CLI reference

Generated from the argument parsers by `tools/gen_cli_docs.py`; do not edit by hand.

Every command exits 0 on success and 1 with one line `cwb: error: <file>: <reason>` on bad input,
leaving no partial output; usage errors exit 2. The same commands run as `conda cwb ...` when the
conda plugin is installed (docs/plugin.md).
"""


def render() -> str:
    """The whole reference as Markdown."""
    os.environ["COLUMNS"] = "100"  # stable wrapping of argparse's help text
    from conda_wheel_bridge.cli import build_parser

    parser = build_parser()
    sub_actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    parts = [HEADER]
    for action in sub_actions:
        for name, sub in action.choices.items():
            parts.append(f"\n## `cwb {name}`\n\n```\n{sub.format_help().rstrip()}\n```\n")
    return "".join(parts)


def main() -> int:
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
