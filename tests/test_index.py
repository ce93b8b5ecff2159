"""cwb index: repodata for every artifact, v3.whl, channeldata, cache, lock, crash safety."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rattler
import zstandard
from conda_package_streaming.package_streaming import stream_conda_info

from conda_wheel_bridge.channel.index import index_channel
from conda_wheel_bridge.channel.lock import ChannelLocked, channel_lock
from conda_wheel_bridge.errors import CwbError

from tests.support.channelmaker import make_conda_package

Cwb = Callable[..., tuple[int, str, str]]
REPO = Path(__file__).resolve().parent.parent
PURE = ("six-1.17.0-py2.py3-none-any.whl", "requests-2.32.3-py3-none-any.whl",
        "attrs-25.3.0-py3-none-any.whl")
BINARY = "msgpack-1.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


@pytest.fixture
def channel(tmp_path: Path, fixtures_dir: Path) -> Path:
    """A channel of the real fixture packages (all subdirs) plus real PyPI wheels in noarch/."""
    root = tmp_path / "channel"
    for sub in ("noarch", "linux-64", "osx-64", "osx-arm64", "win-64"):
        shutil.copytree(fixtures_dir / "conda" / sub, root / sub)
    for name in (*PURE, BINARY):
        shutil.copy(fixtures_dir / "wheels" / name, root / "noarch" / name)
    return root


def _python_ok(depends: list[str], version: str) -> bool:
    """Whether the ``python`` dependency in ``depends`` admits ``version``."""
    (spec,) = [rattler.MatchSpec(d) for d in depends if d.split()[0] == "python"]
    return rattler.VersionSpec(str(spec.version)).matches(rattler.Version(version))


def _repodata(root: Path, subdir: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / subdir / "repodata.json").read_bytes())
    return data


def _artifacts(root: Path, subdir: str) -> list[Path]:
    return sorted(p for p in (root / subdir).iterdir()
                  if p.name.endswith((".conda", ".tar.bz2")))


def test_every_conda_artifact_is_listed_with_its_real_hashes(channel: Path) -> None:
    index_channel(channel, simple=False)
    for subdir in ("noarch", "linux-64", "osx-64", "osx-arm64", "win-64"):
        data = _repodata(channel, subdir)
        assert data["info"]["subdir"] == subdir
        assert data["removed"] == [] and data["repodata_version"] == 1
        listed = {**data["packages"], **data["packages.conda"]}
        files = _artifacts(channel, subdir)
        assert set(listed) == {p.name for p in files}
        for path in files:
            record = listed[path.name]
            blob = path.read_bytes()
            assert record["sha256"] == hashlib.sha256(blob).hexdigest()
            assert record["md5"] == hashlib.md5(blob).hexdigest()
            assert record["size"] == len(blob)
            section = "packages.conda" if path.name.endswith(".conda") else "packages"
            assert path.name in data[section]
            assert path.name == f"{record['name']}-{record['version']}-{record['build']}" + (
                ".conda" if path.name.endswith(".conda") else ".tar.bz2")


def test_zst_twin_holds_the_same_repodata(channel: Path) -> None:
    index_channel(channel, simple=False)
    for subdir in ("noarch", "linux-64"):
        raw = (channel / subdir / "repodata.json").read_bytes()
        packed = (channel / subdir / "repodata.json.zst").read_bytes()
        assert zstandard.ZstdDecompressor().decompress(packed, max_output_size=len(raw) * 2) == raw


def test_rattler_and_conda_package_streaming_read_everything_written(channel: Path) -> None:
    index_channel(channel, simple=False)
    for subdir in ("noarch", "linux-64", "osx-64", "osx-arm64", "win-64"):
        path = channel / subdir / "repodata.json"
        data = json.loads(path.read_bytes())
        rattler.RepoData.from_path(path)
        sparse = rattler.SparseRepoData(rattler.Channel(channel.as_uri()), subdir, path)
        loaded = [r for name in sparse.package_names()
                  for r in sparse.load_records(name, rattler.PackageFormatSelection.BOTH)]
        assert len(loaded) == len(data["packages"]) + len(data["packages.conda"])
        for record in loaded:
            # every listed artifact opens with conda-package-streaming and says the same
            fn = str(record.url).rsplit("/", 1)[-1]
            artifact = channel / subdir / fn
            with open(artifact, "rb") as fh:
                for tar, member in stream_conda_info(fn, fh):
                    if member.name == "info/index.json":
                        extracted = tar.extractfile(member)
                        assert extracted is not None
                        index = json.load(extracted)
                        break
            assert index["name"] == record.name.normalized
            assert index["version"] == str(record.version)
            assert record.sha256 is not None
            assert bytes(record.sha256) == hashlib.sha256(artifact.read_bytes()).digest()


def test_pure_wheels_get_v3_whl_records(channel: Path, fixtures_dir: Path) -> None:
    index_channel(channel, simple=False)
    data = _repodata(channel, "noarch")
    whl = data["v3"]["whl"]
    assert {r["fn"] for r in whl.values()} == set(PURE)  # the binary wheel is not in v3.whl
    revision = data["info"]["repodata_revisions"]["v3"]
    assert revision["n_packages"] == len(whl)
    stamps = [r["indexed_timestamp"] for r in whl.values()]
    assert revision["oldest"] == min(stamps) and revision["newest"] == max(stamps)
    six = whl["six-1.17.0-py3_none_any_0"]
    blob = (channel / "noarch" / six["fn"]).read_bytes()
    assert six["sha256"] == hashlib.sha256(blob).hexdigest() and six["size"] == len(blob)
    assert (six["subdir"], six["noarch"], six["build_number"]) == ("noarch", "python", 0)
    assert len(six["depends"]) == 1 and _python_ok(six["depends"], "3.11")
    assert not _python_ok(six["depends"], "3.1") and _python_ok(six["depends"], "2.7")
    requests = whl["requests-2.32.3-py3_none_any_0"]
    assert _python_ok(requests["depends"], "3.8") and not _python_ok(requests["depends"], "3.7")
    assert any(d.startswith("idna ") for d in requests["depends"])
    assert "socks" in requests["extra_depends"]
    # the same fields rattler's own with-wheels fixture carries (plus ours)
    reference = json.loads(
        (fixtures_dir / "repodata" / "rattler__with-wheels_noarch_repodata.json").read_bytes())
    ref_keys = set(next(iter(reference["v3"]["whl"].values())))
    assert ref_keys <= set(six)
    # the classic keys still list every conda artifact, untouched by the wheels
    assert not any(k.endswith(".whl") for k in {**data["packages"], **data["packages.conda"]})


def test_rattler_loads_the_wheel_records_with_working_urls(channel: Path) -> None:
    index_channel(channel, simple=False)
    path = channel / "noarch" / "repodata.json"
    sparse = rattler.SparseRepoData(rattler.Channel("http://example.invalid/ch"), "noarch", path)
    records = sparse.load_records("six", rattler.PackageFormatSelection.PREFER_CONDA_WITH_WHL)
    assert [str(r.url) for r in records] == [
        "http://example.invalid/ch/noarch/six-1.17.0-py2.py3-none-any.whl"]


def test_channeldata_summarises_every_package(channel: Path) -> None:
    index_channel(channel, simple=False)
    data = json.loads((channel / "channeldata.json").read_bytes())
    assert data["channeldata_version"] == 1
    assert data["subdirs"] == ["linux-64", "noarch", "osx-64", "osx-arm64", "win-64"]
    zlib = data["packages"]["zlib"]
    assert zlib["subdirs"] == ["linux-64", "osx-64", "win-64"]
    assert zlib["version"] == "1.2.11"
    assert set(data["packages"]["libzlib"]["subdirs"]) == {"linux-64", "osx-arm64"}


def test_incremental_reads_only_what_changed(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    for i in range(5):
        make_conda_package(root, f"pkg{i}", "1.0")
    first = index_channel(root, simple=False)
    assert first.read == 5
    again = index_channel(root, simple=False)
    assert (again.read, again.reused) == (0, 5)
    make_conda_package(root, "newcomer", "2.0")
    added = index_channel(root, simple=False)
    assert (added.read, added.reused) == (1, 5)
    assert "newcomer-2.0-0.conda" in _repodata(root, "noarch")["packages.conda"]
    # touched but unchanged: re-hashed, facts reused, the indexed timestamp kept
    target = root / "noarch" / "pkg0-1.0-0.conda"
    before = _repodata(root, "noarch")["packages.conda"][target.name]
    os.utime(target, (time.time() + 10, time.time() + 10))
    touched = index_channel(root, simple=False)
    assert touched.read == 1
    assert _repodata(root, "noarch")["packages.conda"][target.name] == before
    target.unlink()
    index_channel(root, simple=False)
    assert target.name not in _repodata(root, "noarch")["packages.conda"]


def test_replaced_file_with_same_name_is_reread(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    path = make_conda_package(root, "pkg", "1.0", depends=["old"])
    index_channel(root, simple=False)
    path.unlink()
    make_conda_package(root, "pkg", "1.0", depends=["new"], timestamp=1_800_000_000_000)
    index_channel(root, simple=False)
    assert _repodata(root, "noarch")["packages.conda"]["pkg-1.0-0.conda"]["depends"] == ["new"]


def test_only_regular_files_count_and_leftovers_go(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    real = make_conda_package(root, "real", "1.0")
    noarch = root / "noarch"
    (noarch / "folder-1.0-0.conda").mkdir()  # a directory named like a package
    (noarch / "dangling-1.0-0.conda").symlink_to(noarch / "nowhere.conda")
    elsewhere = make_conda_package(tmp_path / "store", "linked", "1.0")
    (noarch / elsewhere.name).symlink_to(elsewhere)  # a link to a real package is served
    (noarch / ".repodata.json.abc.part").write_bytes(b"half")  # left by a killed indexer
    report = index_channel(root, simple=False)
    assert set(_repodata(root, "noarch")["packages.conda"]) == {real.name, elsewhere.name}
    assert report.read == 2
    assert not (noarch / ".repodata.json.abc.part").exists()


def test_corrupt_package_fails_cleanly_and_keeps_old_repodata(tmp_path: Path, cwb: Cwb) -> None:
    root = tmp_path / "ch"
    make_conda_package(root, "good", "1.0")
    index_channel(root, simple=False)
    before = (root / "noarch" / "repodata.json").read_bytes()
    bad = root / "noarch" / "broken-1.0-0.conda"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(CwbError) as info:
        index_channel(root, simple=False)
    assert str(bad) in str(info.value)
    assert (root / "noarch" / "repodata.json").read_bytes() == before
    rc, out, err = cwb("index", root)
    assert rc == 1 and out == ""
    assert err.startswith(f"cwb: error: {bad}: ") and err.count("\n") == 1
    assert (root / "noarch" / "repodata.json").read_bytes() == before
    assert not [p for p in (root / "noarch").iterdir() if p.name.endswith(".part")]


def test_a_bad_file_in_one_subdir_writes_no_subdir(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    make_conda_package(root, "old", "1.0", subdir="linux-64")
    make_conda_package(root, "old", "1.0")
    index_channel(root, simple=False)
    before = {s: (root / s / "repodata.json").read_bytes() for s in ("linux-64", "noarch")}
    channeldata = (root / "channeldata.json").read_bytes()
    # linux-64 is read before noarch: its new package must not be published on its own
    make_conda_package(root, "fresh", "1.0", subdir="linux-64")
    bad = root / "noarch" / "broken-1.0-0.conda"
    bad.write_bytes(b"not a package")
    with pytest.raises(CwbError):
        index_channel(root, simple=False)
    assert {s: (root / s / "repodata.json").read_bytes() for s in before} == before
    assert (root / "channeldata.json").read_bytes() == channeldata
    bad.unlink()
    report = index_channel(root, simple=False)
    assert report.read == 0  # fresh was read by the failed run and kept in the cache
    assert "fresh-1.0-0.conda" in _repodata(root, "linux-64")["packages.conda"]
    assert "fresh" in json.loads((root / "channeldata.json").read_bytes())["packages"]


@pytest.mark.parametrize("more", [False, True], ids=["alone", "with-another-new-package"])
@pytest.mark.parametrize("killed_change", ["added", "replaced"])
@pytest.mark.parametrize("dies_at", ["repodata.json.zst", "repodata.json", "channeldata.json"])
def test_a_run_that_dies_before_writing_is_finished_by_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dies_at: str, killed_change: str,
        more: bool) -> None:
    from conda_wheel_bridge import staging

    root = tmp_path / "ch"
    make_conda_package(root, "old", "1.0")
    index_channel(root, simple=False)
    if killed_change == "added":
        make_conda_package(root, "late", "1.0")
    else:  # copied over in place: as many packages as repodata.json lists, one of them new
        make_conda_package(root, "old", "1.0", depends=["newdep"])

    real_write = staging._write

    def write_or_die(target: Path, content: Any, if_changed: bool) -> Path | None:
        if target.name == dies_at:
            raise OSError(f"killed while writing {dies_at}")
        return real_write(target, content, if_changed)

    monkeypatch.setattr(staging, "_write", write_or_die)
    written = {p: p.read_bytes() for p in root.rglob("*.json")}
    with pytest.raises(OSError, match="killed"):
        index_channel(root, simple=False)
    monkeypatch.undo()
    # no output of the killed run was put in place, nor left behind half-written
    assert {p: p.read_bytes() for p in root.rglob("*.json")} == written
    assert not list(root.rglob("*.part"))
    if more:  # the next run's own change must not be all it writes
        make_conda_package(root, "later", "1.0")
    # the cache already holds the killed run's change; the next run must still publish it
    report = index_channel(root, simple=False)
    assert report.read == int(more)
    packages = _repodata(root, "noarch")["packages.conda"]
    if killed_change == "added":
        assert "late-1.0-0.conda" in packages
        assert "late" in json.loads((root / "channeldata.json").read_bytes())["packages"]
    else:
        assert packages["old-1.0-0.conda"]["depends"] == ["newdep"]
    assert ("later-1.0-0.conda" in packages) == more
    raw = zstandard.ZstdDecompressor().decompress(
        (root / "noarch" / "repodata.json.zst").read_bytes(), max_output_size=1 << 24)
    assert raw == (root / "noarch" / "repodata.json").read_bytes()


def test_channeldata_follows_new_and_removed_subdirs(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    make_conda_package(root, "pkg", "1.0")
    index_channel(root, simple=False)
    (root / "linux-64").mkdir()  # an empty subdir is still a subdir of the channel
    index_channel(root, simple=False)
    assert json.loads((root / "channeldata.json").read_bytes())["subdirs"] == [
        "linux-64", "noarch"]
    shutil.rmtree(root / "linux-64")
    index_channel(root, simple=False)
    assert json.loads((root / "channeldata.json").read_bytes())["subdirs"] == ["noarch"]


def test_missing_channel_is_one_clear_error(tmp_path: Path, cwb: Cwb) -> None:
    rc, _, err = cwb("index", tmp_path / "nope")
    assert rc == 1 and err == f"cwb: error: {tmp_path / 'nope'}: not a directory\n"


def test_lock_keeps_a_second_indexer_out(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    make_conda_package(root, "pkg", "1.0")
    with channel_lock(root / ".cwb" / "index.lock"), pytest.raises(ChannelLocked):
        index_channel(root, lock_timeout=0.2)
    assert index_channel(root, lock_timeout=5).subdirs == {"noarch": 1}


def _many(root: Path, n: int, prefix: str = "bulk") -> None:
    for i in range(n):
        make_conda_package(root, f"{prefix}{i}", "1.0", depends=[f"dep{i % 7}"])


def _indexer(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "conda_wheel_bridge", "index", "-q",
                             "--jobs", "1", str(root)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_mid_run_leaves_the_previous_repodata_valid(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    _many(root, 3, prefix="old")
    index_channel(root)
    old = set(_repodata(root, "noarch")["packages.conda"])
    _many(root, 1500)
    # how long a whole run takes here, so that the kills land at moments spread over a run
    probe = tmp_path / "probe"
    shutil.copytree(root, probe)
    start = time.monotonic()
    assert _indexer(probe).wait() == 0
    whole = time.monotonic() - start
    killed_while_running = 0
    for fraction in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9):
        proc = _indexer(root)
        time.sleep(whole * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            killed_while_running += 1
        for name in ("repodata.json", "repodata.json.zst"):
            raw = (root / "noarch" / name).read_bytes()
            if name.endswith(".zst"):
                raw = zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 28)
            listed = set(json.loads(raw)["packages.conda"])
            assert old <= listed  # the old packages are still there
        sparse = rattler.SparseRepoData(rattler.Channel(root.as_uri()), "noarch",
                                        root / "noarch" / "repodata.json")
        assert {"old0", "old1", "old2"} <= set(sparse.package_names())
        # restore the "previous" state for the next round
        shutil.rmtree(root / ".cwb", ignore_errors=True)
    assert killed_while_running >= 3
    report = index_channel(root)
    assert len(_repodata(root, "noarch")["packages.conda"]) == 1503
    assert report.subdirs["noarch"] == 1503
    assert not list(root.rglob(".*.part"))


@pytest.mark.slow
def test_two_concurrent_indexers_leave_one_consistent_result(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    _many(root, 600)
    procs = [_indexer(root), _indexer(root)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    data = _repodata(root, "noarch")
    assert len(data["packages.conda"]) == 600
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".cwb", "repodata*",
                                                               "channeldata.json"))
    index_channel(fresh)
    assert _repodata(fresh, "noarch")["packages.conda"] == data["packages.conda"]
    raw = (root / "noarch" / "repodata.json").read_bytes()
    packed = (root / "noarch" / "repodata.json.zst").read_bytes()
    assert zstandard.ZstdDecompressor().decompress(packed, max_output_size=1 << 28) == raw


def test_worker_processes_give_the_same_repodata(tmp_path: Path) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    _many(serial, 300)
    shutil.copytree(serial, parallel)
    assert index_channel(serial, jobs=1).read == 300
    assert index_channel(parallel, jobs=2).read == 300
    for name in ("repodata.json", "run_exports.json"):
        assert (serial / "noarch" / name).read_bytes() == (parallel / "noarch" / name).read_bytes()
    channeldata = (serial / "channeldata.json").read_bytes()
    assert channeldata == (parallel / "channeldata.json").read_bytes()


def _cold_repodata(root: Path, scratch: Path) -> dict[str, bytes]:
    """Each subdir's repodata.json, and channeldata.json, as a cold index of a copy of
    ``root`` writes them."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(root, scratch, ignore=shutil.ignore_patterns(
        ".cwb", "repodata.json*", "channeldata.json", "run_exports.json"))
    index_channel(scratch, simple=False)
    written = {s: (scratch / s / "repodata.json").read_bytes() for s in ("linux-64", "noarch")
               if (scratch / s).is_dir()}
    return {**written, "channeldata.json": (scratch / "channeldata.json").read_bytes()}


