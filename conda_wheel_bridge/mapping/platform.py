"""Wheel tags ⇄ conda subdir, python / python_abi pins, ``__glibc`` / ``__osx`` / ``__win`` floors.

Pure rules over :class:`packaging.tags.Tag` (DESIGN.md §4). ``target_for_wheel`` says where a
wheel lands as a conda package; ``tags_for_conda`` goes back from a subdir and depends to tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.tags import Tag

from ..errors import UnsupportedTag
from ..model import CondaTarget
from .requirements import requires_python_to_conda

__all__ = [
    "NOARCH",
    "marker_environment",
    "python_spec",
    "subdirs_for_wheel",
    "tags_for_conda",
    "target_for_wheel",
    "targets_for_wheel",
]

NOARCH = "noarch"

#: manylinux / musllinux / linux architecture -> conda subdir
_LINUX_ARCH = {
    "x86_64": "linux-64",
    "i686": "linux-32",
    "aarch64": "linux-aarch64",
    "armv7l": "linux-armv7l",
    "ppc64le": "linux-ppc64le",
    "ppc64": "linux-ppc64",
    "s390x": "linux-s390x",
    "riscv64": "linux-riscv64",
}
#: macOS architecture (including the fat ones) -> conda subdirs
_MAC_ARCH = {
    "x86_64": ("osx-64",),
    "arm64": ("osx-arm64",),
    "universal2": ("osx-64", "osx-arm64"),
    "intel": ("osx-64",),
    "fat64": ("osx-64",),
    "fat3": ("osx-64",),
    "universal": ("osx-64",),
}
_WINDOWS = {"win_amd64": "win-64", "win32": "win-32", "win_arm64": "win-arm64"}
#: PEP 600 aliases of the legacy manylinux tags
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
#: macOS on Apple silicon starts at 11.0 whatever a universal2 tag says
_OSX_ARM64_FLOOR = (11, 0)

_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(.+)$")
_LEGACY = re.compile(r"^(manylinux1|manylinux2010|manylinux2014)_(.+)$")
_MUSLLINUX = re.compile(r"^musllinux_(\d+)_(\d+)_(.+)$")
_MACOSX = re.compile(r"^macosx_(\d+)_(\d+)_(.+)$")
_CPYTHON_ABI = re.compile(r"^cp(\d)(\d+)([dmu]*)(t?)([dmu]*)$")
_INTERPRETER = re.compile(r"^(py|cp)(\d)(\d*)$")

# the inverse direction
_SUBDIR_LINUX = {v: k for k, v in _LINUX_ARCH.items()}
_SUBDIR_MAC = {"osx-64": ("x86_64", (10, 13)), "osx-arm64": ("arm64", (11, 0))}
_SUBDIR_WIN = {v: k for k, v in _WINDOWS.items()}
_MACHINE = {
    "linux-64": "x86_64",
    "linux-32": "i686",
    "linux-aarch64": "aarch64",
    "linux-armv7l": "armv7l",
    "linux-ppc64le": "ppc64le",
    "linux-ppc64": "ppc64",
    "linux-s390x": "s390x",
    "linux-riscv64": "riscv64",
    "osx-64": "x86_64",
    "osx-arm64": "arm64",
    "win-64": "AMD64",
    "win-32": "x86",
    "win-arm64": "ARM64",
}


@dataclass(frozen=True)
class _Platform:
    """One conda subdir a wheel's platform tags reach, with the virtual-package floor they imply."""

    subdir: str
    floor: str | None  # "__glibc >=2.17", "__osx >=11.0", "__win", "__musl >=1.2", or None


def _version(parts: tuple[int, int]) -> str:
    return f"{parts[0]}.{parts[1]}"


def _libc_floor(platform: str) -> tuple[str, str, tuple[int, int]] | None:
    """``(libc, arch, floor)`` of a manylinux (PEP 600 or legacy) or musllinux tag, else None."""
    if m := _MANYLINUX.match(platform):
        return "glibc", m[3], (int(m[1]), int(m[2]))
    if m := _LEGACY.match(platform):
        return "glibc", m[2], _LEGACY_MANYLINUX[m[1]]
    if m := _MUSLLINUX.match(platform):
        return "musl", m[3], (int(m[1]), int(m[2]))
    return None


