"""The shipped tables are exactly what tools/derive_tables.py derives from ../shared/data."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "conda_wheel_bridge" / "mapping" / "data"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "derive_tables", REPO / "tools" / "derive_tables.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["derive_tables"] = module
    spec.loader.exec_module(module)
    return module


def test_rerun_reproduces_shipped_tables_byte_for_byte(data_dir: Path, tmp_path: Path) -> None:
    tool = _tool()
    out = tmp_path / "data"
    assert tool.main(["--data", str(data_dir), "--out", str(out)]) == 0
    produced = sorted(p.name for p in out.iterdir())
    shipped = sorted(p.name for p in SHIPPED.iterdir() if not p.name.startswith("."))
    assert produced == shipped
    for name in produced:
        assert (out / name).read_bytes() == (SHIPPED / name).read_bytes(), name
    assert tool.main(["--data", str(data_dir), "--out", str(SHIPPED), "--check"]) == 0


def test_check_mode_notices_a_stale_table(data_dir: Path, tmp_path: Path) -> None:
    tool = _tool()
    out = tmp_path / "data"
    tool.main(["--data", str(data_dir), "--out", str(out)])
    (out / "external.json").write_text("{}\n")
    assert tool.main(["--data", str(data_dir), "--out", str(out), "--check"]) == 1


def test_provenance_records_every_input_hash_and_license(data_dir: Path) -> None:
    provenance = json.loads((SHIPPED / "PROVENANCE.json").read_text())
    assert len(provenance["inputs"]) == 4
    for rel, info in provenance["inputs"].items():
        digest = hashlib.sha256((data_dir / rel).read_bytes()).hexdigest()
        assert info["sha256"] == digest, rel
        assert info["license"] in ("MIT", "BSD-3-Clause")
        assert (SHIPPED / info["license_file"]).is_file()
    for name, info in provenance["outputs"].items():
        blob = (SHIPPED / name).read_bytes()
        assert info == {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}


def test_tables_are_compact_and_hold_only_what_the_fallback_gets_wrong() -> None:
    total = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert total < 150_000  # the raw inputs are 2.7 MB
    names = json.loads(gzip.decompress((SHIPPED / "names.json.gz").read_bytes()))
    assert names["pypi_to_conda"]["torch"] == "pytorch"
    assert "numpy" not in names["pypi_to_conda"]  # the normalised fallback already says numpy
    assert "libzlib" in names["non_python"]


def test_curated_reverse_names_are_real_non_python_conda_forge_packages(data_dir: Path) -> None:
    parselmouth = json.loads(
        (data_dir / "pypi-conda-names/parselmouth-conda-forge-compressed_mapping.json").read_text()
    )
    registry = {
        d["id"]
        for d in json.loads(
            (data_dir / "external-metadata-mappings/data/registry.json").read_text()
        )["definitions"]
    }
    curated = json.loads((SHIPPED / "external.json").read_text())["curated_reverse"]
    for name, dep in curated.items():
        assert name in parselmouth and parselmouth[name] is None, name
        assert dep in registry, dep


def test_missing_input_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="missing input"):
        _tool().render(tmp_path)
