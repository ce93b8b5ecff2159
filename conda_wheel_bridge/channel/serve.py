"""``cwb serve``: a threaded HTTP server for a channel and its simple API.

conda clients get the channel files; pip and uv get ``/simple/`` with PEP 691 content negotiation
(JSON or HTML by the ``Accept`` header). Files are streamed with a strong ETag, ``Last-Modified``,
conditional requests and single byte ranges, so large artifacts can be resumed. Binds 127.0.0.1
unless told otherwise.
"""

from __future__ import annotations

import contextlib
import email.utils
import mimetypes
import os
import posixpath
import re
import threading
import urllib.parse
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import CwbError

__all__ = ["ChannelServer", "make_server", "negotiate", "serve_in_thread"]

_JSON_V1 = "application/vnd.pypi.simple.v1+json"
_HTML_V1 = "application/vnd.pypi.simple.v1+html"
_TEXT_HTML = "text/html"
#: (media type offered, the file serving it, the Content-Type sent); first wins on a tie
_OFFERS = (
    (_JSON_V1, "index.json", _JSON_V1),
    ("application/vnd.pypi.simple.latest+json", "index.json", _JSON_V1),
    (_HTML_V1, "index.html", _HTML_V1),
    ("application/vnd.pypi.simple.latest+html", "index.html", _HTML_V1),
    (_TEXT_HTML, "index.html", "text/html; charset=utf-8"),
)
_TYPES = {
    ".json": "application/json",
    ".zst": "application/zstd",
    ".whl": "application/octet-stream",
    ".conda": "application/octet-stream",
    ".bz2": "application/x-bzip2",
    ".metadata": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".msgpack": "application/msgpack",
}
_HIDDEN = re.compile(r"(^|/)\.")  # dot files: the indexer's state, temporary files
_CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class ChannelServer(ThreadingHTTPServer):
    """A threaded server bound to one channel directory."""

    daemon_threads = True

    def __init__(self, channel: Path, address: tuple[str, int], *, quiet: bool = True) -> None:
        self.channel = channel.resolve()
        self.quiet = quiet
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """``http://host:port/`` of the channel (``/simple/`` is the PyPI index)."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"


def make_server(channel: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0, *,
                quiet: bool = True) -> ChannelServer:
    """Bind a server for ``channel`` (port 0 picks a free port); call ``serve_forever``."""
    root = Path(channel)
    if not root.is_dir():
        raise CwbError(root, "not a directory")
    try:
        return ChannelServer(root, (host, port), quiet=quiet)
    except OSError as exc:
        raise CwbError(f"{host}:{port}", f"cannot listen ({exc.strerror or exc})") from exc


@contextlib.contextmanager
def serve_in_thread(channel: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0
                    ) -> Iterator[ChannelServer]:
    """Serve ``channel`` from a background thread for the duration of the ``with`` block."""
    server = make_server(channel, host, port)
    thread = threading.Thread(target=server.serve_forever, name="cwb-serve", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def negotiate(accept: str | None) -> tuple[str, str] | None:
    """``(file name, content type)`` for a simple-API ``Accept`` header; ``None``: nothing fits.

    No header means HTML (PEP 691: the default for clients that do not ask).
    """
    if not accept or not accept.strip():
        return "index.html", "text/html; charset=utf-8"
    best: tuple[float, int, str, str] | None = None
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        for rank, (offer, filename, ctype) in enumerate(_OFFERS):
            if _matches(media, offer) and (best is None or (q, -rank) > (best[0], best[1])):
                best = (q, -rank, filename, ctype)
    return None if best is None else (best[2], best[3])


def _matches(media: str, offer: str) -> bool:
    if media in ("*/*", offer):
        return True
    return media.endswith("/*") and offer.startswith(media[:-1])


class _Handler(BaseHTTPRequestHandler):
    server: ChannelServer
    protocol_version = "HTTP/1.1"
    server_version = "cwb-serve"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args: object) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def _respond(self, *, send_body: bool) -> None:
        raw = urllib.parse.urlsplit(self.path).path
        rel = posixpath.normpath(urllib.parse.unquote(raw)).lstrip("/")
        if rel == ".":
            rel = ""
        if rel.startswith("..") or _HIDDEN.search(rel):
            self._error(HTTPStatus.NOT_FOUND)
            return
        target = self.server.channel / rel
        content_type: str | None = None
        if target.is_dir():
            if not raw.endswith("/"):
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", raw + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if (target / "index.json").is_file():  # a simple-API page: negotiate
                chosen = negotiate(self.headers.get("Accept"))
                if chosen is None:
                    self._error(HTTPStatus.NOT_ACCEPTABLE)
                    return
                target, content_type = target / chosen[0], chosen[1]
            else:
                target = target / "index.html"
        if not target.is_file():
            self._error(HTTPStatus.NOT_FOUND)
            return
        self._send_file(target, content_type, send_body=send_body)

    def _send_file(self, path: Path, content_type: str | None, *, send_body: bool) -> None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the with block below
        except OSError:
            self._error(HTTPStatus.NOT_FOUND)
            return
        with fh:
            st = os.fstat(fh.fileno())
            etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
            size = st.st_size
            start, end = 0, size - 1
            status = HTTPStatus.OK
            if _etag_matches(self.headers.get("If-None-Match"), etag):
                self.send_response(HTTPStatus.NOT_MODIFIED)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            wanted = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if wanted and (if_range is None or if_range.strip() == etag):
                parsed = _parse_range(wanted, size)
                if parsed is None:
                    self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if parsed != (0, size - 1) or size == 0:
                    start, end = parsed
                    status = HTTPStatus.PARTIAL_CONTENT
            self.send_response(status)
            self.send_header("Content-Type", content_type or _content_type(path))
            self.send_header("Content-Length", str(max(0, end - start + 1)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
            self.send_header("Accept-Ranges", "bytes")
            if content_type is not None:
                self.send_header("Vary", "Accept")
            if status == HTTPStatus.PARTIAL_CONTENT:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if not send_body:
                return
            fh.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = fh.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def _error(self, status: HTTPStatus) -> None:
        body = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _content_type(path: Path) -> str:
    for suffix, ctype in _TYPES.items():
        if path.name.endswith(suffix):
            return ctype
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as inclusive ``(start, end)``; a multi-range asks for everything."""
    if "," in header:
        return (0, size - 1)
    match = _RANGE.match(header.strip())
    if match is None:
        return (0, size - 1)  # not a byte range we know: ignore it (RFC 9110 allows that)
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            return None
        return (max(0, size - n), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return None
    return (start, end)