def _platforms(tags: Iterable[Tag], where: str, allow_musllinux: bool) -> dict[str, _Platform]:
    """Map every platform tag to its subdir; several tags for one subdir keep the lowest floor."""
    glibc: dict[str, tuple[int, int]] = {}
    musl: dict[str, tuple[int, int]] = {}
    osx: dict[str, tuple[int, int]] = {}
    plain: dict[str, str | None] = {}
    unknown: list[str] = []
    for platform in sorted({t.platform for t in tags}):
        if platform == "any":
            plain[NOARCH] = None
        elif linux := _libc_floor(platform):
            libc, arch, floor = linux
            sub = _LINUX_ARCH.get(arch)
            if sub is None:
                unknown.append(platform)
                continue
            table = glibc if libc == "glibc" else musl
            table[sub] = min(table.get(sub, floor), floor)
        elif platform.startswith("linux_") and platform[6:] in _LINUX_ARCH:
            plain.setdefault(_LINUX_ARCH[platform[6:]], None)
        elif m := _MACOSX.match(platform):
            subs = _MAC_ARCH.get(m[3])
            if subs is None:
                unknown.append(platform)
                continue
            for sub in subs:
                floor = (int(m[1]), int(m[2]))
                if sub == "osx-arm64":
                    floor = max(floor, _OSX_ARM64_FLOOR)
                osx[sub] = min(osx.get(sub, floor), floor)
        elif platform in _WINDOWS:
            plain[_WINDOWS[platform]] = "__win"
        else:
            unknown.append(platform)
    out: dict[str, _Platform] = {}
    for sub, floor_s in plain.items():
        out[sub] = _Platform(sub, floor_s)
    for sub, v in osx.items():
        out[sub] = _Platform(sub, f"__osx >={_version(v)}")
    for sub, v in glibc.items():
        out[sub] = _Platform(sub, f"__glibc >={_version(v)}")
    for sub, v in musl.items():
        if sub in out:
            continue  # a glibc (or plain linux) tag for the same subdir already covers it
        if not allow_musllinux:
            raise UnsupportedTag(
                where,
                "musllinux wheels have no conda-forge counterpart (conda's linux subdirs are "
                "glibc); "
                f"pass allow_musllinux / --allow-musllinux to depend on '__musl >={_version(v)}'",
            )
        out[sub] = _Platform(sub, f"__musl >={_version(v)}")
    if not out:
        raise UnsupportedTag(where, f"no conda subdir for platform tag(s) {', '.join(unknown)}")
    if NOARCH in out and len(out) > 1:
        del out[NOARCH]  # "any" beside real platforms: the platform tags are the stricter truth
    return out


def subdirs_for_wheel(
    tags: Iterable[Tag], *, where: str = "wheel", allow_musllinux: bool = False
) -> tuple[str, ...]:
    """The conda subdirs a wheel's platform tags reach (both osx ones for universal2)."""
    return tuple(sorted(_platforms(tags, where, allow_musllinux)))


def python_spec(requires_python: str | None) -> str:
    """``python`` as a conda spec from ``Requires-Python`` (``">=3.9"`` → ``"python >=3.9"``)."""
    return requires_python_to_conda(requires_python) or "python"


def marker_environment(subdir: str, python: tuple[int, int] | None) -> dict[str, str] | None:
    """The PEP 508 marker variables a target fixes, else ``None`` (noarch fixes nothing).

    A platform subdir fixes the platform variables; a CPython ``X.Y`` build also fixes
    ``python_version`` and the implementation. Variables the target leaves open (the patch
    release, and the Python version of abi3 / ``py3-none-<platform>`` builds) are left out, so
    markers on them become ``when=`` conditions instead of being judged against a guess.
    """
    if subdir == NOARCH:
        return None
    if subdir.startswith("win-"):
        os_name, sys_platform, system = "nt", "win32", "Windows"
    elif subdir.startswith("osx-"):
        os_name, sys_platform, system = "posix", "darwin", "Darwin"
    else:
        os_name, sys_platform, system = "posix", "linux", "Linux"
    env = {
        "os_name": os_name,
        "platform_machine": _MACHINE.get(subdir, ""),
        "platform_system": system,
        "sys_platform": sys_platform,
    }
    if python is not None:
        env.update(
            implementation_name="cpython",
            platform_python_implementation="CPython",
            python_version=f"{python[0]}.{python[1]}",
        )
    return env


