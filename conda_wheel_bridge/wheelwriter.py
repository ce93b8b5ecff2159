"""Streaming wheel writer: members hashed while copied, RECORD written last, atomic output.

The archive is written to a temporary file beside the target and renamed into place by ``finish``;
on any error (or without ``finish``) nothing is left behind.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import stat
import time
import zipfile
from pathlib import Path
from types import TracebackType
from typing import IO

from .atomic import commit, temporary_beside
from .distinfo import record_field
from .errors import BadArchive, BadMetadata, UnsafePath
from .wheelname import check_member_name, wheel_filename

__all__ = ["WheelWriter", "wheel_filename"]

_CHUNK = 1024 * 1024
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _date_time() -> tuple[int, int, int, int, int, int]:
    """Member timestamp: ``SOURCE_DATE_EPOCH`` if set (reproducible builds), else the zip epoch."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        t = time.gmtime(max(int(epoch), 315532800))
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    return _ZIP_EPOCH


def _record_hash(digest: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class WheelWriter:
    """Write a wheel member by member; ``finish(dist_info)`` adds RECORD and renames into place.

    ``path`` may be changed before ``finish`` (a converter learns the wheel's tags only after the
    payload); the temporary file stays in the directory of the path given at creation.
    """

    def __init__(self, path: Path, *, compresslevel: int = 6) -> None:
        self.path = Path(path)
        self._compresslevel = compresslevel
        self._fh, self._tmp = temporary_beside(self.path, "w+b")
        self._zip = zipfile.ZipFile(
            self._fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._record: dict[str, tuple[str, int]] = {}
        self._date_time = _date_time()
        self._done = False

    def __enter__(self) -> WheelWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            self._discard()
            if exc_type is None:
                raise BadArchive(self.path, "wheel writer closed without finish(); nothing written")

    def _discard(self) -> None:
        self._done = True
        with contextlib.suppress(Exception):
            self._zip.close()
        with contextlib.suppress(Exception):
            self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def _zipinfo(self, arcname: str, mode: int, *, record: bool = False) -> zipfile.ZipInfo:
        if self._done:
            raise BadArchive(self.path, f"cannot add {arcname}: the wheel is already finished")
        check_member_name(self.path, arcname)
        if arcname.endswith("/"):
            raise UnsafePath(self.path, f"member name {arcname!r} is a directory")
        if arcname in self._record:
            raise BadArchive(self.path, f"duplicate member {arcname}")
        if arcname.endswith(".dist-info/RECORD") and not record:
            raise BadArchive(self.path, f"{arcname} is written by finish(), not added")
        info = zipfile.ZipInfo(arcname, date_time=self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        # zipfile.open("w") takes the level from the ZipInfo (3.13 renamed it compress_level and
        # kept this name as an alias); without it every streamed member got level 6
        info._compresslevel = self._compresslevel  # type: ignore[attr-defined]
        info.external_attr = (stat.S_IFREG | (mode & 0o777)) << 16
        info.create_system = 3  # unix, so readers honour the mode bits
        return info

    def add_stream(
        self, arcname: str, stream: IO[bytes], *, mode: int = 0o644, size: int | None = None
    ) -> None:
        """Copy ``stream`` into the archive in chunks, hashing as it goes (memory stays bounded).

        ``size`` (if known) lets members under 2 GiB skip the zip64 extra field; a stream that
        gives a different number of bytes is refused (the source lied about its size).
        """
        info = self._zipinfo(arcname, mode)
        force_zip64 = size is None or size >= zipfile.ZIP64_LIMIT
        hasher = hashlib.sha256()
        total = 0
        try:
            with self._zip.open(info, "w", force_zip64=force_zip64) as dest:
                while chunk := stream.read(_CHUNK):
                    hasher.update(chunk)
                    total += len(chunk)
                    if size is not None and total > size:
                        break
                    dest.write(chunk)
            if size is not None and total != size:
                got = "more than" if total > size else f"{total} of"
                raise BadArchive(
                    self.path, f"{arcname}: the source gave {got} the {size} bytes it declared"
                )
        except BaseException:
            self._discard()
            raise
        self._record[arcname] = (_record_hash(hasher.digest()), total)

    def add_bytes(self, arcname: str, data: bytes, *, mode: int = 0o644) -> None:
        """Add a small member from memory."""
        info = self._zipinfo(arcname, mode)
        try:
            self._zip.writestr(info, data, compresslevel=self._compresslevel)
        except BaseException:
            self._discard()
            raise
        self._record[arcname] = (_record_hash(hashlib.sha256(data).digest()), len(data))

    def finish(self, dist_info: str) -> None:
        """Write ``<dist_info>/RECORD`` last (sha256 and size of each member); rename into place."""
        dist_info = dist_info.rstrip("/")
        try:
            for required in ("METADATA", "WHEEL"):
                if f"{dist_info}/{required}" not in self._record:
                    raise BadMetadata(self.path, f"{dist_info}/{required} was not written")
            record_name = f"{dist_info}/RECORD"
            lines = [f"{record_field(n)},{h},{s}" for n, (h, s) in self._record.items()]
            lines.append(f"{record_field(record_name)},,")
            info = self._zipinfo(record_name, 0o644, record=True)
            self._zip.writestr(
                info, ("\n".join(lines) + "\n").encode(), compresslevel=self._compresslevel
            )
            self._zip.close()
            commit(self._fh, self._tmp, self.path)
            self._fh.close()
        except BaseException:
            self._discard()
            raise
        self._done = True