def _written(root: Path) -> dict[str, bytes]:
    return {s: (root / s / "repodata.json").read_bytes() if s != "channeldata.json"
            else (root / s).read_bytes() for s in ("linux-64", "noarch", "channeldata.json")
            if (root / s).exists()}


def _package(root: Path, i: int, subdir: str, *, version: str = "1.0") -> Path:
    from tests.support import condamaker

    return condamaker.make_conda_package(
        root / subdir, f"p{i}", version, build=f"h{i}_0", subdir=subdir, depends=[f"dep{i}"],
        extra_index={"timestamp": 1_700_000_000_000 + i},
        fmt="tar.bz2" if i % 3 == 0 else "conda")


def test_incremental_repodata_is_the_cold_one_and_spliced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from conda_wheel_bridge.channel.cache import IndexCache

    root = tmp_path / "ch"
    rng = random.Random(7)
    present: dict[int, Path] = {}
    for i in range(40):
        present[i] = _package(root, i, rng.choice(["linux-64", "noarch"]))
    index_channel(root, simple=False)
    whole_joins: list[str] = []
    real_fragments, real_names = IndexCache.fragments, IndexCache.name_fragments

    def fragments(self: IndexCache, subdir: str, suffix: str,
                  fns: Any = None) -> list[tuple[str, str]]:
        if fns is None:
            whole_joins.append(f"{subdir}{suffix}")
        return real_fragments(self, subdir, suffix, fns)

    def name_fragments(self: IndexCache) -> list[str]:
        whole_joins.append("channeldata")
        return real_names(self)

    def watch(on: bool) -> None:
        monkeypatch.setattr(IndexCache, "fragments", fragments if on else real_fragments)
        monkeypatch.setattr(IndexCache, "name_fragments", name_fragments if on else real_names)

    watch(True)
    for step in range(12):
        action = step % 4
        if action == 0:  # two new packages
            for i in (100 + 2 * step, 101 + 2 * step):
                present[i] = _package(root, i, rng.choice(["linux-64", "noarch"]))
        elif action == 1:  # one removed
            present.pop(rng.choice(sorted(present))).unlink()
        elif action == 2:  # one copied over in place with other content
            i = rng.choice(sorted(present))
            path = present[i]
            fresh = _package(tmp_path / "elsewhere", i, path.parent.name, version="2.0")
            with open(path, "r+b") as fh:
                fh.truncate(0)
                fh.write(fresh.read_bytes())
            new = path.with_name(fresh.name)
            path.rename(new)  # the name must match the new version
            present[i] = new
        else:  # one touched: same bytes, new mtime
            path = present[rng.choice(sorted(present))]
            os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
        report = index_channel(root, simple=False)
        assert report.read >= 1 or action == 1
        assert whole_joins == [], step  # the change was spliced into the written files
        watch(False)
        cold = _cold_repodata(root, tmp_path / "cold")
        watch(True)
        assert _written(root) == cold, step
        for subdir in ("linux-64", "noarch"):
            assert zstandard.decompress((root / subdir / "repodata.json.zst").read_bytes()) \
                == cold[subdir]


