"""Streaming writer of conda packages, ``.conda`` (CEP 35) and ``.tar.bz2``.

Payload members go straight from their source stream through tar and zstd (or bzip2) into the
output file, so memory stays bounded whatever the package size. ``info/`` members are small: they
are held until the payload starts (or the end) and stored in their own ``info-*.tar.zst``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

import zstandard

from .atomic import atomic_output
from .defaults import DEFAULT_ZSTD_LEVEL, FORMATS

__all__ = [
    "DEFAULT_ZSTD_LEVEL",
    "FORMATS",
    "CondaWriter",
    "conda_writer",
    "package_stem",
    "zstd_workers",
]

_ZIP64_MARGIN = 1 << 20
#: zip timestamps start in 1980 (315532800 is 1980-01-01T00:00:00Z)
_ZIP_EPOCH = 315532800
_MT_LEVEL = 17
_MT_MAX_WORKERS = 4
_MT_JOB_SIZE = 8 << 20  # small enough that several workers share one package's payload
_SPOOL = 1 << 20


def package_stem(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Split ``name-1.0-py_0.conda`` into ``("name-1.0-py_0", "conda")``."""
    name = Path(path).name
    for fmt, suffix in FORMATS.items():
        if name.endswith(suffix):
            return name[: -len(suffix)], fmt
    raise ValueError(f"{name}: a conda package name ends with .conda or .tar.bz2")


def zstd_workers(level: int, threads: int) -> int:
    """Worker threads for ``threads`` (0 = automatic): one thread below level 17, where zstd is
    fast and its memory small; from 17 on, where compression dominates, up to 4 workers."""
    if threads > 0:
        return threads
    return 1 if level < _MT_LEVEL else max(1, min(os.cpu_count() or 1, _MT_MAX_WORKERS))


def _zstd_params(level: int, threads: int) -> zstandard.ZstdCompressionParameters:
    workers = zstd_workers(level, threads)
    if workers == 1:  # zstandard: 0 workers = compress in the calling thread, no job buffers
        return zstandard.ZstdCompressionParameters.from_level(level, threads=0)
    return zstandard.ZstdCompressionParameters.from_level(
        level, threads=workers, job_size=_MT_JOB_SIZE
    )


