"""simple/: PEP 503 HTML, PEP 691 JSON, PEP 658/714 sidecars, variants.json, exported wheels."""

from __future__ import annotations

import hashlib
import html.parser
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conda_wheel_bridge.channel.index import index_channel
from conda_wheel_bridge.channel.simple import merge_variants
from conda_wheel_bridge.errors import BadMetadata

Cwb = Callable[..., tuple[int, str, str]]
WHEELS = ("six-1.17.0-py2.py3-none-any.whl", "requests-2.32.3-py3-none-any.whl",
          "msgpack-1.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
VARIANTS = ("test_package-0-py3-none-any-5d8be4b9.whl", "test_package-0-py3-none-any-60567bd9.whl",
            "test_package-0-py3-none-any-fbe82642.whl", "test_package-0-py3-none-any-null.whl")


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def _anchors(page: Path) -> list[dict[str, str | None]]:
    parser = _Links()
    parser.feed(page.read_text())
    return parser.anchors


@pytest.fixture
def channel(tmp_path: Path, fixtures_dir: Path) -> Path:
    root = tmp_path / "channel"
    (root / "noarch").mkdir(parents=True)
    for name in WHEELS:
        shutil.copy(fixtures_dir / "wheels" / name, root / "noarch" / name)
    for name in VARIANTS:
        shutil.copy(fixtures_dir / "wheels" / "variants" / name, root / "noarch" / name)
    index_channel(root)
    return root


def test_root_page_lists_every_project(channel: Path) -> None:
    hrefs = [a["href"] for a in _anchors(channel / "simple" / "index.html")]
    assert hrefs == ["msgpack/", "requests/", "six/", "test-package/"]
    data = json.loads((channel / "simple" / "index.json").read_text())
    assert data["meta"]["api-version"] == "1.1"
    assert [p["name"] for p in data["projects"]] == ["msgpack", "requests", "six", "test-package"]


def test_html_page_links_hashes_requires_python_and_metadata(channel: Path) -> None:
    page = channel / "simple" / "six" / "index.html"
    (anchor,) = _anchors(page)
    href = anchor["href"]
    assert href is not None
    url, _, fragment = href.partition("#")
    wheel = (page.parent / url).resolve()
    assert wheel == (channel / "noarch" / WHEELS[0]).resolve()
    assert fragment == "sha256=" + hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert anchor["data-requires-python"] == ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"
    sidecar = Path(str(wheel) + ".metadata")
    with zipfile.ZipFile(wheel) as zf:
        inside = zf.read("six-1.17.0.dist-info/METADATA")
    assert sidecar.read_bytes() == inside  # PEP 658: byte for byte the wheel's METADATA
    digest = "sha256=" + hashlib.sha256(inside).hexdigest()
    assert anchor["data-core-metadata"] == digest == anchor["data-dist-info-metadata"]


def test_json_page_follows_pep_691_and_700(channel: Path) -> None:
    page = json.loads((channel / "simple" / "requests" / "index.json").read_text())
    assert page["meta"] == {"api-version": "1.1"} and page["name"] == "requests"
    assert page["versions"] == ["2.32.3"]
    (entry,) = page["files"]
    wheel = channel / "noarch" / WHEELS[1]
    assert entry["filename"] == WHEELS[1]
    assert entry["hashes"] == {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
    assert entry["size"] == wheel.stat().st_size
    assert entry["requires-python"] == ">=3.8"
    sidecar = Path(str(wheel) + ".metadata").read_bytes()
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(sidecar).hexdigest()}
    assert "dist-info-metadata" not in entry  # PEP 714: the old key breaks pip 22.3-23.1
    assert entry["url"] == f"../../noarch/{WHEELS[1]}"
    assert entry["upload-time"].endswith("Z")


def test_binary_wheels_are_listed_too(channel: Path) -> None:
    (anchor,) = _anchors(channel / "simple" / "msgpack" / "index.html")
    assert anchor["href"] is not None and WHEELS[2] in anchor["href"]


def test_variant_wheels_get_a_merged_variants_json(channel: Path, fixtures_dir: Path) -> None:
    folder = channel / "simple" / "test-package"
    written = json.loads((folder / "test_package-0-variants.json").read_text())
    reference = json.loads(
        (fixtures_dir / "wheels" / "variants" / "test_package-0-variants.json").read_text())
    assert set(written["variants"]) == {"5d8be4b9", "60567bd9", "fbe82642", "null"}
    for label, props in written["variants"].items():
        assert reference["variants"][label] == props
    assert written["providers"] == reference["providers"]
    assert written["default-priorities"] == reference["default-priorities"]
    hrefs = [a["href"] for a in _anchors(folder / "index.html")]
    assert "test_package-0-variants.json" in hrefs
    # variantlib, the reference implementation, accepts the merged document
    from variantlib.variants_json import VariantsJson

    parsed = VariantsJson(written)
    assert set(parsed.variants) == set(written["variants"])


def test_conflicting_variant_definitions_are_refused() -> None:
    a = {"fn": "a.whl", "variant": {"providers": {}, "variants": {"x": {"ns": {"f": ["1"]}}}}}
    b = {"fn": "b.whl", "variant": {"providers": {}, "variants": {"x": {"ns": {"f": ["2"]}}}}}
    with pytest.raises(BadMetadata, match=r"^b\.whl: "):
        merge_variants([a, b])


def test_pages_follow_the_channel_when_a_wheel_leaves(channel: Path) -> None:
    (channel / "noarch" / WHEELS[2]).unlink()
    index_channel(channel)
    assert not (channel / "simple" / "msgpack").exists()
    hrefs = [a["href"] for a in _anchors(channel / "simple" / "index.html")]
    assert "msgpack/" not in hrefs


def test_unchanged_pages_are_not_rewritten(channel: Path) -> None:
    page = channel / "simple" / "six" / "index.html"
    before = page.stat().st_mtime_ns
    index_channel(channel)
    assert page.stat().st_mtime_ns == before


def test_python_conda_packages_are_exported_as_wheels(tmp_path: Path, fixtures_dir: Path) -> None:
    root = tmp_path / "channel"
    (root / "noarch").mkdir(parents=True)
    src = fixtures_dir / "conda" / "noarch" / "boltons-0.1.0-pyhbf21a9e_0.conda"
    shutil.copy(src, root / "noarch" / src.name)
    report = index_channel(root)
    assert report.exported == 1, report.skipped
    (anchor,) = _anchors(root / "simple" / "boltons" / "index.html")
    href = anchor["href"]
    assert href is not None and href.startswith("../../wheels/boltons-0.1.0-")
    wheel = (root / "simple" / "boltons" / href.partition("#")[0]).resolve()
    assert href.endswith("#sha256=" + hashlib.sha256(wheel.read_bytes()).hexdigest())
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        assert Path(str(wheel) + ".metadata").read_bytes() == zf.read(meta)
    again = index_channel(root)
    assert again.exported == 0  # cached by the package's hash
    (root / "noarch" / src.name).unlink()
    index_channel(root)
    assert not wheel.exists() and not (root / "simple" / "boltons").exists()


def test_invalid_wheel_fails_the_run_with_its_name(tmp_path: Path, fixtures_dir: Path,
                                                   cwb: Cwb) -> None:
    root = tmp_path / "channel"
    (root / "noarch").mkdir(parents=True)
    shutil.copy(fixtures_dir / "wheels" / WHEELS[0], root / "noarch" / WHEELS[0])
    index_channel(root)
    before = (root / "noarch" / "repodata.json").read_bytes()
    bad = root / "noarch" / "validation-3.0.0-py3-none-any.whl"
    shutil.copy(fixtures_dir / "wheels" / "fixtures" / bad.name, bad)  # two .dist-info dirs
    rc, out, err = cwb("index", root)
    assert rc == 1 and out == "" and err.startswith(f"cwb: error: {bad}: ")
    assert "dist-info" in err and err.count("\n") == 1
    assert (root / "noarch" / "repodata.json").read_bytes() == before
