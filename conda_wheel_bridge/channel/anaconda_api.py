"""A small client for the anaconda.org upload protocol, as anaconda-client speaks it.

The token travels only in the ``Authorization: token T`` header of API requests; it is never sent to
the storage location, never part of a ``repr``, a log record or an error message. Requests are
retried with exponential backoff on 5xx answers and on connection errors.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from .. import __version__
from ..defaults import DEFAULT_API_URL
from ..errors import CwbError
from .artifact import file_hashes

__all__ = [
    "DEFAULT_API_URL",
    "AnacondaClient",
    "AnacondaError",
    "AuthError",
    "Conflict",
    "NotFound",
    "ServerError",
    "file_digests",
]

_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_CHUNK = 1 << 16

log = logging.getLogger(__name__)


class AnacondaError(CwbError):
    """An answer from anaconda.org (or the storage behind it) that the publish cannot go past."""

    def __init__(self, where: str, reason: str, status: int | None = None) -> None:
        super().__init__(where, reason)
        self.status = status


class AuthError(AnacondaError):
    """401: the token is missing, expired, revoked or lacks the rights for this owner."""


class NotFound(AnacondaError):
    """404: the owner, package, release or file does not exist."""


class Conflict(AnacondaError):
    """409: the file already exists."""


class ServerError(AnacondaError):
    """5xx after every retry, or the server could not be reached."""


def _error_class(status: int) -> type[AnacondaError]:
    if status == 401:
        return AuthError
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status >= 500:
        return ServerError
    return AnacondaError


def file_digests(path: Path) -> tuple[str, str, int]:
    """Stream ``path`` once: ``(sha256 hex, md5 base64, size)``, what stage and storage need."""
    md5, sha, size = file_hashes(path)
    return sha, base64.b64encode(bytes.fromhex(md5)).decode("ascii"), size


def _no_netrc(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """An auth hook that adds nothing, so ``requests`` does not apply ``.netrc`` credentials."""
    return request


def _valid_token(token: str) -> bool:
    return token.isascii() and token.isprintable() and not any(c.isspace() for c in token)


class _MultipartBody:
    """A ``multipart/form-data`` body read in chunks, with a known length (storage needs one).

    Form fields come first and the file last, as S3-style POST policies require.
    """

    def __init__(self, fields: Mapping[str, str], filename: str, path: Path) -> None:
        self.boundary = "cwb-" + os.urandom(16).hex()
        head = bytearray()
        for key, value in fields.items():
            head += (
                f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n"
                f"{value}\r\n"
            ).encode()
        safe_name = filename.replace('"', "%22")
        head += (
            f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{safe_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._head = bytes(head)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._path = path
        self.len = len(self._head) + path.stat().st_size + len(self._tail)
        self._parts = self._iter()
        self._buffer = b""

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _iter(self) -> Iterator[bytes]:
        yield self._head
        with open(self._path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk
        yield self._tail

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._parts)
            except StopIteration:
                break
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


class AnacondaClient:
    """The API calls ``cwb publish`` makes, with anaconda-client's paths, payloads and answers.

    ``retries`` extra attempts are made on 5xx and connection errors, sleeping ``backoff * 2**n``
    seconds between them.
    """

    def __init__(
        self,
        token: str | None,
        api_url: str = DEFAULT_API_URL,
        *,
        retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        if token and not _valid_token(token):
            raise AuthError("ANACONDA_API_TOKEN", "malformed token (spaces or control characters)")
        self.__token = token or ""
        self._session = session or requests.Session()
        self._session.auth = _no_netrc  # proxies from the environment, but never .netrc logins
        self._session.headers.update(
            {
                "User-Agent": f"conda-wheel-bridge/{__version__}",
                "Accept": "application/json",
                "x-binstar-api-version": "1.12.2",
            }
        )

    def __repr__(self) -> str:
        return f"AnacondaClient(api_url={self.api_url!r}, token={'***' if self.__token else None})"

    def redact(self, text: str) -> str:
        """Remove the token from ``text`` (a server may echo it back in an error)."""
        return text.replace(self.__token, "***") if self.__token else text

    # -- transport ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        auth: bool = True,
        json: Any = None,
        body_factory: Any = None,
        allowed: tuple[int, ...] = (200,),
        where: str | None = None,
    ) -> requests.Response:
        """Send with retries; raise the typed error for a status outside ``allowed``."""
        where = where or url
        headers: dict[str, str] = {}
        if auth and self.__token:
            headers["Authorization"] = f"token {self.__token}"
        attempt = 0
        while True:
            data = None
            if body_factory is not None:
                data = body_factory()
                headers["Content-Type"] = data.content_type
            try:
                if auth:
                    res = self._session.request(
                        method, url, json=json, data=data, headers=headers, timeout=self.timeout
                    )
                else:  # the storage location gets none of the API session's headers
                    res = requests.request(method, url, data=data, headers=headers,
                                           auth=_no_netrc, timeout=self.timeout)
            except requests.RequestException as exc:
                if attempt < self.retries:
                    self._sleep(attempt, f"{method} {url}: {type(exc).__name__}")
                    attempt += 1
                    continue
                reason = self.redact(f"cannot reach the server ({type(exc).__name__})")
                raise ServerError(where, reason) from None
            if res.status_code in _RETRY_STATUSES and attempt < self.retries:
                self._sleep(attempt, f"{method} {url}: HTTP {res.status_code}")
                attempt += 1
                continue
            if res.status_code not in allowed:
                raise self._error(res, where)
            return res

    def _sleep(self, attempt: int, what: str) -> None:
        delay = self.backoff * (2**attempt)
        log.info("retrying %s in %.1fs", self.redact(what), delay)
        if delay > 0:
            time.sleep(delay)

    def _error(self, res: requests.Response, where: str) -> AnacondaError:
        detail = ""
        try:
            body = res.json()
            if isinstance(body, Mapping):
                detail = str(body.get("error") or body.get("message") or "")
        except ValueError:
            detail = res.text[:200].strip()
            if "<Code>" in res.text:
                detail = res.text.split("<Code>", 1)[1].split("</Code>", 1)[0]
        status = res.status_code
        if status == 401:
            reason = "the token was refused (401 Unauthorized): set a valid ANACONDA_API_TOKEN"
        else:
            reason = f"{res.request.method} failed with HTTP {status}"
        if detail:
            reason += f": {' '.join(detail.split())}"
        return _error_class(status)(where, self.redact(reason), status)

    def _url(self, *parts: str) -> str:
        return self.api_url + "/" + "/".join(quote(p, safe="/") for p in parts)

    def _json(self, res: requests.Response, where: str) -> Any:
        try:
            return res.json()
        except ValueError:
            raise AnacondaError(where, "the server answer is not JSON") from None

    # -- API ---------------------------------------------------------------------------------

    def check_token(self) -> str:
        """``GET /user``: the login the token belongs to (raises :class:`AuthError` if refused)."""
        if not self.__token:
            raise AuthError(self.api_url, "no token: set ANACONDA_API_TOKEN")
        res = self._send("GET", self._url("user"), where=self.api_url)
        login = self._json(res, self.api_url).get("login")
        if not isinstance(login, str):
            raise AnacondaError(self.api_url, "GET /user did not name a login")
        return login

    def user(self, login: str) -> dict[str, Any]:
        """``GET /user/<login>``: the user or organisation (raises :class:`NotFound`)."""
        res = self._send("GET", self._url("user", login), where=f"owner {login}")
        return dict(self._json(res, login))

    def package(self, owner: str, name: str) -> dict[str, Any] | None:
        """``GET /package/<owner>/<name>``, or ``None`` when it does not exist."""
        return self._get_or_none(self._url("package", owner, name), f"{owner}/{name}")

    def add_package(self, owner: str, name: str, *, summary: str, license: str | None,
                    package_type: str, public: bool = True) -> dict[str, Any]:
        """``POST /package/<owner>/<name>``: create the package namespace."""
        attrs = {
            "summary": summary,
            "package_types": [package_type],
            "license": {"name": license, "url": None, "family": None},
        }
        payload = {"public": public, "publish": False, "public_attrs": attrs}
        res = self._send("POST", self._url("package", owner, name), json=payload,
                         where=f"{owner}/{name}")
        return dict(self._json(res, name))

    def release(self, owner: str, name: str, version: str) -> dict[str, Any] | None:
        """``GET /release/<owner>/<name>/<version>``, or ``None`` when it does not exist."""
        return self._get_or_none(self._url("release", owner, name, version),
                                 f"{owner}/{name}/{version}")

    def add_release(self, owner: str, name: str, version: str, *, summary: str) -> dict[str, Any]:
        """``POST /release/<owner>/<name>/<version>``: create the release."""
        payload: dict[str, Any] = {
            "requirements": [], "announce": None, "description": None, "summary": summary,
        }
        res = self._send("POST", self._url("release", owner, name, version), json=payload,
                         where=f"{owner}/{name}/{version}")
        return dict(self._json(res, version))

    def distribution(self, owner: str, name: str, version: str,
                     basename: str) -> dict[str, Any] | None:
        """``GET /dist/<owner>/<name>/<version>/<basename>``, or ``None`` when absent."""
        return self._get_or_none(self._url("dist", owner, name, version, basename), basename)

    def remove_distribution(self, owner: str, name: str, version: str, basename: str) -> None:
        """``DELETE /dist/<owner>/<name>/<version>/<basename>``."""
        self._send("DELETE", self._url("dist", owner, name, version, basename), where=basename)

    def add_label(self, owner: str, label: str, *, name: str, version: str, basename: str) -> None:
        """``POST /channels/<owner>/<label>``: put one existing file under ``label`` as well."""
        payload = {"package": name, "version": version, "basename": basename}
        self._send("POST", self._url("channels", owner, label), json=payload,
                   allowed=(200, 201), where=basename)

    def upload(self, owner: str, name: str, version: str, basename: str, path: Path, *,
               distribution_type: str, attrs: Mapping[str, Any], labels: list[str],
               sha256: str, md5_b64: str, size: int,
               dependencies: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Stage, send to the storage location with its form fields and checksum, then commit.

        A commit whose answer was lost, found done on retry (the file is there with our sha256),
        counts as done.
        """
        payload: dict[str, Any] = {
            "distribution_type": distribution_type,
            "description": "",
            "attrs": dict(attrs),
            "dependencies": dict(dependencies or {}),
            "channels": labels,
            "sha256": sha256,
        }
        res = self._send("POST", self._url("stage", owner, name, version, basename), json=payload,
                         where=basename)
        staged = self._json(res, basename)
        try:
            post_url = str(staged["post_url"])
            form = {str(k): str(v) for k, v in dict(staged["form_data"]).items()}
            dist_id = str(staged["dist_id"])
        except (KeyError, TypeError, ValueError):
            raise AnacondaError(basename, "stage answer lacks post_url/form_data/dist_id") from None
        form["Content-Length"] = str(size)
        form["Content-MD5"] = md5_b64
        filename = basename.rsplit("/", 1)[-1]
        self._send("POST", post_url, auth=False, allowed=(200, 201, 204), where=basename,
                   body_factory=lambda: _MultipartBody(form, filename, path))
        commit_url = self._url("commit", owner, name, version, basename)
        try:
            res = self._send("POST", commit_url, json={"dist_id": dist_id}, where=basename)
        except (Conflict, NotFound):  # a retry after a commit whose answer was lost
            existing = self.distribution(owner, name, version, basename)
            if existing is None or existing.get("sha256") != sha256:
                raise
            return existing
        return dict(self._json(res, basename))

    def _get_or_none(self, url: str, where: str) -> dict[str, Any] | None:
        try:
            res = self._send("GET", url, where=where)
        except NotFound:
            return None
        return dict(self._json(res, where))
