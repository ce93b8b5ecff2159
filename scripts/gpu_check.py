#!/usr/bin/env python3
"""Compare ``cwb detect --json`` with py-rattler's detection and the NVIDIA variant provider on a
real host (meant for a GPU machine; runs anywhere). Needs only the repository on ``sys.path``:

    python3 scripts/gpu_check.py            # prints one JSON report; also $OUT/gpu_check.json

The report holds our virtual packages and supported properties, py-rattler's virtual packages,
the provider's supported configs (when ``nvidia_variant_provider`` is importable), what
``nvidia-smi`` says, and every disagreement.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def ours() -> dict[str, Any]:
    """``cwb detect --json``, run as a program from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "conda_wheel_bridge", "detect", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        # the CLI imports every subcommand; fall back to the detection module alone
        code = "import json; from conda_wheel_bridge.host import detect; "
        code += "print(json.dumps(detect().as_json()))"
        fallback = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
        if fallback.returncode != 0:
            return {"error": done.stderr.strip()[-2000:] + fallback.stderr.strip()[-2000:]}
        done = fallback
    report: dict[str, Any] = json.loads(done.stdout)
    report["seconds"] = round(time.monotonic() - start, 2)
    return report


def rattlers() -> list[str] | str:
    """py-rattler's detected virtual packages as ``name=version=build``."""
    try:
        import rattler
    except ImportError as exc:
        return f"py-rattler not importable: {exc}"
    out = []
    for package in rattler.VirtualPackage.detect():
        generic = package.into_generic()
        out.append(f"{generic.name.normalized}={generic.version}={generic.build_string}")
    return sorted(out)


def providers() -> dict[str, list[str]] | str:
    """The NVIDIA variant provider's supported configs on this host (it reads NVML)."""
    try:
        from nvidia_variant_provider.plugin import NvidiaVariantPlugin
    except ImportError as exc:
        return f"nvidia_variant_provider not importable: {exc}"
    return {c.name: list(c.values) for c in NvidiaVariantPlugin.get_supported_configs()}


def nvidia_smi() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() or done.stderr.strip()


def compare(report: dict[str, Any], theirs: list[str] | str, nvidia: Any) -> list[str]:
    """Every disagreement between our report and py-rattler's / the provider's."""
    problems: list[str] = []
    if "error" in report or isinstance(theirs, str):
        return ["cannot compare: " + str(report.get("error") or theirs)]
    mine = {
        p["name"]: f"{p['name']}={p['version']}={p['build']}" for p in report["virtual_packages"]
    }
    other = {text.split("=")[0]: text for text in theirs}
    for name in sorted(set(mine) | set(other)):
        a, b = mine.get(name), other.get(name)
        if a != b:
            problems.append(f"{name}: cwb {a} vs py-rattler {b}")
    if isinstance(nvidia, dict):
        got = report["variant_properties"].get("nvidia", {})
        for feature in sorted(set(got) | set(nvidia)):
            if got.get(feature) != nvidia.get(feature):
                problems.append(f"nvidia :: {feature}: cwb {got.get(feature)} vs provider")
    return problems


def main() -> int:
    report = ours()
    theirs = rattlers()
    nvidia = providers()
    result = {
        "python": sys.version.split()[0],
        "nvidia_smi": nvidia_smi(),
        "cwb_detect": report,
        "py_rattler": theirs,
        "nvidia_provider": nvidia,
    }
    result["disagreements"] = compare(report, theirs, nvidia)
    text = json.dumps(result, indent=2)
    print(text)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(text + "\n")
    return 1 if result["disagreements"] else 0


if __name__ == "__main__":
    sys.exit(main())
