"""cwb serve: a real socket on 127.0.0.1, PEP 691 negotiation, content types, ETag, Range."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conda_wheel_bridge.channel.index import index_channel
from conda_wheel_bridge.channel.serve import ChannelServer, negotiate, serve_in_thread

Cwb = Callable[..., tuple[int, str, str]]
SIX = "six-1.17.0-py2.py3-none-any.whl"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path
           ) -> Iterator[ChannelServer]:
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(fixtures_dir / "conda" / "linux-64", root / "linux-64")
    (root / "noarch").mkdir()
    shutil.copy(fixtures_dir / "wheels" / SIX, root / "noarch" / SIX)
    index_channel(root)
    with serve_in_thread(root) as srv:
        yield srv


def _get(server: ChannelServer, path: str, headers: dict[str, str] | None = None,
         method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=30)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


@pytest.mark.parametrize(("accept", "expected"), [
    (None, ("index.html", "text/html; charset=utf-8")),
    ("application/vnd.pypi.simple.v1+json", ("index.json", "application/vnd.pypi.simple.v1+json")),
    ("application/vnd.pypi.simple.v1+html", ("index.html", "application/vnd.pypi.simple.v1+html")),
    ("application/vnd.pypi.simple.latest+json",
     ("index.json", "application/vnd.pypi.simple.v1+json")),
    ("application/vnd.pypi.simple.v1+json;q=0.2, text/html;q=0.5",
     ("index.html", "text/html; charset=utf-8")),
    # what pip sends
    ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
     "text/html; q=0.01", ("index.json", "application/vnd.pypi.simple.v1+json")),
    ("*/*", ("index.json", "application/vnd.pypi.simple.v1+json")),
    ("application/xml", None),
    ("application/vnd.pypi.simple.v1+json;q=0", None),
])
def test_negotiate(accept: str | None, expected: tuple[str, str] | None) -> None:
    assert negotiate(accept) == expected


def test_binds_loopback_by_default(server: ChannelServer) -> None:
    assert server.server_address[0] == "127.0.0.1"
    assert server.url.startswith("http://127.0.0.1:")


def test_simple_page_negotiates_json_and_html(server: ChannelServer) -> None:
    response, body = _get(server, "/simple/six/",
                          {"Accept": "application/vnd.pypi.simple.v1+json"})
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/vnd.pypi.simple.v1+json"
    assert response.getheader("Vary") == "Accept"
    assert json.loads(body)["files"][0]["filename"] == SIX
    response, body = _get(server, "/simple/six/", {"Accept": "text/html"})
    assert response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert SIX.encode() in body and b"<!DOCTYPE html>" in body
    response, _ = _get(server, "/simple/six/", {"Accept": "application/xml"})
    assert response.status == 406


def test_directory_without_slash_redirects(server: ChannelServer) -> None:
    response, _ = _get(server, "/simple/six")
    assert response.status == 301 and response.getheader("Location") == "/simple/six/"


@pytest.mark.parametrize(("path", "ctype"), [
    ("/linux-64/repodata.json", "application/json"),
    ("/linux-64/repodata.json.zst", "application/zstd"),
    ("/channeldata.json", "application/json"),
    ("/linux-64/zlib-1.2.11-h7b6447c_3.conda", "application/octet-stream"),
    ("/linux-64/xz-5.2.6-h166bdaf_0.tar.bz2", "application/x-bzip2"),
    (f"/noarch/{SIX}", "application/octet-stream"),
    (f"/noarch/{SIX}.metadata", "text/plain; charset=utf-8"),
])
def test_content_types(server: ChannelServer, path: str, ctype: str) -> None:
    response, body = _get(server, path)
    assert response.status == 200
    assert response.getheader("Content-Type") == ctype
    assert int(response.getheader("Content-Length") or -1) == len(body)
    assert body == (server.channel / path.lstrip("/")).read_bytes()


def test_etag_and_conditional_get(server: ChannelServer) -> None:
    response, _ = _get(server, f"/noarch/{SIX}")
    etag = response.getheader("ETag")
    assert etag and etag.startswith('"')
    assert response.getheader("Last-Modified")
    again, body = _get(server, f"/noarch/{SIX}", {"If-None-Match": etag})
    assert again.status == 304 and body == b""
    other, _ = _get(server, f"/noarch/{SIX}", {"If-None-Match": '"something-else"'})
    assert other.status == 200


def test_byte_ranges(server: ChannelServer) -> None:
    whole = (server.channel / "noarch" / SIX).read_bytes()
    size = len(whole)
    response, body = _get(server, f"/noarch/{SIX}", {"Range": "bytes=10-19"})
    assert response.status == 206 and body == whole[10:20]
    assert response.getheader("Content-Range") == f"bytes 10-19/{size}"
    response, body = _get(server, f"/noarch/{SIX}", {"Range": "bytes=-22"})
    assert response.status == 206 and body == whole[-22:]  # a zip's end record, as pip reads it
    response, body = _get(server, f"/noarch/{SIX}", {"Range": f"bytes={size - 5}-"})
    assert body == whole[-5:]
    response, _ = _get(server, f"/noarch/{SIX}", {"Range": f"bytes={size}-"})
    assert response.status == 416
    assert response.getheader("Content-Range") == f"bytes */{size}"
    etag = _get(server, f"/noarch/{SIX}", method="HEAD")[0].getheader("ETag")
    stale, body = _get(server, f"/noarch/{SIX}", {"Range": "bytes=0-3", "If-Range": '"old"'})
    assert stale.status == 200 and body == whole  # If-Range mismatch: the whole, fresh file
    fresh, body = _get(server, f"/noarch/{SIX}", {"Range": "bytes=0-3", "If-Range": str(etag)})
    assert fresh.status == 206 and body == whole[:4]


def test_head_sends_headers_only(server: ChannelServer) -> None:
    response, body = _get(server, f"/noarch/{SIX}", method="HEAD")
    assert response.status == 200 and body == b""
    assert int(response.getheader("Content-Length") or 0) == (server.channel / "noarch" / SIX
                                                               ).stat().st_size


@pytest.mark.parametrize("path", ["/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                                  "/.cwb/index.lock", "/.cwb/cache/noarch.json", "/nope.json"])
def test_outside_hidden_and_missing_paths_are_404(server: ChannelServer, path: str) -> None:
    response, _ = _get(server, path)
    assert response.status == 404


def test_cli_serve_prints_its_url_and_serves(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    (root / "noarch").mkdir(parents=True)
    index_channel(root)
    proc = subprocess.Popen([sys.executable, "-m", "conda_wheel_bridge", "serve", str(root),
                             "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"serving {root} at http://127.0.0.1:")
        url = line.split(" at ", 1)[1].split()[0]
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/noarch/repodata.json")
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["info"]["subdir"] == "noarch"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_serve_missing_channel(tmp_path: Path, cwb: Cwb) -> None:
    rc, _, err = cwb("serve", tmp_path / "none", "--port", "0")
    assert rc == 1 and err == f"cwb: error: {tmp_path / 'none'}: not a directory\n"


def test_parallel_clients_get_whole_and_partial_files(server: ChannelServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    whole = (server.channel / "noarch" / SIX).read_bytes()

    def fetch(i: int) -> bool:
        if i % 2:
            response, body = _get(server, f"/noarch/{SIX}", {"Range": f"bytes={i}-{i + 99}"})
            return response.status == 206 and body == whole[i:i + 100]
        response, body = _get(server, f"/noarch/{SIX}")
        return response.status == 200 and body == whole

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert all(pool.map(fetch, range(64)))
