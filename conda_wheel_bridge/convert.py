"""Wheel → conda package: a wheel's files, metadata and tags become a correct conda package.

The wheel is the source, a conda package is the destination (pypa/installer's shape). Every rule of
translation lives in :mod:`conda_wheel_bridge.mapping`; the payload layout in :mod:`.condalayout`,
the ``info/`` metadata in :mod:`.condainfo`. This module picks the targets and writes each package,
streaming the payload (bounded memory whatever the wheel's size).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .condafile import DEFAULT_ZSTD_LEVEL, FORMATS, conda_writer
from .condainfo import WheelVariant, about_json, index_json, wheel_depends, wheel_variant
from .condalayout import check_streamed, paths_json, plan_payload
from .digest import HashingReader
from .errors import CwbError, UnsupportedTag
from .licenses import license_files
from .mapping.names import NameMap, load_name_map
from .mapping.platform import subdirs_for_wheel, targets_for_wheel
from .model import CondaTarget
from .wheelfile import WheelReader, open_wheel
from .wheelname import parse_wheel_filename

__all__ = [
    "ConvertResult",
    "WheelVariant",
    "wheel_depends",
    "wheel_to_conda",
    "wheel_to_conda_all",
    "wheel_variant",
]


@dataclass(frozen=True)
class ConvertResult:
    """One conda package written: its path, subdir, the index.json it carries, and ``notes``: one
    line per requirement the translation changed or dropped (markers conda cannot say ...)."""

    path: Path
    subdir: str
    index: Mapping[str, Any] = field(repr=False)
    notes: tuple[str, ...] = ()


def _load_names(names: NameMap | None) -> NameMap:
    return names if names is not None else load_name_map()


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class _WheelWide:
    """What every package made from one wheel shares (a universal2 wheel makes two)."""

    conda_name: str
    variant: WheelVariant
    timestamp: int  # the wheel file's mtime, seconds
    licenses: list[tuple[str, bytes]]
    about: bytes


def _wheel_wide(reader: WheelReader, names: NameMap) -> _WheelWide:
    info = reader.info
    licenses = license_files(reader)
    return _WheelWide(
        conda_name=names.pypi_to_conda(info.name),
        variant=wheel_variant(info, str(info.path)),
        timestamp=int(os.stat(info.path).st_mtime),
        licenses=licenses,
        about=_json(about_json(info, [name for name, _ in licenses])),
    )


def _convert_one(
    reader: WheelReader,
    wide: _WheelWide,
    target: CondaTarget,
    out_dir: Path,
    *,
    fmt: str,
    zstd_level: int,
    zstd_threads: int,
    names: NameMap,
) -> ConvertResult:
    info = reader.info
    where = str(info.path)
    depends, extras, notes = wheel_depends(info, target, names, where, wide.variant)
    index = index_json(info, target, wide.conda_name, depends, extras, wide.variant,
                       wide.timestamp * 1000, where)
    entries, link_eps = plan_payload(reader, target, where)

    stem = f"{index['name']}-{index['version']}-{index['build']}"
    path = out_dir / target.subdir / (stem + FORMATS[fmt])
    with conda_writer(path, zstd_level=zstd_level, zstd_threads=zstd_threads,
                      mtime=wide.timestamp) as w:
        w.add_info("index.json", _json(index))
        w.add_info("about.json", wide.about)
        w.add_info("paths.json", _json(paths_json(entries)))
        w.add_info("files", "".join(e.path + "\n" for e in entries).encode())
        if target.noarch_python:
            link = {
                "noarch": {"type": "python", "entry_points": link_eps},
                "package_metadata_version": 1,
            }
            w.add_info("link.json", _json(link))
        for name, data in wide.licenses:
            w.add_info(f"licenses/{name}", data)
        w.set_payload_size_hint(sum(e.size for e in entries))
        for e in entries:
            if e.data is not None:
                w.add_bytes(e.path, e.data, mode=e.mode)
                continue
            assert e.member is not None
            with reader.open(e.member) as src:
                hashed = HashingReader(src)
                w.add_file(e.path, hashed, e.size, mode=e.mode)  # type: ignore[arg-type]
                check_streamed(src, hashed, e, where)
    return ConvertResult(path, target.subdir, index, notes)


def wheel_to_conda_all(
    wheel: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "conda",
    zstd_level: int = DEFAULT_ZSTD_LEVEL,
    zstd_threads: int = 0,
    names: NameMap | None = None,
    allow_musllinux: bool = False,
    subdirs: Collection[str] | None = None,
) -> tuple[ConvertResult, ...]:
    """Convert ``wheel`` into one conda package per subdir it reaches (two for macOS universal2),
    or only those in ``subdirs``. Packages land in ``out_dir/<subdir>/``; on any error none is
    left.
    """
    if fmt not in FORMATS:
        raise CwbError(str(wheel), f"unknown output format {fmt!r} (choose conda or tar.bz2)")
    out = Path(out_dir)
    names = _load_names(names)
    done: list[ConvertResult] = []
    try:
        with open_wheel(Path(wheel)) as reader:
            targets = targets_for_wheel(
                reader.info.filename.tags,
                reader.info.requires_python,
                where=str(wheel),
                allow_musllinux=allow_musllinux,
            )
            if subdirs is not None:
                targets = tuple(t for t in targets if t.subdir in subdirs)
                if not targets:
                    raise UnsupportedTag(
                        wheel, f"wheel reaches none of {', '.join(sorted(subdirs))}"
                    )
            wide = _wheel_wide(reader, names)
            for target in targets:
                done.append(
                    _convert_one(
                        reader,
                        wide,
                        target,
                        out,
                        fmt=fmt,
                        zstd_level=zstd_level,
                        zstd_threads=zstd_threads,
                        names=names,
                    )
                )
    except BaseException as exc:
        for result in done:
            result.path.unlink(missing_ok=True)
        if isinstance(exc, CwbError) and exc.where != str(wheel):
            # a rule failed on one value: say which wheel it came from, in one line
            raise exc.about(wheel) from None
        raise
    return tuple(done)


def wheel_to_conda(
    wheel: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "conda",
    zstd_level: int = DEFAULT_ZSTD_LEVEL,
    zstd_threads: int = 0,
    names: NameMap | None = None,
    allow_musllinux: bool = False,
    subdir: str | None = None,
) -> ConvertResult:
    """Convert ``wheel`` into one conda package under ``out_dir/<subdir>/``; ``subdir`` picks one
    when the wheel reaches several (universal2; default: the first), :func:`wheel_to_conda_all`
    writes them all."""
    if subdir is None:  # the file name's tags decide; the wheel itself is opened once, below
        tags = parse_wheel_filename(str(wheel)).tags
        subdir = subdirs_for_wheel(tags, where=str(wheel), allow_musllinux=allow_musllinux)[0]
    return wheel_to_conda_all(
        wheel,
        out_dir,
        fmt=fmt,
        zstd_level=zstd_level,
        zstd_threads=zstd_threads,
        names=names,
        allow_musllinux=allow_musllinux,
        subdirs=(subdir,),
    )[0]
