"""Core metadata completion for conda packages: kept, filled, versioned, requirements merged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.metadata import Metadata
from packaging.requirements import Requirement

from conda_wheel_bridge.condameta import (
    MetadataAdditions,
    compose_metadata,
    egg_requires_to_requires_dist,
    header_mapping,
    missing_requirements,
)
from conda_wheel_bridge.condasource import CondaPackage
from conda_wheel_bridge.errors import BadMetadata

LINUX_311 = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
             "os_name": "posix", "platform_system": "Linux", "platform_machine": "x86_64",
             "implementation_name": "cpython", "platform_python_implementation": "CPython",
             "implementation_version": "3.11.0", "platform_release": "", "platform_version": ""}


def _package(index: dict[str, Any] | None = None,
             about: dict[str, Any] | None = None) -> CondaPackage:
    base = {"name": "demo", "version": "1.0", "build": "0", "subdir": "noarch"}
    return CondaPackage(Path("demo-1.0-0.conda"), {**base, **(index or {})}, about or {}, None,
                        (), "info/paths.json", {})


def test_carried_metadata_is_kept_byte_for_byte_when_complete() -> None:
    base = b"Metadata-Version: 2.1\r\nName: demo\r\nVersion: 1.0\r\nSummary: s\r\nLicense: MIT\r\n"
    assert compose_metadata(base, _package(), MetadataAdditions("demo", "1.0")) == base


def test_missing_fields_are_filled_from_about_and_index() -> None:
    package = _package({"license": "Apache-2.0"},
                       {"summary": "A  demo\npackage", "home": "https://e.org", "dev_url": "https://g",
                        "description": "Long text."})
    data = compose_metadata(None, package, MetadataAdditions(
        "demo", "1.0", requires_dist=["attrs>=20"], requires_python=">=3.9",
        requires_external=["dep:generic/zlib@>=1.3"], provides_extra=["fast"]))
    meta = header_mapping(data)
    assert meta["summary"] == ["A demo package"]
    assert meta["project-url"] == ["Homepage, https://e.org", "Source, https://g"]
    assert meta["license-expression"] == ["Apache-2.0"]
    assert meta["metadata-version"] == ["2.4"]  # the lowest version with License-Expression
    assert data.endswith(b"\n\nLong text.\n")
    parsed = Metadata.from_email(data, validate=True)
    assert [str(r) for r in parsed.requires_dist or []] == ["attrs>=20"]
    assert parsed.requires_external == ["dep:generic/zlib@>=1.3"]


def test_unknown_placeholders_are_dropped_and_version_raised() -> None:
    base = (b"Metadata-Version: 1.0\nName: demo\nVersion: 1.0\nSummary: UNKNOWN\n"
            b"Home-page: UNKNOWN\nLicense: BSD\nDescription-Content-Type: UNKNOWN\n")
    data = compose_metadata(base, _package(about={"summary": "Real"}),
                            MetadataAdditions("demo", "1.0", requires_dist=["six"]))
    meta = header_mapping(data)
    assert meta["summary"] == ["Real"] and "home-page" not in meta
    assert "description-content-type" not in meta
    assert meta["metadata-version"] == ["1.2"]  # Requires-Dist needs 1.2
    Metadata.from_email(data, validate=True)


def test_old_document_gets_free_text_license_to_keep_its_version() -> None:
    base = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
    meta = header_mapping(compose_metadata(base, _package({"license": "MIT"}),
                                           MetadataAdditions("demo", "1.0")))
    assert meta["license"] == ["MIT"] and meta["metadata-version"] == ["2.1"]


def test_license_classifier_counts_as_a_license() -> None:
    base = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nClassifier: License :: OSI Approved\n"
    package = _package({"license": "MIT"})
    assert compose_metadata(base, package, MetadataAdditions("demo", "1.0")) == base


def test_non_pep440_version_is_refused() -> None:
    with pytest.raises(BadMetadata, match="not a PEP 440 version"):
        compose_metadata(None, _package(), MetadataAdditions("demo", "1.0_weird"))


def test_carried_metadata_without_name_is_refused() -> None:
    with pytest.raises(BadMetadata, match="no Name"):
        compose_metadata(b"Metadata-Version: 2.1\nVersion: 1\n", _package(),
                         MetadataAdditions("demo", "1"))


@pytest.mark.parametrize("declared,conda,environment,expected", [
    (["rich"], ["rich>=10"], None, []),                                  # declared covers it
    (["flask; extra == 'server'"], ["flask"], None, ["flask"]),           # extra never covers
    (["a; python_version < '3.3'"], ["a"], None, ["a"]),                  # noarch: marker unknown
    (["a; sys_platform == 'linux'"], ["a"], LINUX_311, []),               # true on this target
    (["a; sys_platform == 'win32'"], ["a"], LINUX_311, ["a"]),            # false on this target
    (["a"], ['a; extra == "x"'], None, []),                               # conditional: by name
    ([], ["b>=1", 'c; extra == "x"'], None, ["b>=1", 'c; extra == "x"']),
])
def test_missing_requirements(declared: list[str], conda: list[str],
                              environment: dict[str, str] | None, expected: list[str]) -> None:
    assert missing_requirements(declared, conda, environment) == expected


def test_egg_requires_sections() -> None:
    text = 'pbr>=0.11\n\n[:(python_version<"3.3")]\nfuncsigs>=1\n\n[docs]\nsphinx\n\n' \
           '[test:sys_platform == "win32"]\npywin32\n'
    requires, extras = egg_requires_to_requires_dist(text)
    assert requires == ["pbr>=0.11", 'funcsigs>=1; (python_version<"3.3")',
                        'sphinx; extra == "docs"',
                        'pywin32; (sys_platform == "win32") and extra == "test"']
    assert extras == ["docs", "test"]


_names = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
_markers = st.sampled_from(["", 'python_version < "3.8"', 'sys_platform == "win32"',
                            'platform_machine == "x86_64" and python_version >= "3"'])


@given(st.lists(st.tuples(st.sampled_from(["", "docs", "test"]), _markers, _names,
                          st.sampled_from(["", ">=1", "<2,>=1.5"])), max_size=8))
def test_egg_requires_always_give_valid_requirements(
        rows: list[tuple[str, str, str, str]]) -> None:
    text = "".join(f"[{extra}{':' + marker if marker else ''}]\n{name}{spec}\n" if extra or marker
                   else f"{name}{spec}\n" for extra, marker, name, spec in rows)
    requires, extras = egg_requires_to_requires_dist(text)
    assert len(requires) == len(rows)
    for line, (extra, _, name, _) in zip(requires, rows, strict=True):
        req = Requirement(line)
        assert req.name == name
        if extra:
            assert req.marker is not None and f'extra == "{extra}"' in str(req.marker)
            assert extra in extras