def test_a_repodata_json_changed_by_hand_is_joined_whole(tmp_path: Path) -> None:
    root = tmp_path / "ch"
    for i in range(6):
        _package(root, i, "noarch")
    index_channel(root, simple=False)
    target = root / "noarch" / "repodata.json"
    target.write_text(json.dumps(json.loads(target.read_bytes()), indent=1))  # same content
    channeldata = root / "channeldata.json"
    channeldata.write_text(json.dumps(json.loads(channeldata.read_bytes()), indent=1))
    _package(root, 50, "noarch")
    index_channel(root, simple=False)
    assert _written(root) == _cold_repodata(root, tmp_path / "cold")
    # and a file that keeps its layout's size but not its bytes is caught by its mtime
    for path in (target, channeldata):
        path.write_bytes(path.read_bytes().replace(b'"p1', b'"q1'))
    _package(root, 51, "noarch")
    index_channel(root, simple=False)
    assert _written(root) == _cold_repodata(root, tmp_path / "cold")


def test_channeldata_after_a_killed_run_that_added_and_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conda_wheel_bridge import staging

    root = tmp_path / "ch"
    for name in ("apkg", "mpkg"):
        make_conda_package(root, name, "1.0")
    index_channel(root, simple=False)
    # the killed run: one name goes, one comes, so channeldata keeps its count of names
    (root / "noarch" / "apkg-1.0-0.conda").unlink()
    make_conda_package(root, "zpkg", "1.0")
    real_write = staging._write

    def write_or_die(target: Path, content: Any, if_changed: bool) -> Path | None:
        if target.name == "channeldata.json":
            raise OSError("killed while writing channeldata.json")
        return real_write(target, content, if_changed)

    monkeypatch.setattr(staging, "_write", write_or_die)
    with pytest.raises(OSError, match="killed"):
        index_channel(root, simple=False)
    monkeypatch.undo()
    make_conda_package(root, "later", "1.0")
    index_channel(root, simple=False)
    packages = json.loads((root / "channeldata.json").read_bytes())["packages"]
    assert sorted(packages) == ["later", "mpkg", "zpkg"]
    assert _written(root) == _cold_repodata(root, tmp_path / "cold")


