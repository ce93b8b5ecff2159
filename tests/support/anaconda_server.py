"""A local stand-in for anaconda.org, speaking the protocol anaconda-client speaks (127.0.0.1 only).

Three servers share one state, as the real service has three hosts:

- **api** (api.anaconda.org): ``GET /user``, ``GET /user/<login>``, package and release get/create,
  ``GET``/``DELETE /dist/...``, ``POST /stage/...`` answering a storage ``post_url`` with signed
  ``form_data`` and a ``dist_id``, ``POST /commit/...``, labels (``/channels/<owner>/<label>``).
  Errors are JSON ``{"error": ...}`` with 400, 401, 404, 409; 5xx come from injected failures.
- **storage** (the S3 bucket): a multipart form POST; every issued form field must come back
  unchanged and before the file, the ``Content-MD5`` and ``Content-Length`` must match the file,
  and an ``Authorization`` header is refused (the API token must never reach storage). Answers
  201 with S3's XML, or S3-style XML errors (``InvalidDigest`` ...).
- **download** (conda.anaconda.org and pypi.anaconda.org): ``/<owner>[/label/<l>]/<subdir>/
  repodata.json`` built from what was committed, the files themselves, and a PEP 503 index at
  ``/<owner>[/label/<l>]/simple/``.

Like anaconda.org, deleting the last file of a release or package drops it (rattler's uploader
notes the service may garbage-collect them); :attr:`FakeAnaconda.dropped_packages` records it.
Failures are injected with :meth:`FakeAnaconda.fail`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

__all__ = ["Failure", "FakeAnaconda", "iter_requests", "repodata_for"]

_SECRET = b"fake-anaconda-storage-secret"
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_REPODATA_KEYS = (
    "name", "version", "build", "build_number", "depends", "constrains", "license",
    "license_family", "noarch", "subdir", "timestamp", "track_features", "features", "platform",
    "arch", "python_site_packages_path",
)
_PYPI_CONDA = {"conda", "pypi"}


@dataclass
class Failure:
    """An injected failure: ``times`` matching requests answer ``status`` (or drop the connection).

    ``when="before"`` answers without doing the work; ``"after"`` does the work and then answers the
    failure, as when a response is lost on the way back.
    """

    role: str
    method: str
    path: re.Pattern[str]
    status: int | None
    times: int
    when: str = "before"
    body: str | None = None
    hits: int = 0


@dataclass
class _Request:
    role: str
    method: str
    path: str
    status: int
    authorization: str | None


@dataclass
class _State:
    tokens: dict[str, str]
    orgs: dict[str, set[str]]
    packages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    releases: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    # (owner, name, basename) -> file
    dists: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    staged: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def repodata_for(subdir: str, dists: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Classic repodata for ``subdir`` from dist records (``attrs`` plus sha256/md5/size)."""
    packages: dict[str, Any] = {}
    conda: dict[str, Any] = {}
    for dist in dists:
        attrs = dist["attrs"]
        if dist["distribution_type"] != "conda" or attrs.get("subdir") != subdir:
            continue
        fn = dist["basename"].split("/", 1)[1]
        record = {k: attrs[k] for k in _REPODATA_KEYS if k in attrs}
        record.update(name=dist["name"], version=dist["version"])
        record.setdefault("depends", [])
        record.update(md5=dist["md5"], sha256=dist["sha256"], size=dist["size"])
        (conda if fn.endswith(".conda") else packages)[fn] = record
    return {"info": {"subdir": subdir}, "packages": packages, "packages.conda": conda,
            "removed": [], "repodata_version": 1}


