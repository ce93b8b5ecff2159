"""The ``cwb`` shell: registering a subcommand loads none of the heavy library code.

Building the parser imports every subcommand module, so a subcommand that imports py-rattler,
requests or zstandard at top level makes ``cwb --help`` (and every other command) pay for it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conda_wheel_bridge.cli import COMMANDS

#: what a parser must not load: the solver, the network stack, archive codecs, providers
HEAVY = ("rattler", "requests", "zstandard", "conda_package_streaming", "variantlib", "archspec")

_PROBE = """
import argparse, importlib, json, sys
module = importlib.import_module("conda_wheel_bridge.cli." + sys.argv[1])
parser = argparse.ArgumentParser(prog="cwb")
sub = module.add_parser(parser.add_subparsers())
sub.format_help()
print(json.dumps(sorted(m for m in sys.argv[2:] if m in sys.modules)))
"""


@pytest.mark.parametrize("command", COMMANDS)
def test_registering_a_subcommand_imports_no_heavy_library(command: str) -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE, command, *HEAVY],
                          capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The check above can fail: importing the library module itself loads the heavy part."""
    code = "import sys, conda_wheel_bridge.condafile; print('zstandard' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "True"


def test_cwb_help_loads_no_heavy_library() -> None:
    """The whole parser, every subcommand registered: ``cwb --help`` stays light."""
    code = ("import json, sys; from conda_wheel_bridge.cli import build_parser; "
            "build_parser().format_help(); "
            f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout) == []
