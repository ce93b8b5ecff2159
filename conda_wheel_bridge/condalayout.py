"""The payload of a converted wheel: where each wheel member lands in the conda package, its
rewritten RECORD and ``paths.json``, planned before anything is written so the payload can stream.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from .digest import HashingReader, sha256_stream
from .distinfo import INSTALL_FILES, record_field
from .errors import BadArchive, BadMetadata, UnsafePath
from .launchers import (
    PREFIX_PLACEHOLDER,
    entry_point_target,
    posix_launcher,
    rewrite_python_shebang,
    windows_launcher,
)
from .model import CondaTarget
from .wheelfile import WheelInfo, WheelMember, WheelReader

__all__ = ["Entry", "check_streamed", "paths_json", "plan_payload"]

_CHUNK = 1 << 20
#: scripts up to this size are read whole to rewrite a ``#!python`` shebang; larger ones are copied
_MAX_SCRIPT = 8 << 20
#: top-level folders a wheel may not install into (conda's own metadata lives there)
_FORBIDDEN_TOP = ("info", "conda-meta")
#: a script name becomes a file name in bin/ or Scripts/: no separators, no leading dot
_SCRIPT_NAME = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$")


@dataclass
class Entry:
    """One payload file: where it installs, where its bytes come from, and its paths.json row."""

    path: str
    size: int
    sha256: str | None
    mode: int = 0o644
    member: WheelMember | None = None  # streamed from the wheel
    data: bytes | None = None  # made here (launchers, RECORD, rewritten scripts)
    placeholder: bool = False


def _b64_to_hex(spec: str | None) -> str | None:
    if not spec or not spec.startswith("sha256="):
        return None
    digest = spec.split("=", 1)[1]
    return base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()


def _hex_to_record(hexdigest: str) -> str:
    return "sha256=" + base64.urlsafe_b64encode(bytes.fromhex(hexdigest)).rstrip(b"=").decode()


def _bytes_entry(path: str, data: bytes, mode: int = 0o644, placeholder: bool = False) -> Entry:
    return Entry(path, len(data), hashlib.sha256(data).hexdigest(), mode, None, data, placeholder)


class _Layout:
    """Where each wheel member goes in the conda package (DESIGN.md §4, ``.data`` schemes)."""

    def __init__(self, info: WheelInfo, target: CondaTarget, where: str) -> None:
        self.info, self.target, self.where = info, target, where
        if target.noarch_python:
            self.headers = f"include/{info.metadata['Name']}"
        elif target.is_windows:
            self.headers = f"Include/{info.metadata['Name']}"
        else:
            major, minor = target.python_version or (3, 0)
            t = "t" if target.free_threaded else ""
            self.headers = f"include/python{major}.{minor}{t}/{info.metadata['Name']}"

    def place(self, name: str) -> tuple[str, str]:
        """``(scheme, installed path)`` for a wheel member name."""
        data_prefix = self.info.data_dir + "/"
        site = self.target.site_packages
        if not name.startswith(data_prefix):
            return "root", f"{site}/{name}"
        scheme, _, rest = name[len(data_prefix) :].partition("/")
        if not rest:
            raise BadArchive(self.where, f"{name}: a .data member outside any scheme directory")
        if scheme in ("purelib", "platlib"):
            return scheme, f"{site}/{rest}"
        if scheme == "scripts":
            return scheme, f"{self.target.scripts_dir}/{rest}"
        if scheme == "headers":
            return scheme, f"{self.headers}/{rest}"
        if scheme == "data":
            top = rest.split("/", 1)[0]
            if top in _FORBIDDEN_TOP:
                raise UnsafePath(self.where, f"{name} would install into the package's {top}/")
            return scheme, rest
        raise BadArchive(self.where, f"{name}: unknown .data scheme {scheme!r}")

    def record_path(self, path: str) -> str:
        """The RECORD path (relative to site-packages as installed) of an installed path."""
        site = self.target.site_packages
        if self.target.noarch_python:
            # RECORD of noarch packages is written for the POSIX layout (see docs/convert.md)
            site = "lib/pythonX.Y/site-packages"
            if path.startswith("site-packages/"):
                path = site + path[len("site-packages") :]
            elif path.startswith("python-scripts/"):
                path = "bin" + path[len("python-scripts") :]
        return posixpath.relpath(path, site)


def _read_limited(reader: WheelReader, member: WheelMember, limit: int) -> bytes:
    with reader.open(member) as fh:
        data = fh.read(limit + 1)
        if len(data) > limit:
            raise BadArchive(reader.info.path, f"{member.name} is larger than {limit} bytes")
        while fh.read(_CHUNK):  # pragma: no cover - only if size lied; reading on verifies
            pass
    return data


def _hash_member(reader: WheelReader, member: WheelMember) -> str:
    with reader.open(member) as fh:
        return sha256_stream(fh)


def plan_payload(
    reader: WheelReader, target: CondaTarget, where: str
) -> tuple[list[Entry], list[str]]:
    """The payload entries (RECORD last to be computed) and the link.json entry points."""
    info = reader.info
    layout = _Layout(info, target, where)
    entries: list[Entry] = []
    dist_info = info.dist_info
    for member in reader.members:
        if (
            member.name.startswith(dist_info + "/")
            and member.name[len(dist_info) + 1 :] in INSTALL_FILES
        ):
            continue
        scheme, path = layout.place(member.name)
        executable = bool(member.mode & 0o111) or scheme == "scripts"
        mode = 0o755 if executable else 0o644
        if scheme == "scripts" and member.size <= _MAX_SCRIPT:
            data = _read_limited(reader, member, _MAX_SCRIPT)
            rewritten = None if target.is_windows else rewrite_python_shebang(data)
            if rewritten is not None:
                entries.append(_bytes_entry(path, rewritten, mode, placeholder=True))
                continue
            entries.append(_bytes_entry(path, data, mode))
            continue
        sha = _b64_to_hex(info.record.get(member.name, (None, None))[0])
        if sha is None:
            sha = _hash_member(reader, member)  # RECORD used another algorithm: hash it here
        entries.append(Entry(path, member.size, sha, mode, member))

    link_entry_points: list[str] = []
    groups = (("console_scripts", False), ("gui_scripts", True))
    for group, gui in groups:
        for name, value in sorted(info.entry_points.get(group, {}).items()):
            if not _SCRIPT_NAME.match(name):
                raise UnsafePath(where, f"entry_points.txt [{group}]: script name {name!r}")
            try:
                entry_point_target(value)
            except ValueError as exc:
                raise BadMetadata(where, f"entry_points.txt [{group}] {name}: {exc}") from None
            if target.noarch_python:
                link_entry_points.append(f"{name} = {value.split('[')[0].strip()}")
            elif target.is_windows:
                for fname, data in windows_launcher(name, value, gui=gui).items():
                    mode = 0o755 if fname.endswith(".cmd") else 0o644
                    entries.append(_bytes_entry(f"{target.scripts_dir}/{fname}", data, mode))
            else:
                entries.append(
                    _bytes_entry(
                        f"{target.scripts_dir}/{name}",
                        posix_launcher(value),
                        0o755,
                        placeholder=True,
                    )
                )

    installer = _bytes_entry(f"{target.site_packages}/{dist_info}/INSTALLER", b"conda\n")
    entries.append(installer)
    _check_unique(entries, where)
    record_path = f"{target.site_packages}/{dist_info}/RECORD"
    rows = []
    for e in sorted(entries, key=lambda e: e.path):
        rec = layout.record_path(e.path)
        if e.placeholder or e.sha256 is None:
            rows.append(f"{record_field(rec)},,")  # rewritten at install: no honest hash
        else:
            rows.append(f"{record_field(rec)},{_hex_to_record(e.sha256)},{e.size}")
    rows.append(f"{record_field(layout.record_path(record_path))},,")
    entries.append(_bytes_entry(record_path, ("\n".join(rows) + "\n").encode()))
    entries.sort(key=lambda e: e.path)
    return entries, link_entry_points


def _check_unique(entries: Sequence[Entry], where: str) -> None:
    seen: set[str] = set()
    for e in entries:
        key = e.path.lower() if e.path.startswith(("Lib/", "Scripts/")) else e.path
        if key in seen:
            raise BadArchive(where, f"two members install to {e.path}")
        seen.add(key)


def paths_json(entries: Sequence[Entry]) -> dict[str, Any]:
    """The ``info/paths.json`` object of the planned payload."""
    rows = []
    for e in entries:
        row: dict[str, Any] = {
            "_path": e.path,
            "path_type": "hardlink",
            "sha256": e.sha256,
            "size_in_bytes": e.size,
        }
        if e.placeholder:
            row["file_mode"] = "text"
            row["prefix_placeholder"] = PREFIX_PLACEHOLDER
        rows.append(row)
    return {"paths": rows, "paths_version": 1}


def check_streamed(src: IO[bytes], hashed: HashingReader, entry: Entry, where: str) -> None:
    """After a wheel member streamed into the tar: nothing left over, and size and sha256 as planned
    (reading ``src`` to EOF lets the wheel reader verify RECORD too)."""
    if src.read(1):
        raise BadArchive(where, f"{entry.path}: more data than its declared size")
    if hashed.count != entry.size or hashed.hexdigest() != entry.sha256:
        raise BadArchive(where, f"{entry.path}: content does not match RECORD")
