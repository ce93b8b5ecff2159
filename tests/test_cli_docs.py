"""docs/cli.md is exactly what the parsers say (regenerate with tools/gen_cli_docs.py)."""

from __future__ import annotations

import importlib.util

from conda_wheel_bridge.cli import COMMANDS

from conftest import REPO


def _render() -> str:
    path = REPO / "tools" / "gen_cli_docs.py"
    spec = importlib.util.spec_from_file_location("gen_cli_docs", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.render()
    return text


def test_cli_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == _render(), "docs/cli.md is stale: run `python tools/gen_cli_docs.py`"


def test_cli_reference_covers_every_command() -> None:
    text = _render()
    for name in COMMANDS:
        assert f"## `cwb {name}`" in text
