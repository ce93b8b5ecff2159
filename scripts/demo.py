"""`make demo`: the bridge's main job, end to end, on sample wheels this script makes itself.

1. build three small projects as wheels (a library, an app with a console script that needs it,
   and a package published as two wheel variants: plain CPU and CUDA >= 12.8 for sm_90);
2. ``cwb convert`` them into a conda channel;
3. ``cwb index`` the channel for conda clients (repodata) and pip/uv (simple API);
4. ``cwb solve`` the variant package for two simulated hosts: each gets its own build, and
   ``--explain`` says why the other was rejected;
5. ``cwb convert --to wheel`` turns a conda package back into a wheel, and ``cwb inspect`` shows it.

Everything lands in ``demo-out/`` (recreated on each run).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conda_wheel_bridge import __version__
from conda_wheel_bridge.condafile import conda_writer
from conda_wheel_bridge.mapping.variantjson import (
    ProviderInfo,
    VariantDescription,
    write_variant_json,
)
from conda_wheel_bridge.model import VariantProperty
from conda_wheel_bridge.wheelwriter import WheelWriter, wheel_filename

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-out"


def _wheel(
    directory: Path,
    name: str,
    version: str,
    modules: dict[str, str],
    *,
    requires: tuple[str, ...] = (),
    scripts: dict[str, str] | None = None,
    variant: VariantDescription | None = None,
) -> Path:
    """Write one wheel with the project's own streaming writer."""
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    label = variant.label if variant is not None else None
    path = directory / wheel_filename(name, version, "py3-none-any", variant_label=label)
    metadata = [
        "Metadata-Version: 2.4",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {name}, a sample project of the conda-wheel-bridge demo",
        "License-Expression: MIT",
        "Requires-Python: >=3.10",
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    with WheelWriter(path) as writer:
        for module, source in modules.items():
            writer.add_bytes(module, source.encode())
        writer.add_bytes(f"{dist_info}/METADATA", ("\n".join(metadata) + "\n\n").encode())
        writer.add_bytes(
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: cwb-demo\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        if scripts:
            lines = "".join(f"{k} = {v}\n" for k, v in scripts.items())
            entry_points = f"[console_scripts]\n{lines}".encode()
            writer.add_bytes(f"{dist_info}/entry_points.txt", entry_points)
        if variant is not None:
            text = json.dumps(write_variant_json(variant), indent=2)
            writer.add_bytes(f"{dist_info}/variant.json", text.encode())
        writer.finish(dist_info)
    return path


def _variants() -> list[VariantDescription]:
    """The two builds of ``fastkernel``: no properties (any host) and CUDA >= 12.8 for sm_90."""
    providers = {"nvidia": ProviderInfo(requires=("nvidia-variant-provider",))}
    cuda = (
        VariantProperty("nvidia", "cuda_version_lower_bound", "12.8"),
        VariantProperty("nvidia", "sm_arch", "90_real"),
    )
    return [
        VariantDescription("null", (), namespace_priorities=("nvidia",), providers=providers),
        VariantDescription("cu128", cuda, namespace_priorities=("nvidia",), providers=providers),
    ]


def _python_stand_in(channel: Path) -> None:
    """A ``python`` record for the solver: no conda-forge is reachable, so the demo channel
    carries an empty stand-in named like the running interpreter (solving only, not installing)."""
    import rattler

    subdir = str(rattler.Subdir.current())
    version = "{}.{}.{}".format(*sys.version_info[:3])
    index = {
        "name": "python",
        "version": version,
        "build": "demo_0",
        "build_number": 0,
        "subdir": subdir,
        "depends": [],
        "license": "PSF-2.0",
    }
    path = channel / subdir / f"python-{version}-demo_0.conda"
    with conda_writer(path) as writer:
        writer.add_info("index.json", json.dumps(index, indent=2).encode())
        writer.add_info("paths.json", b'{"paths": [], "paths_version": 1}')


def _cwb(*args: str | Path) -> str:
    """Run ``cwb ARGS`` as a user would, echoing the command and its output."""
    shown = " ".join(str(a).replace(str(ROOT) + "/", "") for a in args)
    print(f"\n$ cwb {shown}")
    done = subprocess.run(
        [sys.executable, "-m", "conda_wheel_bridge", *map(str, args)],
        capture_output=True,
        text=True,
    )
    text = done.stdout.rstrip()
    if text:
        print("\n".join("  " + line for line in text.splitlines()))
    if done.returncode != 0:
        print(done.stderr.rstrip(), file=sys.stderr)
        raise SystemExit(f"demo: `cwb {shown}` failed with exit status {done.returncode}")
    return done.stdout


def main() -> int:
    print(f"conda-wheel-bridge {__version__} demo: wheels -> conda channel -> solves -> wheels")
    shutil.rmtree(OUT, ignore_errors=True)
    wheels, channel, back = OUT / "wheels", OUT / "channel", OUT / "wheels-from-conda"
    wheels.mkdir(parents=True)

    made = [
        _wheel(wheels, "greeting-core", "1.0.0",
               {"greeting_core/__init__.py": 'def greet(who):\n    return f"hello, {who}"\n'}),
        _wheel(
            wheels, "hello-bridge", "1.2.0",
            {"hello_bridge/__init__.py": "from greeting_core import greet\n\n"
             "def main():\n    print(greet('both worlds'))\n"},
            requires=("greeting-core>=1.0",),
            scripts={"hello-bridge": "hello_bridge:main"},
        ),
        *(
            _wheel(wheels, "fastkernel", "2.0.0",
                   {"fastkernel/__init__.py": f'BUILD = "{v.label}"\n'}, variant=v)
            for v in _variants()
        ),
    ]
    print("\n1. sample wheels built by the project's own writer:")
    for path in made:
        print(f"  {path.relative_to(ROOT)}")

    print("\n2. convert every wheel into a conda channel")
    _cwb("convert", *made, "-o", channel)
    _python_stand_in(channel)

    print("\n3. index the channel for conda (repodata) and pip/uv (simple API)")
    _cwb("index", channel)

    print("\n4. solve the variant package for two simulated hosts")
    for label, virtual in (("a CPU-only host", []), ("a host with CUDA 12.8 on an sm_90 GPU",
                                                      ["--virtual", "__cuda=12.8",
                                                       "--virtual", "__cuda_arch=9.0"])):
        print(f"\n  -- {label}")
        _cwb("solve", "fastkernel", "hello-bridge", "-c", channel, "--no-host", *virtual,
             "--explain")

    print("\n5. back to the wheel world: a converted conda package becomes a wheel again")
    conda_pkg = next((channel / "noarch").glob("hello-bridge-*.conda"))
    _cwb("convert", conda_pkg, "--to", "wheel", "-o", back)
    _cwb("inspect", next(back.glob("*.whl")))
    print(f"\ndemo done: everything is under {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