def test_a_package_copied_over_by_one_named_otherwise_inside(tmp_path: Path) -> None:
    from tests.support import condamaker

    root = tmp_path / "ch"
    path = condamaker.make_conda_package(root / "noarch", "oldname", "1.0", fmt="tar.bz2")
    make_conda_package(root, "other", "1.0")
    index_channel(root, simple=False)
    other = condamaker.make_conda_package(tmp_path / "elsewhere", "newname", "1.0",
                                          fmt="tar.bz2")
    path.write_bytes(other.read_bytes())  # the file keeps its name; its index.json does not
    index_channel(root, simple=False)
    packages = json.loads((root / "channeldata.json").read_bytes())["packages"]
    assert sorted(packages) == ["newname", "other"]
    assert _written(root) == _cold_repodata(root, tmp_path / "cold")


def test_a_run_killed_between_the_two_renames_and_then_undone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ch"
    make_conda_package(root, "a", "1.0")
    index_channel(root, simple=False)
    added = make_conda_package(root, "x", "1.0")
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(dst).name == "repodata.json":  # killed after the .zst went into place
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        index_channel(root, simple=False)
    monkeypatch.undo()
    added.unlink()  # the change is undone: repodata.json is right again, its twin is not
    index_channel(root, simple=False)
    body = (root / "noarch" / "repodata.json").read_bytes()
    assert sorted(json.loads(body)["packages.conda"]) == ["a-1.0-0.conda"]
    assert zstandard.decompress((root / "noarch" / "repodata.json.zst").read_bytes()) == body
