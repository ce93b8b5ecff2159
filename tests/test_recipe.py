"""The project's own conda recipe is valid recipe v1 and agrees with pyproject.toml."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement

from conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli", reason="Python 3.10 needs tomli to read pyproject.toml")

RECIPE = REPO / "recipes" / "conda-wheel-bridge" / "recipe.yaml"


def _recipe() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RECIPE.read_text())
    return data


def _pyproject() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())
    return data


def test_recipe_validates_against_recipe_v1_schema(data_dir: Path) -> None:
    schema = json.loads((data_dir / "recipe-format" / "schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(_recipe()), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_schema_rejects_a_broken_recipe(data_dir: Path) -> None:
    """The validation above could fail: a recipe without a package name is rejected."""
    schema = json.loads((data_dir / "recipe-format" / "schema.json").read_text())
    broken = _recipe()
    del broken["package"]["name"]
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_recipe_version_and_entry_point_match_pyproject() -> None:
    recipe, project = _recipe(), _pyproject()["project"]
    assert recipe["context"]["version"] == project["version"]
    scripts = [f"{k} = {v}" for k, v in project["scripts"].items()]
    assert recipe["build"]["python"]["entry_points"] == scripts


def test_recipe_run_requirements_cover_pyproject_dependencies() -> None:
    run = _recipe()["requirements"]["run"]
    run_names = {re.split(r"[\s<>=!]", spec, maxsplit=1)[0] for spec in run}
    for dep in _pyproject()["project"]["dependencies"]:
        name = Requirement(dep).name.lower()
        assert name in run_names, f"{name} is a pyproject.toml dependency but not a run requirement"
