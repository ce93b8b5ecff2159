"""conda-wheel-bridge: one set of binaries, two packaging worlds (conda packages and wheels)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
