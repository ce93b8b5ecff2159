"""Read a conda package back with conda-package-streaming (the real client) for assertions."""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conda_package_streaming import package_streaming as ps


@dataclass
class Member:
    data: bytes
    mode: int
    kind: str  # "file", "symlink", "dir"


@dataclass
class CondaContents:
    info: dict[str, bytes]
    payload: dict[str, Member]
    order: list[str]  # zip member order for .conda, tar order for .tar.bz2

    def json(self, name: str) -> Any:
        return json.loads(self.info[name])


def _members(stream: Any, into_info: dict[str, bytes], into_pkg: dict[str, Member]) -> None:
    for tar, member in stream:
        kind = "symlink" if member.issym() else "dir" if member.isdir() else "file"
        data = b""
        if member.isfile():
            fh = tar.extractfile(member)
            assert fh is not None
            data = fh.read()
        if member.name.startswith("info/"):
            into_info[member.name[len("info/") :]] = data
        else:
            assert member.name not in into_pkg, f"duplicate member {member.name}"
            into_pkg[member.name] = Member(data, member.mode, kind)


def read_conda(path: Path) -> CondaContents:
    """Every member of a ``.conda`` or ``.tar.bz2``, read through conda-package-streaming."""
    info: dict[str, bytes] = {}
    payload: dict[str, Member] = {}
    if path.name.endswith(".conda"):
        import zipfile

        with zipfile.ZipFile(path) as zf:
            order = zf.namelist()
        _members(ps.stream_conda_component(path, component=ps.CondaComponent.info), info, payload)
        _members(ps.stream_conda_component(path, component=ps.CondaComponent.pkg), info, payload)
    else:
        with tarfile.open(path) as tf:
            order = tf.getnames()
        _members(ps.stream_conda_component(path), info, payload)
    return CondaContents(info, payload, order)


def check_paths_json(contents: CondaContents) -> None:
    """paths.json lists exactly the payload, each hash and size matching the bytes."""
    paths = contents.json("paths.json")
    assert paths["paths_version"] == 1
    listed = {row["_path"]: row for row in paths["paths"]}
    files = {k: v for k, v in contents.payload.items() if v.kind != "dir"}
    assert set(listed) == set(files), set(listed) ^ set(files)
    for name, row in listed.items():
        member = files[name]
        assert row["path_type"] == "hardlink"
        assert row["size_in_bytes"] == len(member.data), name
        assert row["sha256"] == hashlib.sha256(member.data).hexdigest(), name
        if "prefix_placeholder" in row:
            assert row["file_mode"] == "text"
            assert row["prefix_placeholder"].encode() in member.data, name
    files_list = contents.info["files"].decode().splitlines()
    assert sorted(files_list) == sorted(listed)