def _tarinfo(name: str, size: int, mode: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class CondaWriter:
    """Adds members to a conda package being written; made by :func:`conda_writer`.

    ``add_info`` takes ``info/`` members (bytes); ``add_file`` streams a payload member of known
    size. The tar and zstd streams outlive any one call, so they are closed in :meth:`close`.
    """

    def __init__(
        self, fh: IO[bytes], stem: str, fmt: str, *, zstd_level: int, zstd_threads: int, mtime: int
    ) -> None:
        self._fh = fh
        self._stem = stem
        self._fmt = fmt
        self._level = zstd_level
        self._threads = zstd_threads
        self._mtime = mtime
        self._stack = contextlib.ExitStack()
        self._zip: zipfile.ZipFile | None = None
        self._pkg_tar: tarfile.TarFile | None = None
        self._pkg_out: BinaryIO | None = None
        self._pkg_size_hint = 0
        self._info_spool: IO[bytes] | None = None
        self._info_tar: tarfile.TarFile | None = None
        self._info_written = False
        self._names: set[str] = set()
        if fmt == "conda":
            self._zip = self._stack.enter_context(
                zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED)
            )
            self._zip.writestr(
                self._zipinfo("metadata.json"), json.dumps({"conda_pkg_format_version": 2})
            )
        elif fmt == "tar.bz2":
            self._pkg_tar = self._stack.enter_context(
                tarfile.open(fileobj=fh, mode="w|bz2", format=tarfile.PAX_FORMAT)  # noqa: SIM115
            )
        else:
            raise ValueError(f"unknown conda package format {fmt!r}")

    def set_payload_size_hint(self, size: int) -> None:
        """Tell the writer about how many payload bytes follow (only to pick zip64 when needed)."""
        self._pkg_size_hint = size

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise ValueError(f"{name}: added twice to {self._stem}")
        self._names.add(name)

    def add_info(self, name: str, data: bytes) -> None:
        """Add ``info/<name>`` with ``data``."""
        arcname = f"info/{name}"
        self._claim(arcname)
        info = _tarinfo(arcname, len(data), 0o644, self._mtime)
        if self._fmt == "tar.bz2":
            assert self._pkg_tar is not None
            self._pkg_tar.addfile(info, io.BytesIO(data))
            return
        if self._info_written:
            raise ValueError(f"{arcname}: info/ is already written to {self._stem}")
        if self._info_tar is None:
            self._info_spool = self._stack.enter_context(tempfile.SpooledTemporaryFile(_SPOOL))  # noqa: SIM115
            self._info_tar = tarfile.open(  # noqa: SIM115 - closed in close()/abort()
                fileobj=self._info_spool, mode="w", format=tarfile.PAX_FORMAT
            )
        self._info_tar.addfile(info, io.BytesIO(data))

    def _zipinfo(self, name: str) -> zipfile.ZipInfo:
        """A stored zip entry stamped with the package mtime (not the clock): same input, same
        bytes."""
        stamp = time.gmtime(max(self._mtime, _ZIP_EPOCH))[:6]
        info = zipfile.ZipInfo(name, date_time=stamp)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        return info

    def _compressed_member(self, name: str, size_hint: int) -> BinaryIO:
        assert self._zip is not None
        member = self._zip.open(
            self._zipinfo(name), "w", force_zip64=size_hint > zipfile.ZIP64_LIMIT - _ZIP64_MARGIN
        )
        cctx = zstandard.ZstdCompressor(compression_params=_zstd_params(self._level, self._threads))
        writer: BinaryIO = cctx.stream_writer(member, closefd=True)  # type: ignore[assignment]
        return writer

    def _write_info_member(self) -> None:
        if self._fmt != "conda" or self._info_written:
            return
        self._info_written = True
        if self._info_tar is None:
            self._info_spool = self._stack.enter_context(tempfile.SpooledTemporaryFile(_SPOOL))  # noqa: SIM115
            self._info_tar = tarfile.open(fileobj=self._info_spool, mode="w")  # noqa: SIM115
        self._info_tar.close()
        assert self._info_spool is not None
        size = self._info_spool.tell()
        self._info_spool.seek(0)
        with self._compressed_member(f"info-{self._stem}.tar.zst", size) as out:
            shutil.copyfileobj(self._info_spool, out, 1 << 20)

    def _pkg(self) -> tarfile.TarFile:
        if self._pkg_tar is None:
            if self._info_tar is not None:
                self._write_info_member()  # info first, when the caller had it ready
            self._pkg_out = self._compressed_member(
                f"pkg-{self._stem}.tar.zst", self._pkg_size_hint
            )
            self._pkg_tar = tarfile.open(  # noqa: SIM115 - closed in close()/abort()
                fileobj=self._pkg_out, mode="w|", format=tarfile.PAX_FORMAT
            )
        return self._pkg_tar

    def add_file(self, path: str, fileobj: IO[bytes], size: int, *, mode: int = 0o644) -> None:
        """Stream ``size`` bytes from ``fileobj`` as payload member ``path`` (prefix-relative)."""
        if path.startswith("info/"):
            raise ValueError(f"{path}: payload paths may not start with info/")
        self._claim(path)
        self._pkg().addfile(_tarinfo(path, size, mode, self._mtime), fileobj)

    def add_bytes(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Add payload member ``path`` with ``data``."""
        self.add_file(path, io.BytesIO(data), len(data), mode=mode)

    def close(self) -> None:
        """Finish the archive (info last when no payload came after it)."""
        if self._fmt == "conda":
            if self._pkg_tar is None:
                self._pkg()  # an empty payload is still a member, as conda expects
            assert self._pkg_tar is not None and self._pkg_out is not None
            self._pkg_tar.close()
            self._pkg_out.close()  # ends the zstd frame and the zip member: info may follow
            self._write_info_member()
        self._stack.close()

    def abort(self) -> None:
        """Drop everything (the output file is removed by the caller)."""
        for closer in (self._pkg_tar, self._pkg_out, self._info_tar):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        with contextlib.suppress(Exception):
            self._stack.close()


@contextlib.contextmanager
def conda_writer(
    path: str | os.PathLike[str],
    *,
    zstd_level: int = DEFAULT_ZSTD_LEVEL,
    zstd_threads: int = 0,
    mtime: int = 0,
) -> Iterator[CondaWriter]:
    """Write the conda package ``path`` (``.conda`` or ``.tar.bz2`` by its suffix), all or nothing.

    ``zstd_threads`` 0 is automatic (see :func:`zstd_workers`); ``mtime`` stamps every member
    (reproducible output).
    """
    stem, fmt = package_stem(path)
    with atomic_output(path) as fh:
        writer = CondaWriter(
            fh, stem, fmt, zstd_level=zstd_level, zstd_threads=zstd_threads, mtime=mtime
        )
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.close()