class FakeAnaconda:
    """The three local servers and their shared state; use as a context manager."""

    def __init__(self, users: Mapping[str, str] | None = None,
                 orgs: Mapping[str, Sequence[str]] | None = None) -> None:
        users = dict(users or {"alice": "alice-secret-token"})
        self.state = _State(tokens={token: login for login, token in users.items()},
                            orgs={org: set(members) for org, members in (orgs or {}).items()})
        self.lock = threading.RLock()
        self.failures: list[Failure] = []
        self.requests: list[_Request] = []
        self.dropped_packages: list[tuple[str, str]] = []
        #: (owner, name) -> file count after every change, to show a package never lost its files
        self.file_counts: dict[tuple[str, str], list[int]] = {}
        self._servers: dict[str, ThreadingHTTPServer] = {}
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeAnaconda:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for role in ("api", "storage", "download"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, role))
            server.daemon_threads = True
            self._servers[role] = server
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()

    def _url(self, role: str) -> str:
        host, port = self._servers[role].server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return self._url("api")

    @property
    def storage_url(self) -> str:
        return self._url("storage")

    def channel_url(self, owner: str, label: str | None = None) -> str:
        """The conda channel of ``owner`` (``conda.anaconda.org/<owner>[/label/<label>]``)."""
        return f"{self._url('download')}/{owner}" + (f"/label/{label}" if label else "")

    def simple_url(self, owner: str, label: str | None = None) -> str:
        """The PEP 503 index of ``owner`` (``pypi.anaconda.org/<owner>[/label/<label>]/simple``)."""
        return self.channel_url(owner, label) + "/simple"

    # -- test controls -----------------------------------------------------------------------

    def fail(self, method: str, path: str, status: int | None = 500, *, times: int = 1,
             role: str = "api", when: str = "before", body: str | None = None) -> Failure:
        """Make the next ``times`` requests matching ``method`` and the ``path`` regex fail."""
        failure = Failure(role, method.upper(), re.compile(path), status, times, when, body)
        with self.lock:
            self.failures.append(failure)
        return failure

    def clear_failures(self) -> None:
        with self.lock:
            self.failures.clear()

    def files(self, owner: str, name: str | None = None) -> dict[str, dict[str, Any]]:
        """Committed files of ``owner`` (one package or all), by basename."""
        with self.lock:
            return {b: dict(d) for (o, n, b), d in self.state.dists.items()
                    if o == owner and (name is None or n == name)}

    def content(self, owner: str, name: str, basename: str) -> bytes:
        with self.lock:
            return self.state.objects[self.state.dists[(owner, name, basename)]["key"]]

    def _take_failure(self, role: str, method: str, path: str) -> Failure | None:
        with self.lock:
            for failure in self.failures:
                if (failure.role == role and failure.method == method and failure.hits <
                        failure.times and failure.path.search(path)):
                    failure.hits += 1
                    return failure
        return None

    # -- api ---------------------------------------------------------------------------------

    def _login(self, authorization: str | None, *, required: bool) -> str | None:
        if authorization is None:
            if required:
                raise _HttpError(401, "Authentication required: log in or pass a token")
            return None
        scheme, _, token = authorization.partition(" ")
        login = self.state.tokens.get(token) if scheme == "token" else None
        if login is None:
            raise _HttpError(401, "Invalid or expired token")
        return login

    def _may_write(self, login: str, owner: str) -> None:
        if login != owner and login not in self.state.orgs.get(owner, set()):
            raise _HttpError(401, f"{login} cannot upload to {owner}")

    def _owner_exists(self, owner: str) -> None:
        if owner not in self.state.tokens.values() and owner not in self.state.orgs:
            raise _HttpError(404, f"user {owner} does not exist")

    def api(self, method: str, path: str, body: Any, authorization: str | None) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        with self.lock:
            if method == "HEAD" and not parts:
                return 200, None
            login = self._login(authorization, required=(bool(parts) and method != "GET")
                                or parts == ["user"])
            head, rest = (parts[0], parts[1:]) if parts else ("", [])
            if head == "user":
                if not rest:
                    return 200, {"login": login, "name": login}
                self._owner_exists(rest[0])
                return 200, {"login": rest[0]}
            if head == "package" and len(rest) == 2:
                return self._package(method, rest[0], rest[1], body, login)
            if head == "release" and len(rest) == 3:
                return self._release(method, *rest, body=body, login=login)
            if head == "dist" and len(rest) >= 4:
                return self._dist(method, rest[0], rest[1], rest[2], "/".join(rest[3:]), login)
            if head == "stage" and method == "POST" and len(rest) >= 4:
                assert login is not None
                return self._stage(rest[0], rest[1], rest[2], "/".join(rest[3:]), body, login)
            if head == "commit" and method == "POST" and len(rest) >= 4:
                assert login is not None
                return self._commit(rest[0], rest[1], rest[2], "/".join(rest[3:]), body, login)
            if head == "channels" and rest:
                return self._channels(method, rest, body, login)
        raise _HttpError(404, f"no such endpoint: {method} {path}")

    def _package_json(self, owner: str, name: str) -> dict[str, Any]:
        package = self.state.packages[(owner, name)]
        files = [self._dist_json(d) for (o, n, _), d in sorted(self.state.dists.items())
                 if (o, n) == (owner, name)]
        versions = sorted({v for (o, n, v) in self.state.releases if (o, n) == (owner, name)})
        return {**package, "files": files, "versions": versions, "releases": versions}

    def _dist_json(self, dist: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in dist.items() if k != "key"}

    def _package(self, method: str, owner: str, name: str, body: Any,
                 login: str | None) -> tuple[int, Any]:
        exists = (owner, name) in self.state.packages
        if method == "GET":
            if not exists:
                raise _HttpError(404, f"package {owner}/{name} does not exist")
            return 200, self._package_json(owner, name)
        if method == "POST":
            assert login is not None
            self._owner_exists(owner)
            self._may_write(login, owner)
            if exists:
                raise _HttpError(409, f"package {owner}/{name} already exists")
            if not isinstance(body, dict) or not isinstance(body.get("public_attrs"), dict):
                raise _HttpError(400, "public_attrs required")
            attrs = body["public_attrs"]
            self.state.packages[(owner, name)] = {
                "id": uuid.uuid4().hex, "name": name, "owner": {"login": owner},
                "full_name": f"{owner}/{name}", "summary": attrs.get("summary"),
                "public": bool(body.get("public", True)),
                "package_types": list(attrs.get("package_types") or []),
                "public_attrs": attrs, "created_at": time.time(),
            }
            self._count(owner, name)
            return 200, self._package_json(owner, name)
        if method == "DELETE":
            assert login is not None
            self._may_write(login, owner)
            if not exists:
                raise _HttpError(404, f"package {owner}/{name} does not exist")
            for key in [k for k in self.state.dists if k[:2] == (owner, name)]:
                del self.state.dists[key]
            for key in [k for k in self.state.releases if k[:2] == (owner, name)]:
                del self.state.releases[key]
            del self.state.packages[(owner, name)]
            self._count(owner, name)
            return 201, {}
        raise _HttpError(405, f"{method} not allowed")

    def _release(self, method: str, owner: str, name: str, version: str, *, body: Any,
                 login: str | None) -> tuple[int, Any]:
        key = (owner, name, version)
        if method == "GET":
            if key not in self.state.releases:
                raise _HttpError(404, f"release {owner}/{name}/{version} does not exist")
            dists = [self._dist_json(d) for (o, n, _), d in self.state.dists.items()
                     if (o, n) == (owner, name) and d["version"] == version]
            return 200, {**self.state.releases[key], "distributions": dists}
        if method == "POST":
            assert login is not None
            self._may_write(login, owner)
            if (owner, name) not in self.state.packages:
                raise _HttpError(404, f"package {owner}/{name} does not exist")
            if key in self.state.releases:
                raise _HttpError(409, f"release {owner}/{name}/{version} already exists")
            if not isinstance(body, dict):
                raise _HttpError(400, "a JSON object is required")
            self.state.releases[key] = {"version": version, "summary": body.get("summary"),
                                        "full_name": f"{owner}/{name}/{version}"}
            return 200, {**self.state.releases[key], "distributions": []}
        if method == "DELETE":
            assert login is not None
            self._may_write(login, owner)
            if key not in self.state.releases:
                raise _HttpError(404, f"release {owner}/{name}/{version} does not exist")
            for dist_key in [k for k, d in self.state.dists.items()
                             if k[:2] == (owner, name) and d["version"] == version]:
                del self.state.dists[dist_key]
            del self.state.releases[key]
            self._count(owner, name)
            return 201, {}
        raise _HttpError(405, f"{method} not allowed")

    def _dist(self, method: str, owner: str, name: str, version: str, basename: str,
              login: str | None) -> tuple[int, Any]:
        dist = self.state.dists.get((owner, name, basename))
        if dist is None or dist["version"] != version:
            raise _HttpError(404, f"file {owner}/{name}/{version}/{basename} does not exist")
        if method == "GET":
            return 200, self._dist_json(dist)
        if method == "DELETE":
            assert login is not None
            self._may_write(login, owner)
            del self.state.dists[(owner, name, basename)]
            self._count(owner, name)
            left = [d for (o, n, _), d in self.state.dists.items() if (o, n) == (owner, name)]
            if not any(d["version"] == version for d in left):
                self.state.releases.pop((owner, name, version), None)
            if not left:  # like anaconda.org: an empty package is dropped with its settings
                self.state.packages.pop((owner, name), None)
                for key in [k for k in self.state.releases if k[:2] == (owner, name)]:
                    del self.state.releases[key]
                self.dropped_packages.append((owner, name))
            return 200, {}
        raise _HttpError(405, f"{method} not allowed")

    def _stage(self, owner: str, name: str, version: str, basename: str, body: Any,
               login: str) -> tuple[int, Any]:
        self._may_write(login, owner)
        package = self.state.packages.get((owner, name))
        if package is None:
            raise _HttpError(404, f"package {owner}/{name} does not exist")
        if (owner, name, version) not in self.state.releases:
            raise _HttpError(404, f"release {owner}/{name}/{version} does not exist")
        if not isinstance(body, dict):
            raise _HttpError(400, "a JSON object is required")
        kind = body.get("distribution_type")
        attrs = body.get("attrs")
        labels = body.get("channels") or ["main"]  # anaconda upload without --label sends []
        sha256 = body.get("sha256")
        if kind not in _PYPI_CONDA or not isinstance(attrs, dict):
            raise _HttpError(400, "distribution_type (conda or pypi) and attrs are required")
        if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
            raise _HttpError(400, "sha256 must be 64 lowercase hex digits")
        if (not isinstance(labels, list) or not labels
                or not all(isinstance(x, str) and _LABEL_RE.match(x) for x in labels)):
            raise _HttpError(400, "channels must be a non-empty list of labels")
        types = set(package["package_types"])
        if types and not types <= _PYPI_CONDA:
            raise _HttpError(400, f"{owner}/{name} holds {sorted(types)} files, not {kind}")
        _check_basename(kind, name, version, basename, attrs)
        if (owner, name, basename) in self.state.dists:
            raise _HttpError(409, f"file {basename} already exists for {owner}/{name}/{version}")
        dist_id = uuid.uuid4().hex
        key = f"{owner}/{name}/{dist_id}/{basename.rsplit('/', 1)[-1]}"
        policy_doc = base64.b64encode(json.dumps(
            {"expiration": "2099-01-01T00:00:00Z",
             "conditions": [{"key": key}, ["content-length-range", 0, 1 << 34]]}).encode()).decode()
        form = {
            "key": key, "acl": "private", "success_action_status": "201",
            "Content-Type": "application/octet-stream", "policy": policy_doc,
            "x-amz-signature": hmac.new(_SECRET, policy_doc.encode(), "sha256").hexdigest(),
        }
        self.state.staged[dist_id] = {
            "owner": owner, "name": name, "version": version, "basename": basename, "kind": kind,
            "attrs": attrs, "labels": list(labels), "sha256": sha256, "key": key, "form": form,
        }
        return 200, {"post_url": f"{self.storage_url}/fake-bucket", "form_data": form,
                     "dist_id": dist_id}

    def _commit(self, owner: str, name: str, version: str, basename: str, body: Any,
                login: str) -> tuple[int, Any]:
        self._may_write(login, owner)
        dist_id = body.get("dist_id") if isinstance(body, dict) else None
        staged = self.state.staged.get(str(dist_id))
        if staged is None or (staged["owner"], staged["name"], staged["version"],
                              staged["basename"]) != (owner, name, version, basename):
            raise _HttpError(404, f"no staged upload {dist_id} for {basename}")
        if (owner, name, basename) in self.state.dists:
            raise _HttpError(409, f"file {basename} already exists for {owner}/{name}/{version}")
        data = self.state.objects.get(staged["key"])
        if data is None:
            raise _HttpError(400, "nothing was uploaded to the storage location")
        if hashlib.sha256(data).hexdigest() != staged["sha256"]:
            raise _HttpError(400, "the uploaded file does not match the staged sha256")
        if (owner, name, version) not in self.state.releases:
            raise _HttpError(404, f"release {owner}/{name}/{version} does not exist")
        package = self.state.packages[(owner, name)]
        if staged["kind"] not in package["package_types"]:
            package["package_types"].append(staged["kind"])
        dist = {
            "basename": basename, "name": name, "version": version,
            "distribution_type": staged["kind"],
            "attrs": staged["attrs"], "labels": staged["labels"], "sha256": staged["sha256"],
            "md5": hashlib.md5(data).hexdigest(), "size": len(data), "key": staged["key"],
            "full_name": f"{owner}/{name}/{version}/{basename}", "upload_time": time.time(),
            "owner": owner, "type": staged["kind"],
        }
        self.state.dists[(owner, name, basename)] = dist
        del self.state.staged[str(dist_id)]
        self._count(owner, name)
        return 200, {**self._dist_json(dist), "url": f"https://anaconda.org/{owner}/{name}"}

    def _channels(self, method: str, rest: list[str], body: Any,
                  login: str | None) -> tuple[int, Any]:
        owner = rest[0]
        if method == "GET" and len(rest) == 1:
            counts: dict[str, int] = {}
            for (o, _, _), dist in self.state.dists.items():
                for label in dist["labels"] if o == owner else ():
                    counts[label] = counts.get(label, 0) + 1
            return 200, counts
        if method == "POST" and len(rest) == 2:
            assert login is not None
            self._may_write(login, owner)
            label = rest[1]
            if not _LABEL_RE.match(label) or not isinstance(body, dict):
                raise _HttpError(400, "bad label or payload")
            matched = [d for (o, n, b), d in self.state.dists.items()
                       if o == owner and (body.get("package") in (None, n))
                       and (body.get("version") in (None, d["version"]))
                       and (body.get("basename") in (None, b))]
            if not matched:
                raise _HttpError(404, "no file matched")
            for dist in matched:
                if label not in dist["labels"]:
                    dist["labels"].append(label)
            return 201, {}
        raise _HttpError(405, f"{method} not allowed")

    def _count(self, owner: str, name: str) -> None:
        count = sum(1 for (o, n, _) in self.state.dists if (o, n) == (owner, name))
        self.file_counts.setdefault((owner, name), []).append(count)

    # -- storage -----------------------------------------------------------------------------

    def storage(self, content_type: str, body: bytes, authorization: str | None) -> tuple[int, str]:
        if authorization is not None:
            return 400, _s3_error("InvalidArgument", "Authorization header is not allowed here")
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
        if not message.is_multipart():
            return 400, _s3_error("MalformedPOSTRequest", "not a multipart/form-data body")
        fields: dict[str, str] = {}
        data: bytes | None = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            if name == "file":
                data = payload
            elif data is not None:
                return 400, _s3_error("InvalidArgument", f"field {name} after the file")
            else:
                fields[str(name)] = payload.decode()
        if data is None:
            return 400, _s3_error("InvalidArgument", "no file")
        with self.lock:
            staged = next((s for s in self.state.staged.values()
                           if s["key"] == fields.get("key")), None)
            if staged is None or any(fields.get(k) != v for k, v in staged["form"].items()):
                return 403, _s3_error("AccessDenied", "form fields do not match the policy")
            expected = hmac.new(_SECRET, fields["policy"].encode(), "sha256").hexdigest()
            if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
                return 403, _s3_error("SignatureDoesNotMatch", "bad signature")
            if fields.get("Content-Length") != str(len(data)):
                return 400, _s3_error("IncompleteBody", "Content-Length does not match the file")
            md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
            if fields.get("Content-MD5") != md5:
                return 400, _s3_error("InvalidDigest", "The Content-MD5 you specified was invalid")
            self.state.objects[staged["key"]] = data
        return 201, (f"<PostResponse><Bucket>fake-bucket</Bucket><Key>{html.escape(staged['key'])}"
                     f"</Key><ETag>\"{hashlib.md5(data).hexdigest()}\"</ETag></PostResponse>")

    # -- downloads: conda channel and simple index ---------------------------------------------

    def download(self, path: str) -> tuple[int, str, bytes]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 2:
            return 404, "text/plain", b"not found"
        owner, rest = parts[0], parts[1:]
        label = "main"
        if len(rest) >= 2 and rest[0] == "label":
            label, rest = rest[1], rest[2:]
        with self.lock:
            dists = [d for (o, _, _), d in self.state.dists.items()
                     if o == owner and label in d["labels"]]
            if rest and rest[0] == "simple":
                return self._simple(owner, rest[1:], dists)
            if len(rest) == 2 and rest[1] == "repodata.json" and re.match(r"^[a-z0-9_-]+$",
                                                                          rest[0]):
                body = json.dumps(repodata_for(rest[0], dists), indent=1).encode()
                return 200, "application/json", body
            if len(rest) == 2:
                basename = "/".join(rest)
                for (_, _, b), dist in self.state.dists.items():
                    if dist in dists and b == basename and dist["distribution_type"] == "conda":
                        return 200, "application/octet-stream", self.state.objects[dist["key"]]
        return 404, "text/plain", b"not found"

    def _simple(self, owner: str, rest: list[str],
                dists: list[dict[str, Any]]) -> tuple[int, str, bytes]:
        wheels: dict[str, list[dict[str, Any]]] = {}  # canonical project name -> files
        for dist in dists:
            if dist["distribution_type"] == "pypi":
                project = canonicalize_name(dist["full_name"].split("/")[1])
                wheels.setdefault(project, []).append(dist)
        page = "<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.0\">"
        if not rest:
            links = "".join(f'<a href="{p}/">{p}</a><br/>' for p in sorted(wheels))
            return 200, "text/html", f"{page}</head><body>{links}</body></html>".encode()
        asked = rest[0]
        if asked != canonicalize_name(asked):
            return 404, "text/plain", b"not found"  # a real index redirects; pip asks normalised
        files = wheels.get(asked, [])
        if len(rest) == 1:
            if not files:
                return 404, "text/plain", b"not found"
            links = "".join(
                f'<a href="{html.escape(d["version"])}/{html.escape(d["basename"])}'
                f'#sha256={d["sha256"]}">{html.escape(d["basename"])}</a><br/>'
                for d in sorted(files, key=lambda d: d["basename"]))
            return 200, "text/html", f"{page}</head><body>{links}</body></html>".encode()
        if len(rest) == 3:
            for dist in files:
                if (dist["version"], dist["basename"]) == (rest[1], rest[2]):
                    return 200, "application/octet-stream", self.state.objects[dist["key"]]
        return 404, "text/plain", b"not found"


