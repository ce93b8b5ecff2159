"""Static publishing: a reader of the destination never sees an index naming a missing file."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

import pytest
import rattler
import zstandard

from conda_wheel_bridge.channel.index import index_channel
from conda_wheel_bridge.channel.publish_static import (
    StaticCopy,
    destination_path,
    plan_static,
    publish_static,
)
from conda_wheel_bridge.errors import CwbError

from tests.support.fixture_channel import make_channel


def dangling(dest: Path) -> list[str]:
    """Files an index at ``dest`` names that are not there (what a reader would trip on)."""
    missing = []
    for index in sorted(dest.glob("*/repodata.json*")):
        if index.suffix not in (".json", ".zst"):
            continue
        raw = index.read_bytes()
        data = json.loads(zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 26)
                          if index.suffix == ".zst" else raw)
        names = [*data.get("packages", {}), *data.get("packages.conda", {})]
        names += [r.get("url") or r["fn"] for r in data.get("v3", {}).get("whl", {}).values()]
        missing += [f"{index.parent.name}/{n}" for n in names if not (index.parent / n).is_file()]
    for page in sorted(dest.glob("simple/**/index.html")):
        for href in re.findall(r'href="([^"#]+)', page.read_text()):
            target = page.parent / href
            if not (target.is_file() or (target / "index.html").is_file()):
                missing.append(f"{page.relative_to(dest)} -> {href}")
    return missing


@pytest.fixture
def channel(tmp_path: Path, fixtures_dir: Path) -> Path:
    ch = make_channel(tmp_path / "channel", fixtures_dir)
    index_channel(ch)
    return ch


def _publish_checked(channel: Path, dest: Path) -> list[StaticCopy]:
    seen: list[list[str]] = []

    def check(step: StaticCopy) -> None:
        seen.append(dangling(dest))

    steps = publish_static(channel, dest, on_step=check)
    assert len(seen) == len(steps)
    assert all(problems == [] for problems in seen), next(p for p in seen if p)
    return steps


def test_the_checker_sees_an_index_copied_too_early(channel: Path, tmp_path: Path) -> None:
    dest = tmp_path / "naive"
    (dest / "noarch").mkdir(parents=True)
    shutil.copyfile(channel / "noarch" / "repodata.json", dest / "noarch" / "repodata.json")
    assert "noarch/tzdata-2025b-h78e105d_0.conda" in dangling(dest)


def test_every_step_of_a_publish_leaves_a_consistent_channel(channel: Path, tmp_path: Path,
                                                             fixtures_dir: Path) -> None:
    dest = tmp_path / "www" / "channel"
    steps = _publish_checked(channel, dest)
    kinds = [s.index for s in steps]
    assert kinds == sorted(kinds)  # every payload file before every index
    assert {s.relpath for s in steps[-2:]} == {"simple/index.html", "simple/index.json"}
    published = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    source = {p.relative_to(channel).as_posix() for p in channel.rglob("*")
              if p.is_file() and not p.relative_to(channel).as_posix().startswith(".")}
    assert published == source
    assert not any(p.name.endswith(".part") for p in dest.rglob("*"))
    # a second version of the channel, published over the first
    shutil.copyfile(fixtures_dir / "wheels" / "idna-3.10-py3-none-any.whl",
                    channel / "noarch" / "idna-3.10-py3-none-any.whl")
    shutil.copyfile(fixtures_dir / "conda" / "linux-64" / "libffi-3.4.2-h7f98852_5.tar.bz2",
                    channel / "linux-64" / "libffi-3.4.2-h7f98852_5.tar.bz2")
    index_channel(channel)
    again = _publish_checked(channel, dest)
    copied = {s.relpath for s in again if s.copied}
    assert "noarch/idna-3.10-py3-none-any.whl" in copied
    assert "linux-64/libffi-3.4.2-h7f98852_5.tar.bz2" in copied
    assert "noarch/tzdata-2025b-h78e105d_0.conda" not in copied  # unchanged: left alone
    assert json.loads((dest / "linux-64" / "repodata.json").read_text())["packages"].keys() == {
        "_libgcc_mutex-0.1-conda_forge.tar.bz2", "libffi-3.4.2-h7f98852_5.tar.bz2"}


def test_an_unindexed_channel_is_indexed_first(tmp_path: Path, fixtures_dir: Path) -> None:
    channel = make_channel(tmp_path / "raw", fixtures_dir)
    dest = tmp_path / "out"
    publish_static(channel, dest.as_uri())
    assert (channel / "noarch" / "repodata.json").is_file()
    listed = json.loads((dest / "noarch" / "repodata.json").read_text())["packages.conda"]
    assert "tzdata-2025b-h78e105d_0.conda" in listed
    assert dangling(dest) == []


def test_dry_run_copies_nothing(channel: Path, tmp_path: Path) -> None:
    steps = publish_static(channel, tmp_path / "out", dry_run=True)
    assert steps and all(s.copied for s in steps)
    assert not (tmp_path / "out").exists()
    assert [s.relpath for s in steps] == [r for r, _ in plan_static(channel)]


def test_destinations(channel: Path, tmp_path: Path) -> None:
    assert destination_path("file:///srv/my%20channel") == Path("/srv/my channel")
    assert destination_path(tmp_path) == tmp_path
    with pytest.raises(CwbError, match="s3://"):
        destination_path("s3://bucket/channel")
    with pytest.raises(CwbError, match="another host"):
        destination_path("file://server/share")
    with pytest.raises(CwbError, match="inside the channel"):
        publish_static(channel, channel / "mirror")


def test_rattler_installs_from_the_published_static_channel(channel: Path, tmp_path: Path) -> None:
    dest = tmp_path / "static"
    publish_static(channel, dest)

    async def go() -> list[str]:
        records = await rattler.solve(
            sources=[rattler.Channel(dest.as_uri())], specs=["tzdata", "_libgcc_mutex"],
            platforms=["linux-64", "noarch"],
            virtual_packages=[], gateway=rattler.Gateway(cache_dir=tmp_path / "cache"))
        await rattler.install(records, target_prefix=tmp_path / "prefix",
                              cache_dir=tmp_path / "pkgs", show_progress=False)
        return sorted(r.name.normalized for r in records)

    assert asyncio.run(go()) == ["_libgcc_mutex", "tzdata"]
    assert (tmp_path / "prefix" / "conda-meta" / "tzdata-2025b-h78e105d_0.json").is_file()
    assert any((tmp_path / "prefix" / "share" / "zoneinfo").rglob("Europe/Paris"))


def test_the_indexer_waits_while_the_channel_is_copied(channel: Path, tmp_path: Path) -> None:
    from conda_wheel_bridge.channel.lock import ChannelLocked, channel_lock

    refused: list[bool] = []

    def try_to_index(step: StaticCopy) -> None:
        try:
            with channel_lock(channel / ".cwb" / "index.lock", timeout=0.05):
                refused.append(False)
        except ChannelLocked:
            refused.append(True)

    publish_static(channel, tmp_path / "out", on_step=try_to_index)
    assert refused and all(refused)
    with channel_lock(channel / ".cwb" / "index.lock", timeout=1):  # released afterwards
        pass
