"""Console and GUI launchers for platform-specific conda packages (noarch ones use link.json).

On POSIX a launcher is a small Python script whose shebang holds conda's prefix placeholder, which
the installer rewrites to the environment's ``bin/python``. On Windows it is ``NAME-script.py``
beside a ``NAME.cmd`` that runs it with the environment's ``python.exe`` (``pythonw.exe`` for GUI).
"""

from __future__ import annotations

import re

__all__ = [
    "LAUNCHER_SUFFIX",
    "PREFIX_PLACEHOLDER",
    "entry_point_target",
    "launcher_stem",
    "posix_launcher",
    "rewrite_python_shebang",
    "windows_launcher",
]

#: the placeholder conda-build writes and conda / rattler replace by the prefix at install time
PREFIX_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

#: what a Windows launcher adds to an entry point's name (``NAME-script.py``, ``NAME.cmd`` ...)
LAUNCHER_SUFFIX = re.compile(r"(-script\.pyw?|\.exe|\.cmd)$")

_ENTRY = re.compile(r"^\s*([\w.]+)\s*(?::\s*([\w.]+)\s*)?(?:\[[^\]]*\]\s*)?$")
_SHEBANG_PYTHON = re.compile(rb"^#!python(w?)([ \t].*)?(\r?\n|$)")


def entry_point_target(value: str) -> tuple[str, str | None]:
    """``"pkg.cli:main [extra]"`` → ``("pkg.cli", "main")``; raise ``ValueError`` when malformed."""
    m = _ENTRY.match(value)
    if m is None:
        raise ValueError(f"malformed entry point {value!r}")
    return m[1], m[2]


def _body(module: str, attr: str | None) -> str:
    if attr is None:
        return (
            "import runpy\n\n"
            "if __name__ == '__main__':\n"
            f"    runpy.run_module({module!r}, run_name='__main__')\n"
        )
    top = attr.split(".")[0]
    call = attr
    return (
        "import re\n"
        "import sys\n\n"
        f"from {module} import {top}\n\n"
        "if __name__ == '__main__':\n"
        f"    sys.argv[0] = re.sub(r'{LAUNCHER_SUFFIX.pattern}', '', sys.argv[0])\n"
        f"    sys.exit({call}())\n"
    )


def launcher_stem(filename: str) -> str:
    """The entry-point name a launcher file stands for (``hello.cmd`` and ``hello-script.py``:
    ``hello``); other file names come back unchanged."""
    return LAUNCHER_SUFFIX.sub("", filename)


def posix_launcher(value: str) -> bytes:
    """The ``bin/NAME`` script for entry point ``value`` (its shebang is the prefix placeholder)."""
    module, attr = entry_point_target(value)
    head = f"#!{PREFIX_PLACEHOLDER}/bin/python\n# -*- coding: utf-8 -*-\n"
    return (head + _body(module, attr)).encode()


def windows_launcher(name: str, value: str, *, gui: bool = False) -> dict[str, bytes]:
    """``{"NAME-script.py(w)": ..., "NAME.cmd": ...}`` for entry point ``value`` in ``Scripts/``."""
    module, attr = entry_point_target(value)
    script = f"{name}-script.pyw" if gui else f"{name}-script.py"
    if gui:
        cmd = f'@start "" "%~dp0..\\pythonw.exe" "%~dp0{script}" %*\r\n'
    else:
        cmd = f'@"%~dp0..\\python.exe" "%~dp0{script}" %*\r\n'
    return {script: _body(module, attr).encode(), f"{name}.cmd": cmd.encode()}


def rewrite_python_shebang(head: bytes) -> bytes | None:
    """Turn a wheel script's ``#!python`` / ``#!pythonw`` first line into the placeholder one.

    Returns the new content, or ``None`` when the script does not start with such a line.
    """
    m = _SHEBANG_PYTHON.match(head)
    if m is None:
        return None
    rest = head[m.end() :]
    args = (m[2] or b"").rstrip()
    eol = m[3] or b"\n"
    return b"#!" + PREFIX_PLACEHOLDER.encode() + b"/bin/python" + args + eol + rest
