"""Publishing to anaconda.org's protocol: planning, upload, skip, resume, --force, retries, secrecy.

Every test runs against the local stand-in (tests/support/anaconda_server.py) with real fixture
packages and wheels.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conda_wheel_bridge.channel.anaconda_api import (
    AnacondaClient,
    AuthError,
    Conflict,
    NotFound,
    ServerError,
)
from conda_wheel_bridge.channel.artifact import read_conda_facts
from conda_wheel_bridge.channel.publish import (
    KEEP_LABEL,
    collect_artifacts,
    publish_to_anaconda,
    validate_label,
    validate_owner,
)
from conda_wheel_bridge.errors import BadArchive, BadMetadata, CwbError

from tests.support.anaconda_server import FakeAnaconda, iter_requests
from tests.support.condamaker import file_member, write_package
from tests.support.fixture_channel import make_channel
from tests.support.wheelmaker import make_wheel

TOKEN = "s3cr3t-T0KEN-alice-4f9a"


@pytest.fixture
def fake() -> Iterator[FakeAnaconda]:
    with FakeAnaconda({"alice": TOKEN}, orgs={"team": ["alice"]}) as server:
        yield server


@pytest.fixture
def channel(tmp_path: Path, fixtures_dir: Path) -> Path:
    return make_channel(tmp_path / "channel", fixtures_dir)


def _client(fake: FakeAnaconda, token: str = TOKEN) -> AnacondaClient:
    return AnacondaClient(token, fake.api_url, backoff=0)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_collect_reads_conda_packages_and_wheels(channel: Path) -> None:
    arts = {a.basename: a for a in collect_artifacts(channel)}
    assert sorted(arts) == [
        "attrs-25.3.0-py3-none-any.whl",
        "linux-64/_libgcc_mutex-0.1-conda_forge.tar.bz2",
        "noarch/ca-certificates-2025.11.12-hbd8a1cb_0.conda",
        "noarch/small-executable-1.0-0.conda",
        "noarch/tzdata-2025b-h78e105d_0.conda",
        "six-1.17.0-py2.py3-none-any.whl",
    ]
    tz = arts["noarch/tzdata-2025b-h78e105d_0.conda"]
    assert (tz.kind, tz.name, tz.version, tz.attrs["subdir"]) == ("conda", "tzdata", "2025b",
                                                                 "noarch")
    six = arts["six-1.17.0-py2.py3-none-any.whl"]
    assert (six.kind, six.name, six.version) == ("pypi", "six", "1.17.0")
    assert six.attrs["packagetype"] == "bdist_wheel"


def test_collect_refuses_a_misnamed_package_and_a_bad_wheel(channel: Path) -> None:
    bz2 = channel / "linux-64" / "_libgcc_mutex-0.1-conda_forge.tar.bz2"
    renamed = bz2.with_name("_libgcc_mutex-0.2-conda_forge.tar.bz2")
    shutil.copyfile(bz2, renamed)
    with pytest.raises(BadMetadata, match=r"0\.2-conda_forge\.tar\.bz2: file name is not"):
        collect_artifacts(channel)
    renamed.unlink()
    src = channel / "noarch" / "tzdata-2025b-h78e105d_0.conda"
    shutil.copyfile(src, channel / "noarch" / "tzdata-2025c-h78e105d_0.conda")
    with pytest.raises(BadArchive, match=r"tzdata-2025c-h78e105d_0\.conda: cannot read"):
        collect_artifacts(channel)  # a renamed .conda no longer finds its inner info archive
    (channel / "noarch" / "tzdata-2025c-h78e105d_0.conda").unlink()
    (channel / "noarch" / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(BadArchive, match=r"broken-1\.0-py3-none-any\.whl"):
        collect_artifacts(channel)
    (channel / "noarch" / "broken-1.0-py3-none-any.whl").unlink()
    shutil.copyfile(src, channel / "linux-64" / src.name)  # noarch package in linux-64/
    with pytest.raises(BadMetadata, match="subdir 'noarch' but folder linux-64/"):
        collect_artifacts(channel)


def test_collect_reads_conda_info_through_the_index_reader_without_hashing(channel: Path) -> None:
    for art in (a for a in collect_artifacts(channel) if a.kind == "conda"):
        record = read_conda_facts(art.path)["record"]
        for key in ("md5", "sha256", "size"):  # publish hashes each file just before its upload
            assert key in record and key not in art.attrs
            del record[key]
        assert dict(art.attrs) == record
        assert read_conda_facts(art.path, hashes=False)["record"] == record


def _one_line_naming(error: pytest.ExceptionInfo[CwbError], path: Path) -> str:
    text = str(error.value)
    assert "\n" not in text and text.startswith(f"{path}: ")
    return text


@pytest.mark.parametrize("fmt", ["conda", "tar.bz2"])
def test_a_truncated_conda_package_is_one_line_naming_it(tmp_path: Path, fmt: str) -> None:
    good = tmp_path / "good"
    path = write_package(good / "noarch" / f"cut-1.0-0.{fmt}",
                         [file_member("info/index.json", b'{"name": "cut", "version": "1.0", '
                                      b'"build": "0", "subdir": "noarch"}')],
                         [file_member("cut/data.bin", bytes(range(256)) * 64)])
    assert [a.name for a in collect_artifacts(good)] == ["cut"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BadArchive) as info:
        collect_artifacts(good)
    assert "cannot" in _one_line_naming(info, path)


@pytest.mark.parametrize(("member", "data", "reason"), [
    ("info/about.json", b'["not", "an", "object"]', "info/about.json is not a JSON object"),
    ("info/index.json", b'{"name": "bad",', "info/index.json is not valid JSON"),
    ("info/index.json", b'{"name": "bad", "version": "1.0"}', "info/index.json has no 'build'"),
])
def test_malformed_conda_info_is_one_line_naming_the_package(
        tmp_path: Path, member: str, data: bytes, reason: str) -> None:
    index = b'{"name": "bad", "version": "1.0", "build": "0", "subdir": "noarch"}'
    info_files = {"info/index.json": index, "info/about.json": b"{}", member: data}
    path = write_package(tmp_path / "c" / "noarch" / "bad-1.0-0.conda",
                         [file_member(k, v) for k, v in info_files.items()], [])
    with pytest.raises(BadMetadata) as info:
        collect_artifacts(tmp_path / "c")
    assert reason in _one_line_naming(info, path)


def test_wheels_are_read_by_the_shared_validating_reader(tmp_path: Path) -> None:
    channel = tmp_path / "c"
    made = make_wheel(channel / "wheels", "Tiny-Pkg", "2.0", tag="py3-none-manylinux_2_17_x86_64",
                      build_tag="3", license_expression="MIT",
                      extra_metadata=["Summary: a tiny package"])
    [art] = collect_artifacts(channel)
    assert (art.path, art.kind, art.name, art.version, art.basename) == (
        made, "pypi", "tiny-pkg", "2.0", made.name)
    assert (art.summary, art.license) == ("a tiny package", "MIT")
    assert art.attrs == {"build_no": "3", "python_version": "py3", "abi": None,
                         "platform": "manylinux_2_17_x86_64", "packagetype": "bdist_wheel"}


@pytest.mark.parametrize(("name", "error", "reason"), [
    ("six-1.18.0-py2.py3-none-any.whl", BadMetadata, "METADATA Version 1.17.0 does not match"),
    ("other-1.17.0-py2.py3-none-any.whl", BadArchive, "does not match the project name"),
    ("six-notaversion-py2.py3-none-any.whl", BadArchive, "invalid version 'notaversion'"),
    ("six-1.17.0-py3-any.whl", BadArchive, "not 5 to 7"),
])
def test_a_wheel_that_contradicts_its_file_name_is_one_line_naming_it(
        tmp_path: Path, fixtures_dir: Path, name: str, error: type[CwbError], reason: str) -> None:
    channel = tmp_path / "c"
    (channel / "wheels").mkdir(parents=True)
    path = channel / "wheels" / name
    shutil.copyfile(fixtures_dir / "wheels" / "six-1.17.0-py2.py3-none-any.whl", path)
    with pytest.raises(error) as info:
        collect_artifacts(channel)
    assert reason in _one_line_naming(info, path)


@pytest.mark.parametrize("owner", ["", "a b", "-x", "x/y", "é"])
def test_owner_names_are_checked(owner: str) -> None:
    with pytest.raises(CwbError):
        validate_owner(owner)


@pytest.mark.parametrize("label", ["", "a/b", "dev label", KEEP_LABEL, ".hidden"])
def test_labels_are_checked(label: str) -> None:
    with pytest.raises(CwbError):
        validate_label(label)
    assert validate_label("rc-1.0_x") == "rc-1.0_x"


def test_bad_label_is_refused_before_any_request(fake: FakeAnaconda, channel: Path) -> None:
    with pytest.raises(CwbError, match="label"):
        publish_to_anaconda(collect_artifacts(channel), owner="alice", client=_client(fake),
                            labels=["no/slash"])
    assert fake.requests == []


def test_publish_uploads_everything_then_skips_it(fake: FakeAnaconda, channel: Path) -> None:
    arts = collect_artifacts(channel)
    outcomes = publish_to_anaconda(arts, owner="alice", client=_client(fake))
    assert [o.action for o in outcomes] == ["uploaded"] * len(arts)
    files = fake.files("alice")
    assert sorted(files) == sorted(a.basename for a in arts)
    for art in arts:
        assert fake.content("alice", art.name, art.basename) == art.path.read_bytes()
        assert files[art.basename]["labels"] == ["main"]
    stages = sum(1 for r in iter_requests(fake, "api") if r.path.startswith("/stage/"))
    again = publish_to_anaconda(arts, owner="alice", client=_client(fake))
    assert [o.action for o in again] == ["skipped"] * len(arts)
    assert stages == sum(1 for r in iter_requests(fake, "api") if r.path.startswith("/stage/"))


def test_new_label_is_added_to_files_already_there(fake: FakeAnaconda, channel: Path) -> None:
    arts = collect_artifacts(channel)
    publish_to_anaconda(arts, owner="alice", client=_client(fake))
    outcomes = publish_to_anaconda(arts, owner="alice", client=_client(fake),
                                   labels=["main", "rc"])
    assert {o.action for o in outcomes} == {"labelled"}
    assert all(f["labels"] == ["main", "rc"] for f in fake.files("alice").values())


def test_publish_to_an_organisation(fake: FakeAnaconda, channel: Path) -> None:
    arts = collect_artifacts(channel)[:1]
    publish_to_anaconda(arts, owner="team", client=_client(fake))
    assert list(fake.files("team")) == [arts[0].basename]
    with pytest.raises(NotFound, match="owner nobody: no such user"):
        publish_to_anaconda(arts, owner="nobody", client=_client(fake))


def test_5xx_and_dropped_connections_are_retried(fake: FakeAnaconda, channel: Path) -> None:
    fake.fail("POST", r"^/stage/", 503, times=2)
    fake.fail("POST", r"^/fake-bucket", 502, role="storage")
    fake.fail("POST", r"^/commit/", None)  # connection dropped without an answer
    arts = collect_artifacts(channel)
    outcomes = publish_to_anaconda(arts, owner="alice", client=_client(fake))
    assert {o.action for o in outcomes} == {"uploaded"}
    assert all(f.hits == f.times for f in fake.failures)
    assert len(fake.files("alice")) == len(arts)


def test_a_lost_commit_answer_counts_as_done(fake: FakeAnaconda, channel: Path) -> None:
    fake.fail("POST", r"^/commit/", 500, when="after")  # committed, then the answer is lost
    arts = collect_artifacts(channel)
    outcomes = publish_to_anaconda(arts, owner="alice", client=_client(fake))
    assert {o.action for o in outcomes} == {"uploaded"}
    assert fake.failures[0].hits == 1
    assert len(fake.files("alice")) == len(arts)


def test_interrupted_publish_finishes_when_run_again(fake: FakeAnaconda, channel: Path) -> None:
    arts = collect_artifacts(channel)
    third = arts[2]
    fake.fail("POST", "^/commit/.*" + third.basename.replace(".", r"\.") + "$", 500, times=99)
    done: list[str] = []
    with pytest.raises(ServerError, match="HTTP 500"):
        publish_to_anaconda(arts, owner="alice", client=_client(fake),
                            report=lambda o: done.append(o.artifact.basename))
    assert done == [a.basename for a in arts[:2]]
    assert sorted(fake.files("alice")) == sorted(done)
    fake.clear_failures()
    outcomes = publish_to_anaconda(arts, owner="alice", client=_client(fake))
    assert [o.action for o in outcomes] == ["skipped"] * 2 + ["uploaded"] * (len(arts) - 2)
    assert sorted(fake.files("alice")) == sorted(a.basename for a in arts)
    for art in arts:
        assert fake.content("alice", art.name, art.basename) == art.path.read_bytes()


def _rebuild_wheel_with_other_bytes(path: Path) -> None:
    """Same file name, different content (an extra archive comment)."""
    import zipfile

    with zipfile.ZipFile(path, "a") as zf:
        zf.comment = b"rebuilt"


def test_different_content_without_force_is_a_conflict(fake: FakeAnaconda, channel: Path) -> None:
    wheel = channel / "noarch" / "six-1.17.0-py2.py3-none-any.whl"
    arts = [a for a in collect_artifacts(channel) if a.path == wheel]
    publish_to_anaconda(arts, owner="alice", client=_client(fake))
    before = fake.content("alice", "six", wheel.name)
    _rebuild_wheel_with_other_bytes(wheel)
    with pytest.raises(Conflict, match="pass --force to replace it"):
        publish_to_anaconda(arts, owner="alice", client=_client(fake))
    assert fake.content("alice", "six", wheel.name) == before


def test_force_replaces_the_only_file_without_dropping_the_package(
        fake: FakeAnaconda, channel: Path) -> None:
    wheel = channel / "noarch" / "six-1.17.0-py2.py3-none-any.whl"
    arts = [a for a in collect_artifacts(channel) if a.path == wheel]
    publish_to_anaconda(arts, owner="alice", client=_client(fake))
    package_id = fake.state.packages[("alice", "six")]["id"]
    _rebuild_wheel_with_other_bytes(wheel)
    outcomes = publish_to_anaconda(arts, owner="alice", client=_client(fake), force=True)
    assert [o.action for o in outcomes] == ["replaced"]
    assert fake.content("alice", "six", wheel.name) == wheel.read_bytes()
    assert fake.dropped_packages == []
    assert fake.state.packages[("alice", "six")]["id"] == package_id
    counts = fake.file_counts[("alice", "six")]
    assert min(counts[counts.index(1):]) >= 1  # never without a file once it had one
    assert list(fake.files("alice", "six")) == [wheel.name]  # the keeper is gone
    # the keeper was never visible under the published label
    keepers = [r.path for r in iter_requests(fake, "api") if "0cwbkeep" in r.path]
    assert keepers and all(KEEP_LABEL not in f["labels"] for f in fake.files("alice").values())


def test_force_with_other_files_in_the_package_needs_no_keeper(
        fake: FakeAnaconda, tmp_path: Path, fixtures_dir: Path) -> None:
    channel = make_channel(tmp_path / "c", fixtures_dir, conda=(), wheels=())
    (channel / "noarch").mkdir(parents=True)
    for name in ("msgpack-1.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                 "msgpack-1.1.0-cp311-cp311-win_amd64.whl"):
        shutil.copyfile(fixtures_dir / "wheels" / name, channel / "noarch" / name)
    arts = collect_artifacts(channel)
    publish_to_anaconda(arts, owner="alice", client=_client(fake))
    _rebuild_wheel_with_other_bytes(arts[0].path)
    outcomes = publish_to_anaconda(arts, owner="alice", client=_client(fake), force=True)
    assert [o.action for o in outcomes] == ["replaced", "skipped"]
    assert not any("cwbkeep" in r.path for r in iter_requests(fake, "api"))
    assert fake.dropped_packages == []
    assert _sha(arts[0].path) == fake.files("alice", "msgpack")[arts[0].basename]["sha256"]


def test_a_keeper_left_by_an_interrupted_force_is_cleaned_up(
        fake: FakeAnaconda, channel: Path) -> None:
    wheel = channel / "noarch" / "six-1.17.0-py2.py3-none-any.whl"
    arts = [a for a in collect_artifacts(channel) if a.path == wheel]
    publish_to_anaconda(arts, owner="alice", client=_client(fake))
    _rebuild_wheel_with_other_bytes(wheel)
    # the upload of the replacement fails after the old file was removed
    fake.fail("POST", r"^/stage/alice/six/1\.17\.0/six-1\.17\.0-py2", 500, times=99)
    with pytest.raises(ServerError):
        publish_to_anaconda(arts, owner="alice", client=_client(fake), force=True)
    assert fake.dropped_packages == []
    assert list(fake.files("alice", "six")) == ["six-1.17.0-0cwbkeep-py2.py3-none-any.whl"]
    fake.clear_failures()
    outcomes = publish_to_anaconda(arts, owner="alice", client=_client(fake), force=True)
    assert [o.action for o in outcomes] == ["uploaded"]
    assert list(fake.files("alice", "six")) == [wheel.name]


def test_bad_token_is_one_clear_error_without_the_token(
        fake: FakeAnaconda, channel: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "wrong-" + TOKEN
    client = _client(fake, bad)
    assert bad not in repr(client) and TOKEN not in repr(client)
    with pytest.raises(AuthError) as info:
        publish_to_anaconda(collect_artifacts(channel), owner="alice", client=client)
    text = str(info.value)
    assert "401" in text and "ANACONDA_API_TOKEN" in text and "\n" not in text
    for shown in (text, repr(info.value), caplog.text):
        assert bad not in shown
    assert fake.files("alice") == {}


def test_token_echoed_by_a_server_error_is_redacted(
        fake: FakeAnaconda, channel: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail("POST", r"^/stage/", 500, times=99, body=f"backend choked on token {TOKEN}")
    with pytest.raises(ServerError) as info:
        publish_to_anaconda(collect_artifacts(channel), owner="alice", client=_client(fake))
    assert "backend choked on token ***" in str(info.value)
    for shown in (str(info.value), repr(info.value), caplog.text, repr(info.value.__context__)):
        assert TOKEN not in shown
    # the token only ever travelled to the API, in the Authorization header
    assert {r.authorization for r in iter_requests(fake, "api")} == {f"token {TOKEN}"}
    assert {r.authorization for r in iter_requests(fake, "storage")} <= {None}


def test_malformed_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(AuthError) as info:
        AnacondaClient("abc\ndef", "http://127.0.0.1:9")
    assert "abc" not in str(info.value)


def test_unreachable_server_is_a_server_error() -> None:
    client = AnacondaClient(TOKEN, "http://127.0.0.1:9", retries=1, backoff=0, timeout=2)
    with pytest.raises(ServerError, match="cannot reach the server") as info:
        client.check_token()
    assert info.value.__suppress_context__  # the request (and its headers) is not shown
    assert TOKEN not in str(info.value) + repr(info.value) + repr(info.value.__context__)


def test_force_on_a_conda_package_uses_a_valid_conda_keeper(
        fake: FakeAnaconda, channel: Path) -> None:
    art = next(a for a in collect_artifacts(channel) if a.name == "tzdata")
    client = _client(fake)
    # the server holds other bytes under the same name (an older build of the same file)
    old = channel.parent / "old.conda"
    old.write_bytes(b"an older tzdata build")
    from conda_wheel_bridge.channel.anaconda_api import file_digests

    client.add_package("alice", "tzdata", summary="tz", license=None, package_type="conda")
    client.add_release("alice", "tzdata", "2025b", summary="tz")
    sha, md5, size = file_digests(old)
    client.upload("alice", "tzdata", "2025b", art.basename, old, distribution_type="conda",
                  attrs=art.attrs, labels=["main"], sha256=sha, md5_b64=md5, size=size)
    outcomes = publish_to_anaconda([art], owner="alice", client=client, force=True)
    assert [o.action for o in outcomes] == ["replaced"]
    assert fake.content("alice", "tzdata", art.basename) == art.path.read_bytes()
    assert fake.dropped_packages == []
    staged = [r.path for r in iter_requests(fake, "api") if r.path.startswith("/stage/")]
    assert "/stage/alice/tzdata/2025b/noarch/tzdata-2025b-h78e105d_0_cwbkeep.conda" in staged
    assert list(fake.files("alice", "tzdata")) == [art.basename]


def test_netrc_credentials_are_never_applied(fake: FakeAnaconda, channel: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    arts = collect_artifacts(channel)[:2]
    assert {o.action for o in publish_to_anaconda(arts, owner="alice", client=_client(fake))} == {
        "uploaded"}
    assert {r.authorization for r in iter_requests(fake, "api")} == {f"token {TOKEN}"}
    assert {r.authorization for r in iter_requests(fake, "storage")} == {None}


def test_force_interrupted_after_the_keeper_was_uploaded(fake: FakeAnaconda, channel: Path) -> None:
    wheel = channel / "noarch" / "six-1.17.0-py2.py3-none-any.whl"
    arts = [a for a in collect_artifacts(channel) if a.path == wheel]
    publish_to_anaconda(arts, owner="alice", client=_client(fake))
    _rebuild_wheel_with_other_bytes(wheel)
    fake.fail("DELETE", r"^/dist/alice/six/1\.17\.0/six-1\.17\.0-py2", 500, times=99)
    with pytest.raises(ServerError):
        publish_to_anaconda(arts, owner="alice", client=_client(fake), force=True)
    assert sorted(fake.files("alice", "six")) == [
        "six-1.17.0-0cwbkeep-py2.py3-none-any.whl", wheel.name]
    fake.clear_failures()
    outcomes = publish_to_anaconda(arts, owner="alice", client=_client(fake), force=True)
    assert [o.action for o in outcomes] == ["replaced"]
    assert list(fake.files("alice", "six")) == [wheel.name]
    assert fake.content("alice", "six", wheel.name) == wheel.read_bytes()
    assert fake.dropped_packages == []


@pytest.mark.parametrize("basename", [
    "six-1.17.0-py2.py3-none-any.whl",
    "six-1.17.0-1-py2.py3-none-any.whl",
    "gpukit-1.0-py3-none-any-cu128.whl",
    "gpukit-1.0-2-py3-none-any-cu128.whl",
])
def test_a_wheel_keeper_keeps_tags_and_variant_label(basename: str) -> None:
    from conda_wheel_bridge.channel.publish import Artifact, _keeper
    from conda_wheel_bridge.wheelname import parse_wheel_filename

    keeper, attrs = _keeper(Artifact(Path(basename), "pypi", "x", "1", basename))
    original, kept = parse_wheel_filename(basename), parse_wheel_filename(keeper)
    assert keeper != basename and kept.build == "0cwbkeep" == attrs["build_no"]
    assert (kept.name, kept.version, kept.tags, kept.variant_label) == (
        original.name, original.version, original.tags, original.variant_label)