def _check_basename(kind: str, name: str, version: str, basename: str,
                    attrs: Mapping[str, Any]) -> None:
    """The basename must agree with the URL's package and version, as the real service checks."""
    if kind == "conda":
        subdir, _, fn = basename.partition("/")
        ext = ".conda" if fn.endswith(".conda") else ".tar.bz2" if fn.endswith(".tar.bz2") else ""
        # anaconda-client sends index.json without name and version (the URL carries them)
        expected = f"{name}-{version}-{attrs.get('build')}{ext}"
        if (not ext or subdir != attrs.get("subdir") or fn != expected
                or attrs.get("name", name) != name or attrs.get("version", version) != version):
            raise _HttpError(400, f"basename {basename} does not match {name} {version} and attrs")
        return
    try:
        wheel_name, wheel_version, _, _ = parse_wheel_filename(basename)
    except InvalidWheelFilename:
        raise _HttpError(400, f"{basename} is not a wheel file name") from None
    if wheel_name != canonicalize_name(name) or basename.split("-")[1] != version:
        raise _HttpError(400, f"basename {basename} does not match {name} {version}")
    del wheel_version


def _s3_error(code: str, message: str) -> str:
    return (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>"
            f"<Message>{html.escape(message)}</Message></Error>")


def _handler(fake: FakeAnaconda, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _answer(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _handle(self) -> None:
            path = urlsplit(self.path).path
            method = self.command
            body = self._body()
            authorization = self.headers.get("Authorization")
            failure = fake._take_failure(role, method, path)
            if failure is not None and failure.when == "before":
                self._fail(failure, path, authorization)
                return
            status, content_type, payload = self._route(method, path, body, authorization)
            if failure is not None:
                self._fail(failure, path, authorization)
                return
            with fake.lock:
                fake.requests.append(_Request(role, method, path, status, authorization))
            self._answer(status, content_type, payload)

        def _fail(self, failure: Failure, path: str, authorization: str | None) -> None:
            with fake.lock:
                fake.requests.append(_Request(role, self.command, path, failure.status or 0,
                                              authorization))
            if failure.status is None:  # drop the connection without an answer
                self.close_connection = True
                self.connection.close()
                return
            text = failure.body if failure.body is not None else f"injected {failure.status}"
            self._answer(failure.status, "application/json",
                         json.dumps({"error": text}).encode())

        def _route(self, method: str, path: str, body: bytes,
                   authorization: str | None) -> tuple[int, str, bytes]:
            if role == "download":
                return fake.download(path)
            if role == "storage":
                if method != "POST":
                    return 405, "application/xml", _s3_error("MethodNotAllowed", method).encode()
                status, text = fake.storage(self.headers.get("Content-Type", ""), body,
                                            authorization)
                return status, "application/xml", text.encode()
            try:
                data = json.loads(body) if body else None
            except ValueError:
                return 400, "application/json", b'{"error": "body is not JSON"}'
            try:
                status, answer = fake.api(method, path, data, authorization)
            except _HttpError as exc:
                return exc.status, "application/json", json.dumps({"error": exc.message}).encode()
            return status, "application/json", json.dumps(answer).encode()

        do_GET = do_POST = do_DELETE = do_HEAD = do_PATCH = do_PUT = _handle

    return Handler


def _main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - manual use
    import argparse

    parser = argparse.ArgumentParser(description="Run a local anaconda.org stand-in.")
    parser.add_argument("--user", action="append", default=[], metavar="LOGIN:TOKEN")
    args = parser.parse_args(argv)
    users = dict(u.split(":", 1) for u in args.user) or None
    with FakeAnaconda(users) as fake:
        print(f"api {fake.api_url}  channel {fake.channel_url('OWNER')}", flush=True)
        threading.Event().wait()


def iter_requests(fake: FakeAnaconda, role: str) -> Iterator[_Request]:
    """The recorded requests of one role."""
    with fake.lock:
        yield from [r for r in fake.requests if r.role == role]


if __name__ == "__main__":  # pragma: no cover
    _main()
