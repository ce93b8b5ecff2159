"""The local anaconda.org stand-in answers the protocol the way anaconda-client expects.

These tests speak to it with plain ``requests`` calls shaped like anaconda-client's (paths,
payloads, the multipart storage form with fields before the file), independent of cwb's own
client; the last ones drive the real anaconda-client (its ``anaconda upload`` command and its
library), installed once per checkout into ``.cache/`` from PyPI.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conda_wheel_bridge.channel.anaconda_api import AnacondaClient
from conda_wheel_bridge.channel.publish import collect_artifacts, publish_to_anaconda

from tests.support.anaconda_client import anaconda_client_venv, anaconda_env
from tests.support.anaconda_server import FakeAnaconda

TOKEN = "alice-secret-token"
AUTH = {"Authorization": f"token {TOKEN}"}


@pytest.fixture
def fake() -> Iterator[FakeAnaconda]:
    with FakeAnaconda({"alice": TOKEN, "bob": "bob-token"}, orgs={"team": ["alice"]}) as server:
        yield server


@pytest.fixture
def tzdata(fixtures_dir: Path) -> Path:
    return fixtures_dir / "conda" / "noarch" / "tzdata-2025b-h78e105d_0.conda"


TZ_ATTRS: dict[str, Any] = {
    "name": "tzdata", "version": "2025b", "build": "h78e105d_0", "build_number": 0,
    "subdir": "noarch", "noarch": "generic", "depends": [], "license": "PD",
}
TZ_BASENAME = "noarch/tzdata-2025b-h78e105d_0.conda"


def _create(fake: FakeAnaconda, owner: str = "alice", name: str = "tzdata",
            version: str = "2025b") -> None:
    api = fake.api_url
    assert requests.post(f"{api}/package/{owner}/{name}", headers=AUTH, timeout=10, json={
        "public": True, "publish": False,
        "public_attrs": {"summary": "s", "package_types": ["conda"]}}).status_code == 200
    assert requests.post(f"{api}/release/{owner}/{name}/{version}", headers=AUTH, timeout=10,
                         json={"requirements": [], "announce": None}).status_code == 200


def _stage(fake: FakeAnaconda, data: bytes, *, sha256: str | None = None,
           basename: str = TZ_BASENAME, attrs: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(
        f"{fake.api_url}/stage/alice/tzdata/2025b/{basename}", headers=AUTH, timeout=10,
        json={"distribution_type": "conda", "description": "", "attrs": attrs or TZ_ATTRS,
              "dependencies": {}, "channels": ["main"],
              "sha256": sha256 or hashlib.sha256(data).hexdigest()})


def _storage_post(staged: dict[str, Any], data: bytes, *, md5: str | None = None,
                  extra_headers: dict[str, str] | None = None,
                  override: dict[str, str] | None = None) -> requests.Response:
    fields = dict(staged["form_data"])
    fields["Content-Length"] = str(len(data))
    fields["Content-MD5"] = md5 or base64.b64encode(hashlib.md5(data).digest()).decode()
    fields.update(override or {})
    files = [(k, (None, v)) for k, v in fields.items()] + [("file", ("f", data))]
    return requests.post(staged["post_url"], files=files, headers=extra_headers or {}, timeout=10)


def test_user_endpoint_checks_the_token(fake: FakeAnaconda) -> None:
    assert requests.get(f"{fake.api_url}/user", headers=AUTH, timeout=10).json()["login"] == "alice"
    bad = requests.get(f"{fake.api_url}/user", headers={"Authorization": "token nope"}, timeout=10)
    assert bad.status_code == 401 and "error" in bad.json()
    assert requests.get(f"{fake.api_url}/user", timeout=10).status_code == 401
    assert requests.get(f"{fake.api_url}/user/team", headers=AUTH, timeout=10).status_code == 200
    assert requests.get(f"{fake.api_url}/user/nobody", headers=AUTH, timeout=10).status_code == 404
    assert requests.head(fake.api_url, timeout=10).status_code == 200


def test_whole_upload_then_served_as_a_conda_channel(fake: FakeAnaconda, tzdata: Path) -> None:
    api = fake.api_url
    assert requests.get(f"{api}/package/alice/tzdata", headers=AUTH, timeout=10).status_code == 404
    _create(fake)
    assert requests.get(f"{api}/release/alice/tzdata/2025b", headers=AUTH,
                        timeout=10).json()["distributions"] == []
    assert requests.get(f"{api}/dist/alice/tzdata/2025b/{TZ_BASENAME}", headers=AUTH,
                        timeout=10).status_code == 404
    data = tzdata.read_bytes()
    staged = _stage(fake, data)
    assert staged.status_code == 200
    body = staged.json()
    assert set(body) == {"post_url", "form_data", "dist_id"}
    assert body["post_url"].startswith(fake.storage_url)
    up = _storage_post(body, data)
    assert up.status_code == 201 and "<PostResponse>" in up.text
    commit = requests.post(f"{api}/commit/alice/tzdata/2025b/{TZ_BASENAME}", headers=AUTH,
                           timeout=10, json={"dist_id": body["dist_id"]})
    assert commit.status_code == 200
    dist = requests.get(f"{api}/dist/alice/tzdata/2025b/{TZ_BASENAME}", headers=AUTH,
                        timeout=10).json()
    assert dist["sha256"] == hashlib.sha256(data).hexdigest()
    assert dist["md5"] == hashlib.md5(data).hexdigest() and dist["size"] == len(data)
    assert dist["labels"] == ["main"]
    package = requests.get(f"{api}/package/alice/tzdata", headers=AUTH, timeout=10).json()
    assert [f["basename"] for f in package["files"]] == [TZ_BASENAME]
    assert package["package_types"] == ["conda"]
    repodata = requests.get(f"{fake.channel_url('alice')}/noarch/repodata.json", timeout=10).json()
    record = repodata["packages.conda"]["tzdata-2025b-h78e105d_0.conda"]
    assert record["sha256"] == dist["sha256"] and record["name"] == "tzdata"
    served = requests.get(f"{fake.channel_url('alice')}/{TZ_BASENAME}", timeout=10)
    assert served.content == data
    # nothing under another label, and the empty subdir still has repodata
    other = requests.get(f"{fake.channel_url('alice', 'dev')}/noarch/repodata.json", timeout=10)
    assert other.json()["packages.conda"] == {}
    assert requests.get(f"{fake.channel_url('alice')}/linux-64/repodata.json",
                        timeout=10).json()["packages"] == {}
    # the token never reached the storage location
    assert all(r.authorization is None for r in fake.requests if r.role == "storage")


def test_stage_answers_409_for_an_existing_file_and_404_without_release(
        fake: FakeAnaconda, tzdata: Path) -> None:
    data = tzdata.read_bytes()
    assert _stage(fake, data).status_code == 404  # no package yet
    requests.post(f"{fake.api_url}/package/alice/tzdata", headers=AUTH, timeout=10,
                  json={"public_attrs": {"package_types": ["conda"]}})
    assert _stage(fake, data).status_code == 404  # no release yet
    requests.post(f"{fake.api_url}/release/alice/tzdata/2025b", headers=AUTH, timeout=10, json={})
    staged = _stage(fake, data).json()
    assert _storage_post(staged, data).status_code == 201
    requests.post(f"{fake.api_url}/commit/alice/tzdata/2025b/{TZ_BASENAME}", headers=AUTH,
                  timeout=10, json={"dist_id": staged["dist_id"]})
    again = _stage(fake, data)
    assert again.status_code == 409 and "already exists" in again.json()["error"]


def test_stage_checks_payload_and_basename(fake: FakeAnaconda, tzdata: Path) -> None:
    _create(fake)
    data = tzdata.read_bytes()
    assert _stage(fake, data, sha256="abc").status_code == 400
    wrong = dict(TZ_ATTRS, build="other_0")
    assert _stage(fake, data, attrs=wrong).status_code == 400
    assert _stage(fake, data, basename="linux-64/tzdata-2025b-h78e105d_0.conda").status_code == 400
    other = requests.post(f"{fake.api_url}/stage/bob/tzdata/2025b/{TZ_BASENAME}", headers=AUTH,
                          timeout=10, json={})
    assert other.status_code == 401  # alice cannot write to bob


def test_storage_checks_form_fields_checksum_and_refuses_the_token(
        fake: FakeAnaconda, tzdata: Path) -> None:
    _create(fake)
    data = tzdata.read_bytes()
    staged = _stage(fake, data).json()
    bad_md5 = _storage_post(staged, data, md5=base64.b64encode(b"0" * 16).decode())
    assert bad_md5.status_code == 400 and "<Code>InvalidDigest</Code>" in bad_md5.text
    tampered = _storage_post(staged, data, override={"key": "alice/elsewhere"})
    assert tampered.status_code == 403
    with_token = _storage_post(staged, data, extra_headers=AUTH)
    assert with_token.status_code == 400 and "Authorization" in with_token.text
    short = _storage_post(staged, data, override={"Content-Length": "1"})
    assert short.status_code == 400
    # fields after the file are refused, as S3 ignores them
    fields = dict(staged["form_data"])
    late = [("file", ("f", data))] + [(k, (None, v)) for k, v in fields.items()]
    assert requests.post(staged["post_url"], files=late, timeout=10).status_code == 400
    # nothing was stored, so the commit fails
    commit = requests.post(f"{fake.api_url}/commit/alice/tzdata/2025b/{TZ_BASENAME}",
                           headers=AUTH, timeout=10, json={"dist_id": staged["dist_id"]})
    assert commit.status_code == 400


def test_commit_refuses_bytes_that_do_not_match_the_staged_sha256(
        fake: FakeAnaconda, tzdata: Path) -> None:
    _create(fake)
    data = tzdata.read_bytes()
    staged = _stage(fake, data, sha256="0" * 64).json()
    assert _storage_post(staged, data).status_code == 201
    commit = requests.post(f"{fake.api_url}/commit/alice/tzdata/2025b/{TZ_BASENAME}",
                           headers=AUTH, timeout=10, json={"dist_id": staged["dist_id"]})
    assert commit.status_code == 400 and "sha256" in commit.json()["error"]
    assert fake.files("alice") == {}


def test_deleting_the_last_file_drops_release_and_package(fake: FakeAnaconda, tzdata: Path) -> None:
    _create(fake)
    data = tzdata.read_bytes()
    staged = _stage(fake, data).json()
    _storage_post(staged, data)
    requests.post(f"{fake.api_url}/commit/alice/tzdata/2025b/{TZ_BASENAME}", headers=AUTH,
                  timeout=10, json={"dist_id": staged["dist_id"]})
    gone = requests.delete(f"{fake.api_url}/dist/alice/tzdata/2025b/{TZ_BASENAME}",
                           headers=AUTH, timeout=10)
    assert gone.status_code == 200
    assert fake.dropped_packages == [("alice", "tzdata")]
    assert requests.get(f"{fake.api_url}/package/alice/tzdata", timeout=10).status_code == 404
    assert requests.get(f"{fake.api_url}/release/alice/tzdata/2025b", timeout=10).status_code == 404


def test_labels_and_simple_index(fake: FakeAnaconda, fixtures_dir: Path) -> None:
    wheel = fixtures_dir / "wheels" / "six-1.17.0-py2.py3-none-any.whl"
    data = wheel.read_bytes()
    api = fake.api_url
    requests.post(f"{api}/package/alice/six", headers=AUTH, timeout=10,
                  json={"public_attrs": {"package_types": ["pypi"]}})
    requests.post(f"{api}/release/alice/six/1.17.0", headers=AUTH, timeout=10, json={})
    staged = requests.post(f"{api}/stage/alice/six/1.17.0/{wheel.name}", headers=AUTH, timeout=10,
                           json={"distribution_type": "pypi", "attrs": {}, "channels": ["dev"],
                                 "sha256": hashlib.sha256(data).hexdigest()}).json()
    _storage_post(staged, data)
    requests.post(f"{api}/commit/alice/six/1.17.0/{wheel.name}", headers=AUTH, timeout=10,
                  json={"dist_id": staged["dist_id"]})
    assert requests.get(f"{fake.simple_url('alice')}/six/", timeout=10).status_code == 404
    page = requests.get(f"{fake.simple_url('alice', 'dev')}/six/", timeout=10).text
    assert f"#sha256={hashlib.sha256(data).hexdigest()}" in page
    added = requests.post(f"{api}/channels/alice/main", headers=AUTH, timeout=10,
                          json={"package": "six", "version": "1.17.0", "basename": wheel.name})
    assert added.status_code == 201
    assert requests.get(f"{api}/channels/alice", headers=AUTH, timeout=10).json() == {
        "dev": 1, "main": 1}
    root = requests.get(f"{fake.simple_url('alice')}/", timeout=10).text
    assert 'href="six/"' in root
    href = page.split('href="', 1)[1].split("#", 1)[0]
    served = requests.get(f"{fake.simple_url('alice')}/six/{href}", timeout=10)
    assert served.content == data


def test_injected_failures(fake: FakeAnaconda) -> None:
    fake.fail("GET", r"^/user$", 503, times=2)
    assert requests.get(f"{fake.api_url}/user", headers=AUTH, timeout=10).status_code == 503
    assert requests.get(f"{fake.api_url}/user", headers=AUTH, timeout=10).status_code == 503
    assert requests.get(f"{fake.api_url}/user", headers=AUTH, timeout=10).status_code == 200
    fake.fail("GET", r"^/user$", None)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{fake.api_url}/user", headers=AUTH, timeout=10)
    # "after": the work is done, the answer is lost
    fake.fail("POST", r"^/package/", 500, when="after")
    lost = requests.post(f"{fake.api_url}/package/alice/x", headers=AUTH, timeout=10,
                         json={"public_attrs": {}})
    assert lost.status_code == 500
    assert requests.get(f"{fake.api_url}/package/alice/x", timeout=10).status_code == 200


@pytest.fixture(scope="session")
def anaconda_venv() -> Path:
    return anaconda_client_venv()


def _anaconda(venv: Path, env: dict[str, str],
              *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "anaconda"), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_real_anaconda_upload_command(fake: FakeAnaconda, anaconda_venv: Path, tmp_path: Path,
                                      tzdata: Path, fixtures_dir: Path) -> None:
    """``anaconda upload`` itself publishes to the stand-in, then cwb sees the same files."""
    wheel = fixtures_dir / "wheels" / "six-1.17.0-py2.py3-none-any.whl"
    env = anaconda_env(tmp_path / "cfg", fake.api_url, TOKEN)
    for path in (tzdata, wheel):
        done = _anaconda(anaconda_venv, env, "upload", "--no-progress", path)
        assert done.returncode == 0, done.stdout + done.stderr
    files = fake.files("alice")
    assert files[TZ_BASENAME]["sha256"] == hashlib.sha256(tzdata.read_bytes()).hexdigest()
    assert files[wheel.name]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert files[TZ_BASENAME]["labels"] == ["main"]
    repodata = requests.get(f"{fake.channel_url('alice')}/noarch/repodata.json", timeout=10).json()
    assert repodata["packages.conda"]["tzdata-2025b-h78e105d_0.conda"]["version"] == "2025b"
    assert wheel.name in requests.get(f"{fake.simple_url('alice')}/six/", timeout=10).text
    again = _anaconda(anaconda_venv, env, "upload", "--no-progress", tzdata)
    assert again.returncode != 0 and "already exists" in again.stdout + again.stderr
    skip = _anaconda(anaconda_venv, env, "upload", "--no-progress", "--skip-existing", tzdata)
    assert skip.returncode == 0, skip.stdout + skip.stderr
    refused = _anaconda(anaconda_venv, anaconda_env(tmp_path / "cfg2", fake.api_url, "nope"),
                        "upload", "--no-progress", wheel)
    assert refused.returncode != 0 and "nope" not in refused.stdout
    # cwb recognises what anaconda-client uploaded: same packages, releases and basenames
    channel = tmp_path / "channel"
    (channel / "noarch").mkdir(parents=True)
    for path in (tzdata, wheel):
        shutil.copyfile(path, channel / "noarch" / path.name)
    outcomes = publish_to_anaconda(collect_artifacts(channel), owner="alice",
                                   client=AnacondaClient(TOKEN, fake.api_url))
    assert [o.action for o in outcomes] == ["skipped", "skipped"]


@pytest.mark.slow
def test_real_anaconda_client_library(fake: FakeAnaconda, anaconda_venv: Path,
                                      tzdata: Path) -> None:
    """binstar_client's API calls (as used by other tools) get the answers they expect."""
    script = f"""
import json, sys
import binstar_client
from binstar_client import errors
api = binstar_client.Binstar(token={TOKEN!r}, domain={fake.api_url!r})
api.check_server()
out = {{"login": api.user()["login"]}}
try:
    api.package("alice", "tzdata")
except errors.NotFound:
    out["missing"] = True
api.add_package("alice", "tzdata", summary="time zones", license="PD")
api.add_release("alice", "tzdata", "2025b", [], None, {{}})
with open({str(tzdata)!r}, "rb") as fh:
    api.upload("alice", "tzdata", "2025b", {TZ_BASENAME!r}, fh, "conda", attrs={TZ_ATTRS!r},
               channels=["main", "dev"])
out["sha256"] = api.distribution("alice", "tzdata", "2025b", {TZ_BASENAME!r})["sha256"]
try:
    with open({str(tzdata)!r}, "rb") as fh:
        api.upload("alice", "tzdata", "2025b", {TZ_BASENAME!r}, fh, "conda", attrs={TZ_ATTRS!r})
except errors.Conflict:
    out["conflict"] = True
out["channels"] = api.list_channels("alice")
try:
    binstar_client.Binstar(token="nope", domain={fake.api_url!r}).user()
except errors.Unauthorized:
    out["unauthorized"] = True
api.remove_dist("alice", "tzdata", "2025b", basename={TZ_BASENAME!r})
json.dump(out, sys.stdout)
"""
    done = subprocess.run([str(anaconda_venv / "bin" / "python"), "-c", script],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"login": "alice", "missing": True, "conflict": True, "unauthorized": True,
                   "sha256": hashlib.sha256(tzdata.read_bytes()).hexdigest(),
                   "channels": {"main": 1, "dev": 1}}
    assert fake.dropped_packages == [("alice", "tzdata")]
