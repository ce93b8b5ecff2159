"""Parsers for the files of a ``.dist-info`` directory: METADATA and WHEEL, RECORD, entry points.

Pure functions from bytes to data, each raising a one-line ``CwbError`` that names ``where`` (the
wheel) and the file at fault. ``wheelfile`` cross-checks what they return against the archive.
"""

from __future__ import annotations

import configparser
import csv
import email.message
import email.parser
import email.policy
import hashlib
import io
import json
from collections.abc import Mapping
from os import PathLike
from types import MappingProxyType
from typing import Any

from packaging.tags import Tag

from .errors import BadMetadata, UnsafePath
from .wheelname import parse_tags

__all__ = [
    "INSTALL_FILES",
    "SIGNATURE_FILES",
    "WEAK_HASHES",
    "parse_entry_points",
    "parse_headers",
    "parse_record",
    "parse_variant_json",
    "parse_wheel_file",
    "record_field",
]

#: files of a .dist-info that RECORD need not hash (RECORD itself and its signatures).
SIGNATURE_FILES = frozenset({"RECORD", "RECORD.jws", "RECORD.p7s"})
#: .dist-info files an installation writes (PEP 376 / 610 / 627) or that sign a RECORD: the
#: converters drop them, since each side's installer writes its own.
INSTALL_FILES = SIGNATURE_FILES | {"INSTALLER", "REQUESTED", "direct_url.json"}
#: hash algorithms the wheel spec forbids in RECORD.
WEAK_HASHES = frozenset({"md5", "sha1"})


def parse_headers(where: str | PathLike[str], what: str, data: bytes) -> email.message.Message:
    """Parse an RFC 822 style file (METADATA, WHEEL) as UTF-8, tolerating CRLF line ends."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadMetadata(
            where, f"{what} is not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    text = text.replace("\r\n", "\n")
    return email.parser.Parser(policy=email.policy.compat32).parsestr(text)


def record_field(value: str) -> str:
    """A RECORD path quoted the way the csv module would (commas and quotes are legal in paths),
    so that :func:`parse_record` reads it back unchanged."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def parse_record(
    where: str | PathLike[str], data: bytes
) -> dict[str, tuple[str | None, int | None]]:
    """Parse RECORD rows ``path,algo=digest,size``; refuse malformed rows and weak hashes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadMetadata(where, "RECORD is not UTF-8") from None
    record: dict[str, tuple[str | None, int | None]] = {}
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        if len(row) != 3:
            raise BadMetadata(where, f"RECORD line {lineno} has {len(row)} fields, not 3")
        name, hash_spec, size = row
        if hash_spec:
            algo, sep, digest = hash_spec.partition("=")
            if not sep or not digest:
                raise BadMetadata(where, f"RECORD line {lineno}: malformed hash {hash_spec!r}")
            if algo in WEAK_HASHES or algo not in hashlib.algorithms_guaranteed:
                raise BadMetadata(
                    where, f"RECORD line {lineno}: hash algorithm {algo!r} is not allowed"
                )
        if size and not size.isdigit():
            raise BadMetadata(where, f"RECORD line {lineno}: size {size!r} is not a number")
        if name in record:
            raise BadMetadata(where, f"RECORD lists {name} twice")
        record[name] = (hash_spec or None, int(size) if size else None)
    return record


def parse_entry_points(where: str | PathLike[str], data: bytes) -> Mapping[str, Mapping[str, str]]:
    """Parse ``entry_points.txt`` (an INI file; names are case-sensitive, no interpolation)."""
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(data.decode("utf-8"))
    except (configparser.Error, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise BadMetadata(where, f"entry_points.txt is malformed: {first}") from None
    groups = {s: dict(parser.items(s, raw=True)) for s in parser.sections()}
    for group in ("console_scripts", "gui_scripts"):
        for script in groups.get(group, {}):
            if script in ("", ".", "..") or any(c in script for c in "/\\\x00"):
                raise UnsafePath(where, f"{group} name {script!r} is not a plain file name")
    return MappingProxyType({g: MappingProxyType(eps) for g, eps in groups.items()})


def parse_wheel_file(where: str | PathLike[str], data: bytes) -> tuple[bool, frozenset[Tag]]:
    """Parse WHEEL: refuse a ``Wheel-Version`` major other than 1; return purelib flag and tags."""
    wheel = parse_headers(where, "WHEEL", data)
    version = str(wheel.get("Wheel-Version", "")).strip()
    if not version:
        raise BadMetadata(where, "WHEEL has no Wheel-Version")
    if version.split(".")[0] != "1":
        raise BadMetadata(where, f"unsupported Wheel-Version {version} (major must be 1)")
    purelib = str(wheel.get("Root-Is-Purelib", "")).strip().lower()
    if purelib not in ("true", "false"):
        raise BadMetadata(where, f"WHEEL Root-Is-Purelib is {purelib!r}, not true or false")
    tags: set[Tag] = set()
    for line in wheel.get_all("Tag") or []:
        tags.update(parse_tags(f"{where}: WHEEL", str(line).strip()))
    return purelib == "true", frozenset(tags)


def parse_variant_json(where: str | PathLike[str], data: bytes) -> Mapping[str, Any]:
    """Parse ``variant.json`` (any schema generation: only "is a JSON object" is checked here)."""
    try:
        loaded = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMetadata(where, f"variant.json is not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise BadMetadata(where, "variant.json is not a JSON object")
    return MappingProxyType(loaded)