@dataclass(frozen=True)
class _Python:
    """What the interpreter and ABI tags say about the Python that may load the wheel."""

    version: tuple[int, int] | None  # fixed CPython minor, when the ABI is version-specific
    free_threaded: bool
    depends: tuple[str, ...]


def _python(tags: Iterable[Tag], requires_python: str | None, where: str) -> _Python:
    """python / python_abi pins from interpreter and ABI tags (cp3X ABI > abi3 > none)."""
    tags = list(tags)
    specific: set[tuple[int, int, bool]] = set()
    abi3: list[tuple[int, int]] = []
    majors: set[int] = set()
    pinned_interp: set[tuple[int, int]] = set()
    for tag in tags:
        interp = _INTERPRETER.match(tag.interpreter)
        if interp is None:
            raise UnsupportedTag(where, f"interpreter tag {tag.interpreter!r} has no conda python")
        majors.add(int(interp[2]))
        if tag.abi == "abi3":
            if interp[1] != "cp" or not interp[3]:
                raise UnsupportedTag(where, f"abi3 tag {tag} names no CPython version")
            abi3.append((int(interp[2]), int(interp[3])))
        elif tag.abi == "none":
            if interp[1] == "cp" and interp[3]:
                pinned_interp.add((int(interp[2]), int(interp[3])))
        else:
            abi = _CPYTHON_ABI.match(tag.abi)
            if abi is None:
                raise UnsupportedTag(where, f"ABI tag {tag.abi!r} has no conda python_abi")
            specific.add((int(abi[1]), int(abi[2]), bool(abi[4])))
    if abi3:
        low = min(abi3)
        return _Python(None, False, (f"python >={_version(low)}",))
    if specific:
        if len(specific) > 1:
            names = ", ".join(sorted({t.abi for t in tags if t.abi not in ("none", "abi3")}))
            raise UnsupportedTag(
                where, f"wheel spans several CPython ABIs ({names}); convert one per ABI"
            )
        major, minor, ft = next(iter(specific))
        t = "t" if ft else ""
        return _Python(
            (major, minor),
            ft,
            (
                f"python >={major}.{minor},<{major}.{minor + 1}.0a0",
                f"python_abi {major}.{minor}.* *_cp{major}{minor}{t}",
            ),
        )
    if len(pinned_interp) == 1:
        major, minor = next(iter(pinned_interp))
        return _Python(
            (major, minor), False, (f"python >={major}.{minor},<{major}.{minor + 1}.0a0",)
        )
    spec = python_spec(requires_python)
    if majors == {2}:
        spec = "python <3" if spec == "python" else f"{spec},<3"
    return _Python(None, False, (spec,))


def targets_for_wheel(
    tags: Iterable[Tag],
    requires_python: str | None,
    *,
    where: str = "wheel",
    allow_musllinux: bool = False,
) -> tuple[CondaTarget, ...]:
    """Every conda target of a wheel: one per subdir (two for macOS universal2)."""
    tags = frozenset(tags)
    if not tags:
        raise UnsupportedTag(where, "wheel has no tags")
    platforms = _platforms(tags, where, allow_musllinux)
    py = _python(tags, requires_python, where)
    out = []
    for sub in sorted(platforms):
        plat = platforms[sub]
        floors = (plat.floor,) if plat.floor else ()
        depends = py.depends + floors
        windows = sub.startswith("win-")
        if py.version is None:
            # no fixed Python: the files go to noarch-python places that the installer relocates,
            # and the platform (if any) is held by the subdir and the virtual-package floor
            out.append(
                CondaTarget(
                    sub, True, depends, "site-packages", "python-scripts",
                    marker_environment=marker_environment(sub, None),
                )
            )
            continue
        major, minor = py.version
        t = "t" if py.free_threaded else ""
        site = "Lib/site-packages" if windows else f"lib/python{major}.{minor}{t}/site-packages"
        out.append(
            CondaTarget(
                sub,
                False,
                depends,
                site,
                "Scripts" if windows else "bin",
                python_version=py.version,
                free_threaded=py.free_threaded,
                marker_environment=marker_environment(sub, py.version),
            )
        )
    return tuple(out)


