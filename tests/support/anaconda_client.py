"""The real anaconda-client, installed once per checkout into its own venv (``.cache/``).

anaconda-client pulls in about eighty packages (typer, opentelemetry ...), so it is not a test
dependency of the project: tests that want the real client call :func:`anaconda_client_venv`,
which builds the venv from PyPI the first time and skips the test, saying why, if it cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["ANACONDA_CLIENT", "anaconda_client_venv", "anaconda_env"]

ANACONDA_CLIENT = "anaconda-client==1.16.0"
_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "anaconda-client"


def anaconda_client_venv() -> Path:
    """The venv holding :data:`ANACONDA_CLIENT` (its ``bin/anaconda`` and ``bin/python``)."""
    venv = _CACHE / ANACONDA_CLIENT.replace("==", "-")
    marker = venv / ".complete"
    if marker.is_file():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", ANACONDA_CLIENT],
        capture_output=True, text=True)
    if pip.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        tail = (pip.stderr or pip.stdout).strip().splitlines()[-1:] or ["?"]
        pytest.skip(f"cannot install {ANACONDA_CLIENT} from PyPI here: {tail[0]}")
    marker.write_text(ANACONDA_CLIENT + "\n")
    return venv


def anaconda_env(config_dir: Path, api_url: str, token: str | None) -> dict[str, str]:
    """Environment for the ``anaconda`` command: its config points at ``api_url``."""
    data = config_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "config.yaml").write_text(
        f"default_site: local\nsites:\n  local:\n    url: {api_url}\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("ANACONDA_API_TOKEN", "BINSTAR_API_TOKEN")}
    env.update(BINSTAR_CONFIG_DIR=str(config_dir), HOME=str(config_dir),
               XDG_CONFIG_HOME=str(config_dir / "xdg"), NO_COLOR="1")
    if token is not None:
        env["ANACONDA_API_TOKEN"] = token
    return env
