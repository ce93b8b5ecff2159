"""The anaconda.org protocol client: digests, the streamed storage form, retries, error lines."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conda_wheel_bridge.channel.anaconda_api import (
    AnacondaClient,
    AnacondaError,
    AuthError,
    Conflict,
    NotFound,
    ServerError,
    _MultipartBody,
    file_digests,
)
from conda_wheel_bridge.channel.publish import collect_artifacts, publish_to_anaconda

from tests.support.anaconda_server import FakeAnaconda, iter_requests
from tests.support.fixture_channel import make_channel

TOKEN = "api-test-token-0042"


@pytest.fixture
def fake() -> Iterator[FakeAnaconda]:
    with FakeAnaconda({"alice": TOKEN}) as server:
        yield server


def test_file_digests(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    sha, md5, size = file_digests(path)
    assert sha == hashlib.sha256(data).hexdigest()
    assert md5 == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert size == len(data)


def test_multipart_body_streams_fields_first_then_the_file(tmp_path: Path) -> None:
    data = b"x" * 300_000
    path = tmp_path / "pkg.conda"
    path.write_bytes(data)
    body = _MultipartBody({"key": "a/b", "Content-MD5": "zz"}, "pkg.conda", path)
    chunks = []
    while chunk := body.read(8192):
        assert len(chunk) <= 8192  # never more than asked: memory stays bounded
        chunks.append(chunk)
    raw = b"".join(chunks)
    assert len(raw) == body.len
    assert raw.index(b'name="key"') < raw.index(b'name="Content-MD5"') < raw.index(b'name="file"')
    assert data in raw and raw.endswith(f"--{body.boundary}--\r\n".encode())
    assert body.content_type == f"multipart/form-data; boundary={body.boundary}"


def test_typed_errors_for_each_status(fake: FakeAnaconda) -> None:
    client = AnacondaClient(TOKEN, fake.api_url, retries=0)
    assert client.check_token() == "alice"
    assert client.package("alice", "nothing") is None
    with pytest.raises(NotFound, match="owner ghost"):
        client.user("ghost")
    client.add_package("alice", "p", summary="s", license=None, package_type="conda")
    with pytest.raises(Conflict, match="409"):
        client.add_package("alice", "p", summary="s", license=None, package_type="conda")
    fake.fail("GET", r"^/user$", 502)
    with pytest.raises(ServerError, match="HTTP 502"):
        client.check_token()
    with pytest.raises(AuthError, match="no token"):
        AnacondaClient(None, fake.api_url).check_token()
    fake.fail("GET", r"^/user$", 200, body="not json")  # a 200 that is not the API's JSON
    with pytest.raises(AnacondaError, match="did not name a login"):
        client.check_token()


def test_retries_use_backoff_then_give_up(fake: FakeAnaconda,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("conda_wheel_bridge.channel.anaconda_api.time.sleep", slept.append)
    client = AnacondaClient(TOKEN, fake.api_url, retries=3, backoff=0.25)
    fake.fail("GET", r"^/user$", 503, times=3)
    assert client.check_token() == "alice"
    assert slept == [0.25, 0.5, 1.0]
    fake.fail("GET", r"^/user$", 503, times=4)
    with pytest.raises(ServerError):
        client.check_token()
    assert sum(1 for r in iter_requests(fake, "api") if r.status == 503) == 7


def test_storage_error_names_the_s3_code(fake: FakeAnaconda, tmp_path: Path,
                                         fixtures_dir: Path) -> None:
    channel = make_channel(tmp_path / "c", fixtures_dir, wheels=())
    art = collect_artifacts(channel)[0]
    client = AnacondaClient(TOKEN, fake.api_url, retries=0)
    client.add_package("alice", art.name, summary="s", license=None, package_type="conda")
    client.add_release("alice", art.name, art.version, summary="s")
    sha, _, size = file_digests(art.path)
    wrong_md5 = base64.b64encode(b"\0" * 16).decode()
    with pytest.raises(AnacondaError, match="HTTP 400: InvalidDigest"):
        client.upload("alice", art.name, art.version, art.basename, art.path,
                      distribution_type="conda", attrs=art.attrs, labels=["main"],
                      sha256=sha, md5_b64=wrong_md5, size=size)
    assert fake.files("alice") == {}


def test_a_race_with_another_publisher_of_the_same_file_is_a_skip(
        fake: FakeAnaconda, tmp_path: Path, fixtures_dir: Path) -> None:
    channel = make_channel(tmp_path / "c", fixtures_dir, conda=())
    arts = collect_artifacts(channel)
    publish_to_anaconda(arts, owner="alice", client=AnacondaClient(TOKEN, fake.api_url))

    class LateClient(AnacondaClient):
        """Sees the files only after its own stage was refused (the other publisher was first)."""

        stage_refused = False

        def distribution(self, *args: Any) -> dict[str, Any] | None:
            return super().distribution(*args) if self.stage_refused else None

        def upload(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            try:
                return super().upload(*args, **kwargs)
            except Conflict:
                self.stage_refused = True
                raise

    outcomes = publish_to_anaconda(arts, owner="alice", client=LateClient(TOKEN, fake.api_url))
    assert [o.action for o in outcomes] == ["skipped", "skipped"]