def target_for_wheel(
    tags: frozenset[Tag],
    requires_python: str | None,
    *,
    allow_musllinux: bool = False,
    subdir: str | None = None,
    where: str = "wheel",
) -> CondaTarget:
    """The conda target of a wheel; ``subdir`` picks one when the tags reach several."""
    targets = targets_for_wheel(tags, requires_python, where=where, allow_musllinux=allow_musllinux)
    if subdir is not None:
        for target in targets:
            if target.subdir == subdir:
                return target
        raise UnsupportedTag(where, f"wheel does not reach subdir {subdir!r}")
    if len(targets) > 1:
        subs = ", ".join(t.subdir for t in targets)
        raise UnsupportedTag(where, f"wheel reaches several subdirs ({subs}); pick one")
    return targets[0]


# --- conda -> wheel ---------------------------------------------------------------------------

_LOWER = re.compile(r">=\s*(\d+)\.(\d+)")
_UPPER = re.compile(r"<\s*(\d+)\.(\d+)")
_ABI_BUILD = re.compile(r"_cp(\d)(\d+)([tm]?)\b")


def _parse_depends(depends: Iterable[str]) -> Mapping[str, str]:
    """``name -> "version build"`` of unconditional depends (``__glibc>=2.28`` spelled any way)."""
    from .requirements import split_matchspec

    out: dict[str, str] = {}
    for dep in depends:
        name, version, build, keys = split_matchspec(dep)
        if "when" not in keys:
            out[name] = f"{version} {build}".strip()
    return out


def _floor(spec: str) -> tuple[int, int] | None:
    m = _LOWER.search(spec)
    return (int(m[1]), int(m[2])) if m else None


def _platform_tags(subdir: str, deps: Mapping[str, str]) -> list[str]:
    if subdir == NOARCH:
        return ["any"]
    if subdir in _SUBDIR_LINUX:
        arch = _SUBDIR_LINUX[subdir]
        glibc = _floor(deps.get("__glibc", ""))
        musl = _floor(deps.get("__musl", ""))
        if glibc:
            tags = [f"manylinux_{glibc[0]}_{glibc[1]}_{arch}"]
            legacy = {v: k for k, v in _LEGACY_MANYLINUX.items()}.get(glibc)
            if legacy:
                tags.append(f"{legacy}_{arch}")
            return tags
        if musl:
            return [f"musllinux_{musl[0]}_{musl[1]}_{arch}"]
        return [f"linux_{arch}"]  # no known floor: only this very host kind of tag is honest
    if subdir in _SUBDIR_MAC:
        arch, default = _SUBDIR_MAC[subdir]
        v = _floor(deps.get("__osx", "")) or default
        if subdir == "osx-arm64":
            v = max(v, _OSX_ARM64_FLOOR)
        major, minor = v
        if major >= 11:
            minor = 0  # PEP 425 on macOS 11+: the minor is always 0
        return [f"macosx_{major}_{minor}_{arch}"]
    if subdir in _SUBDIR_WIN:
        return [_SUBDIR_WIN[subdir]]
    raise UnsupportedTag(subdir, "no wheel platform tag for this conda subdir")


def tags_for_conda(subdir: str, depends: Iterable[str]) -> list[Tag]:
    """Wheel tags for a conda package of ``subdir`` with ``depends`` (the reverse direction).

    ``python_abi ... *_cp311`` or a one-minor ``python`` pin gives ``cp311-cp311``, else
    ``py3-none``.
    A platform subdir without a ``__glibc`` floor gives ``linux_<arch>`` (no manylinux promise).
    """
    deps = _parse_depends(depends)
    platforms = _platform_tags(subdir, deps)
    interp, abi = "py3", "none"
    abi_build = _ABI_BUILD.search(deps.get("python_abi", ""))
    if abi_build:
        interp = f"cp{abi_build[1]}{abi_build[2]}"
        abi = interp + abi_build[3]
    elif "python" in deps:
        low, high = _floor(deps["python"]), _UPPER.search(deps["python"])
        if (
            low
            and high
            and (int(high[1]), int(high[2])) == (low[0], low[1] + 1)
            and subdir != NOARCH
        ):
            interp = abi = f"cp{low[0]}{low[1]}"
    if abi.startswith("cp3") and abi[3:].isdigit() and int(abi[3:]) <= 7:
        abi += "m"  # CPython 3.7 and older built with pymalloc carry the "m" ABI flag
    return [Tag(interp, abi, plat) for plat in platforms]
