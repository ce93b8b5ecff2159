"""Variant metadata in all three schema generations, the property ⇄ virtual-package rules in both
directions (checked with py-rattler's own MatchSpec), and variantlib reading what we write."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import rattler
from hypothesis import given, settings
from hypothesis import strategies as st
from rattler.package.build_string import BuildString
from variantlib.variant_dist_info import VariantDistInfo
from variantlib.variants_json import VariantsJson

from conda_wheel_bridge import host
from conda_wheel_bridge.errors import BadMetadata, MappingError
from conda_wheel_bridge.mapping import cpu, variants
from conda_wheel_bridge.model import VariantProperty

INDEX_FILES = [
    "test_package-0-variants.json",
    "sandbox_project-1.0.0-variants.json",
    "dummy_project-1.0.0-variants.json",
    "torch-2.9.0-variants.json",
]

PEP825 = {
    "$schema": "https://variants-schema.wheelnext.dev/peps/825/v0.1.1.json",
    "default-priorities": {"namespace": ["nvidia", "x86_64"]},
    "variants": {
        "cu129": {"nvidia": {"cuda_version_lower_bound": ["12.9"], "sm_arch": ["90_real"]}},
        "v3": {"x86_64": {"level": ["v3"]}},
        "null": {},
    },
}


def _record(name: str, version: str, build: str = "0") -> Any:
    return rattler.PackageRecord(
        name=name, version=version, build=BuildString(build), build_number=0, subdir="linux-64"
    )


def _matches(spec: str, name: str, version: str, build: str = "0") -> bool:
    return bool(rattler.MatchSpec(spec).matches(_record(name, version, build)))


def _prop(text: str) -> VariantProperty:
    return variants.parse_property(text)


# ------------------------------------------------------------------------------- reading


@pytest.mark.parametrize("name", INDEX_FILES)
def test_reads_published_index_files(fixtures_dir: Path, name: str) -> None:
    data = json.loads((fixtures_dir / "wheels" / "variants" / name).read_text())
    index = variants.read_variants_index(data, where=name)
    assert set(index) == set(data["variants"])
    for label, desc in index.items():
        expected = {
            (ns, f, v)
            for ns, feats in data["variants"][label].items()
            for f, vals in feats.items()
            for v in vals
        }
        assert {(p.namespace, p.feature, p.value) for p in desc.properties} == expected
        assert desc.namespace_priorities == tuple(data["default-priorities"]["namespace"])
        assert desc.schema == "pep817"
        assert desc.is_null == (label == "null")


def test_reads_variant_json_inside_real_variant_wheels(fixtures_dir: Path) -> None:
    wheels = sorted(
        (fixtures_dir / "wheels" / "variants").glob("test_package-0-py3-none-any-*.whl")
    )
    assert len(wheels) == 4
    for wheel in wheels:
        label = wheel.stem.rsplit("-", 1)[1]
        with zipfile.ZipFile(wheel) as zf:
            (member,) = [n for n in zf.namelist() if n.endswith(".dist-info/variant.json")]
            data = json.loads(zf.read(member))
        desc = variants.read_variant_json(data, where=wheel.name)
        assert desc.label == label
        assert desc.providers["non_existing_plugin"].optional is True
        assert desc.providers["installable_plugin"].requires == ("test-plugin-package",)


def test_reads_pep825_generation() -> None:
    index = variants.read_variants_index(PEP825)
    assert {d.schema for d in index.values()} == {"pep825"}
    assert index["cu129"].properties == (
        _prop("nvidia :: cuda_version_lower_bound :: 12.9"),
        _prop("nvidia :: sm_arch :: 90_real"),
    )
    assert index["v3"].providers == {}
    desc = variants.read_variant_json(PEP825, label="v3")
    assert desc.properties == (_prop("x86_64 :: level :: v3"),)


def test_reads_pep817_priorities(fixtures_dir: Path) -> None:
    data = json.loads(
        (fixtures_dir / "wheels/variants/dummy_project-1.0.0-variants.json").read_text()
    )
    desc = next(iter(variants.read_variants_index(data).values()))
    assert desc.feature_priorities["fictional_hw"] == ("humor", "compute_accuracy")
    assert desc.property_priorities["fictional_tech"]["technology"] == ("auto_chef",)
    assert desc.providers["fictional_hw"].enable_if == "python_version >= '3.12'"


def test_reads_variantlib_0_2_generation() -> None:
    from variantlib.api import VariantDescription as VLDesc
    from variantlib.api import VariantProperty as VLProp
    from variantlib.api import make_variant_dist_info
    from variantlib.models.variant_info import ProviderInfo, VariantInfo

    info = VariantInfo(
        namespace_priorities=["blas_lapack"],
        providers={"blas_lapack": ProviderInfo(static_properties={"library": ["openblas", "mkl"]})},
    )
    text = make_variant_dist_info(VLDesc([VLProp("blas_lapack", "library", "mkl")]), info)
    desc = variants.read_variant_json(json.loads(text))
    assert desc.schema == "variantlib-0.2"
    assert desc.providers["blas_lapack"].static_properties == {"library": ("openblas", "mkl")}
    assert desc.properties == (_prop("blas_lapack :: library :: mkl"),)


BAD: list[tuple[dict[str, Any], str]] = [
    ({"variants": {"BAD!": {}}}, "invalid variant label"),
    (
        {"variants": {"null": {"ns": {"f": ["v"]}}}, "default-priorities": {"namespace": ["ns"]}},
        "label 'null'",
    ),
    ({"variants": {"abc": {}}}, "label 'null'"),
    ({"variants": {"abc": {"n-s": {"f": ["v"]}}}}, "invalid namespace"),
    (
        {"variants": {"abc": {"ns": {"f": ["V!"]}}}, "default-priorities": {"namespace": ["ns"]}},
        "invalid entry",
    ),
    (
        {"variants": {"abc": {"ns": {"f": []}}}, "default-priorities": {"namespace": ["ns"]}},
        "at least one value",
    ),
    ({"variants": {"abc": {"ns": {"f": ["v"]}}}}, "no priority for ['ns']"),
    ({"variants": {}, "extra": 1}, "unknown keys ['extra']"),
    ({"variants": [], "default-priorities": {}}, "expected dict"),
    (
        {"default-priorities": {"namespace": ["a"]}, "providers": {"b": {"requires": ["x"]}}},
        "must name every provider",
    ),
    (
        {
            "providers": {"a": {"plugin-use": "sometimes"}},
            "default-priorities": {"namespace": ["a"]},
        },
        "plugin-use",
    ),
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_malformed_metadata_is_one_clear_error(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadMetadata) as info:
        variants.read_variants_index(data, where="pkg-1.0-variants.json")
    assert str(info.value).startswith("pkg-1.0-variants.json: ")
    assert reason in str(info.value)


def test_variant_json_with_several_variants_needs_a_label() -> None:
    with pytest.raises(BadMetadata, match="describes 3 variants, expected exactly one"):
        variants.read_variant_json(PEP825)
    with pytest.raises(BadMetadata, match="no variant labelled 'nope'"):
        variants.read_variant_json(PEP825, label="nope")


# ------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("name", INDEX_FILES)
def test_variantlib_reads_what_we_write(fixtures_dir: Path, name: str) -> None:
    data = json.loads((fixtures_dir / "wheels" / "variants" / name).read_text())
    index = variants.read_variants_index(data)
    written = variants.write_variants_index(list(index.values()))
    assert written["$schema"] == variants.WRITE_SCHEMA
    parsed = VariantsJson(written)
    assert set(parsed.variants) == set(index)
    for label, desc in index.items():
        theirs = {(p.namespace, p.feature, p.value) for p in parsed.variants[label].properties}
        assert theirs == {(p.namespace, p.feature, p.value) for p in desc.properties}
        one = VariantDistInfo(json.dumps(variants.write_variant_json(desc)), expected_label=label)
        assert one.variant_label == label


def test_pep825_written_with_known_providers() -> None:
    written = variants.write_variants_index(list(variants.read_variants_index(PEP825).values()))
    parsed = VariantsJson(written)
    assert parsed.providers["nvidia"].requires == ["nvidia-variant-provider>=0.0.2,<1.0.0"]
    assert parsed.providers["x86_64"].plugin_api == "provider_variant_x86_64.plugin:X8664Plugin"
    assert parsed.namespace_priorities == ["nvidia", "x86_64"]


def test_torch_static_priority_provider_becomes_static_properties(fixtures_dir: Path) -> None:
    data = json.loads((fixtures_dir / "wheels/variants/torch-2.9.0-variants.json").read_text())
    written = variants.write_variants_index(list(variants.read_variants_index(data).values()))
    assert written["providers"]["priority"] == {"static-properties": {"order": ["1", "2", "3"]}}


def test_writing_an_unknown_namespace_without_provider_fails() -> None:
    desc = variants.VariantDescription(
        "abc", (_prop("mystery :: f :: v"),), namespace_priorities=("mystery",)
    )
    with pytest.raises(MappingError, match="no provider is known"):
        variants.write_variant_json(desc)


# ---------------------------------------------------------------- wheel → conda, one by one

RULES = [
    ("nvidia :: cuda_version_lower_bound :: 12.8", "__cuda >=12.8"),
    ("nvidia :: cuda_version_lower_bound :: 12", "__cuda >=12"),
    ("nvidia :: cuda_version_upper_bound :: 13.1", "__cuda <13.1"),
    ("nvidia :: sm_arch :: 90_real", "__cuda_arch >=9.0,<10"),
    ("nvidia :: sm_arch :: 86_real", "__cuda_arch >=8.6,<9"),
    ("nvidia :: sm_arch :: 100_virtual", "__cuda_arch >=10.0,<11"),
    ("x86_64 :: level :: v3", "_x86_64-microarch-level >=3"),
    ("blas_lapack :: library :: mkl", "libblas * *_mkl"),
    ("blas_lapack :: provider :: openblas", "libblas * *_openblas"),
]


@pytest.mark.parametrize(("prop", "spec"), RULES)
def test_property_to_conda(prop: str, spec: str) -> None:
    assert variants.conda_for_property(_prop(prop)) == (spec,)
    assert variants.loss_for(_prop(prop)) != "no rule"


@pytest.mark.parametrize(("prop", "spec"), RULES)
def test_conda_to_property(prop: str, spec: str) -> None:
    back = variants.variant_properties_for_conda([spec])
    if "sm_arch" in prop:
        # a range comes back as the values that cover it: same conda constraint
        assert variants.conda_for_properties(back) == (spec,)
    else:
        expected = _prop(prop.replace(":: provider ::", ":: library ::"))
        assert back == (expected,)


def test_any_of_values_within_a_feature() -> None:
    props = [_prop(f"nvidia :: sm_arch :: {v}") for v in ("80_real", "90_real", "120_real")]
    props += [_prop("nvidia :: cuda_version_lower_bound :: 12.8")]
    assert variants.conda_for_properties(props) == (
        "__cuda_arch >=8.0,<10|>=12.0,<13",
        "__cuda >=12.8",
    )


def test_cpu_flags_and_aarch64_versions_become_archspec_regexes() -> None:
    (spec,) = variants.conda_for_property(_prop("x86_64 :: avx512f :: on"))
    assert _matches(spec, "__archspec", "1", "icelake")
    assert not _matches(spec, "__archspec", "1", "haswell")
    (spec,) = variants.conda_for_property(_prop("aarch64 :: version :: 8.2a"))
    assert _matches(spec, "__archspec", "1", "neoverse_n1")
    assert not _matches(spec, "__archspec", "1", "cortex_a72")


UNKNOWN_PROPS = [
    "amd :: gfx_arch :: gfx1030",
    "nvidia :: driver :: 550",
    "nvidia :: cuda_version_lower_bound :: 10.2",
    "nvidia :: sm_arch :: 90a_real",
    "x86_64 :: level :: v5",
    "x86_64 :: avx2 :: off",
    "blas_lapack :: library :: atlas",
    "aarch64 :: version :: 7a",
]


@pytest.mark.parametrize("prop", UNKNOWN_PROPS)
def test_property_without_counterpart_is_an_error(prop: str) -> None:
    with pytest.raises(MappingError) as info:
        variants.conda_for_property(_prop(prop))
    assert str(info.value).split(":")[0] in prop


def test_sm_arch_values_no_gpu_can_satisfy_is_an_error() -> None:
    with pytest.raises(MappingError, match="no GPU satisfies"):
        variants.conda_for_property(_prop("nvidia :: sm_arch :: 86_virtual"))


# ---------------------------------------------------------------- conda → wheel

REVERSE = [
    ("__cuda >=12", ["nvidia :: cuda_version_lower_bound :: 12"]),
    (
        "__cuda>=12.8,<13",
        ["nvidia :: cuda_version_lower_bound :: 12.8", "nvidia :: cuda_version_upper_bound :: 13"],
    ),
    (
        "__cuda 12.*",
        ["nvidia :: cuda_version_lower_bound :: 12", "nvidia :: cuda_version_upper_bound :: 13"],
    ),
    ("__cuda", ["nvidia :: cuda_version_lower_bound :: 11"]),
    ("__archspec 1 icelake", ["x86_64 :: level :: v4"]),
    ("__archspec=1=haswell", ["x86_64 :: level :: v3"]),
    ("__archspec 1 neoverse_n1", ["aarch64 :: version :: 8.2a"]),
    ("_x86_64-microarch-level >=2", ["x86_64 :: level :: v2"]),
    ("libblas=*=*_mkl", ["blas_lapack :: library :: mkl"]),
    ("__glibc >=2.28", []),
    ("numpy >=2", []),
    ("__cuda_arch >=9.0,<10", ["nvidia :: sm_arch :: 90_virtual"]),
]


@pytest.mark.parametrize(("spec", "props"), REVERSE)
def test_variant_properties_for_conda(spec: str, props: list[str]) -> None:
    assert variants.variant_properties_for_conda([spec]) == tuple(_prop(p) for p in props)


@pytest.mark.parametrize(
    "spec", ["__foo >=1", "__cuda >=11|<10", "__cuda >12", "__archspec 1 power9le", "not a spec ["]
)
def test_virtual_package_without_counterpart_is_an_error(spec: str) -> None:
    with pytest.raises(MappingError):
        variants.variant_properties_for_conda([spec])


def _depends_of(package: Path) -> list[str]:
    from conda_package_streaming.package_streaming import stream_conda_info

    for tar, member in stream_conda_info(str(package)):
        if member.name == "info/index.json":
            extracted = tar.extractfile(member)
            assert extracted is not None
            data = json.load(extracted)
            return list(data.get("depends", []))
    raise AssertionError(f"{package} has no info/index.json")


def test_real_cuda_package_maps_to_a_wheels_properties(fixtures_dir: Path) -> None:
    (package,) = (fixtures_dir / "conda" / "linux-64").glob("cuda-0.1.0-*.conda")
    depends = _depends_of(package)
    assert "__cuda >=12" in depends
    props = variants.variant_properties_for_conda(depends)
    assert props == (_prop("nvidia :: cuda_version_lower_bound :: 12"),)
    # the wheel property installs exactly where the package does (drivers 11 .. 15.20)
    for driver in ("11.8", "12.0", "12.9", "13.0"):
        wheel_ok = "12" in host.nvidia_supported(driver, None)["cuda_version_lower_bound"]
        assert wheel_ok == _matches("__cuda >=12", "__cuda", driver)


def test_real_cuda_arch_package_maps_to_sm_arch(fixtures_dir: Path) -> None:
    (package,) = (fixtures_dir / "conda" / "linux-64").glob("cuda-arch-0.1.0-*.conda")
    depends = _depends_of(package)
    arch = [d for d in depends if d.startswith("__cuda_arch")]
    assert arch
    props = variants.variant_properties_for_conda(depends)
    assert props and all(p.feature == "sm_arch" for p in props)
    (spec,) = variants.conda_for_properties(props)
    for cc in ("8.9", "9.0", "10.0", "12.0"):
        assert _matches(spec, "__cuda_arch", cc) == _matches(arch[0], "__cuda_arch", cc)


# -------------------------------------------------- the rules hold on every host (hypothesis)

_SM_VALUES = [f"{M}{m}_{k}" for M in range(5, 13) for m in range(10) for k in ("real", "virtual")]
_CUDA_VALUES = [f"{M}.{m}" for M in range(11, 16) for m in range(21)] + [
    str(M) for M in range(11, 16)
]


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.sampled_from(_SM_VALUES), min_size=1, max_size=6, unique=True),
    major=st.integers(5, 12),
    minor=st.integers(0, 9),
)
def test_sm_arch_rule_accepts_exactly_the_gpus_the_provider_accepts(
    values: list[str], major: int, minor: int
) -> None:
    props = [_prop(f"nvidia :: sm_arch :: {v}") for v in values]
    supported = set(host.nvidia_supported("13.0", (major, minor))["sm_arch"])
    provider_ok = bool(supported & set(values))
    try:
        (spec,) = variants.conda_for_properties(props)
    except MappingError:
        assert not provider_ok  # only when no GPU at all satisfies the values
        return
    assert _matches(spec, "__cuda_arch", f"{major}.{minor}") == provider_ok


@settings(max_examples=300, deadline=None)
@given(value=st.sampled_from(_CUDA_VALUES), major=st.integers(11, 15), minor=st.integers(0, 20))
def test_cuda_bound_rules_accept_exactly_the_drivers_the_provider_accepts(
    value: str, major: int, minor: int
) -> None:
    supported = host.nvidia_supported(f"{major}.{minor}", None)
    for feature in ("cuda_version_lower_bound", "cuda_version_upper_bound"):
        (spec,) = variants.conda_for_property(_prop(f"nvidia :: {feature} :: {value}"))
        provider_ok = value in supported.get(feature, ())
        assert _matches(spec, "__cuda", f"{major}.{minor}") == provider_ok, (feature, spec)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.sampled_from(_SM_VALUES), min_size=1, max_size=5, unique=True))
def test_sm_arch_round_trip_keeps_the_conda_constraint(values: list[str]) -> None:
    props = [_prop(f"nvidia :: sm_arch :: {v}") for v in values]
    try:
        first = variants.conda_for_properties(props)
    except MappingError:
        return
    for alternative in first[0].removeprefix("__cuda_arch ").split("|"):
        back = variants.variant_properties_for_conda([f"__cuda_arch {alternative}"])
        (again,) = variants.conda_for_properties(back)
        assert again == f"__cuda_arch {alternative}"


# ---------------------------------------------------------------- conda_for_variant


def test_conda_for_variant_labels_and_numbers() -> None:
    desc = variants.read_variant_json(PEP825, label="cu129")
    build = variants.conda_for_variant(desc, "cu129")
    assert build.depends == ("__cuda >=12.9", "__cuda_arch >=9.0,<10")
    assert build.build_label == "cu129"
    null = variants.conda_for_variant(variants.read_variant_json(PEP825, label="null"), "null")
    v3 = variants.conda_for_variant(variants.read_variant_json(PEP825, label="v3"), "v3")
    assert null.build_number == 0 < v3.build_number < build.build_number
    with pytest.raises(MappingError, match="labelled 'cu129'"):
        variants.conda_for_variant(desc, "other")


def test_unknown_namespace_in_a_variant_is_refused() -> None:
    data = json.loads(json.dumps(PEP825))
    data["default-priorities"]["namespace"].append("amd")
    data["variants"]["rocm"] = {"amd": {"gfx_arch": ["gfx1030"]}}
    desc = variants.read_variant_json(data, label="rocm")
    with pytest.raises(MappingError, match="amd :: gfx_arch :: gfx1030"):
        variants.conda_for_variant(desc, "rocm")


def test_level_records_match_conda_forge_published_level3_names() -> None:
    # conda-forge generated its per-level regexes with archspec 0.2.5; ours (newer archspec)
    # must keep every name it lists and add only newer microarchitectures
    published = [
        "broadwell",
        "cannonlake",
        "excavator",
        "haswell",
        "mic_knl",
        "skylake",
        "x86_64_v3",
        "zen",
        "zen2",
        "zen3",
        "cascadelake",
        "icelake",
        "sapphirerapids",
        "skylake_avx512",
        "x86_64_v4",
        "zen4",
        "zen5",
    ]
    ours = cpu.microarchitectures_for_x86_64_level("v3")
    assert set(published) <= set(ours)


def test_null_variant_alone_cannot_be_written() -> None:
    with pytest.raises(MappingError, match="at least one namespace"):
        variants.write_variant_json(variants.VariantDescription("null", ()))


def test_conda_depends_become_variant_json_variantlib_reads() -> None:
    depends = [
        "python >=3.9",
        "__cuda >=12",
        "__cuda_arch >=9",
        "_x86_64-microarch-level >=3",
        "libblas * *_mkl",
        "__glibc >=2.17",
    ]
    props = variants.variant_properties_for_conda(depends)
    written = variants.write_variant_json(variants.VariantDescription("abc", props))
    parsed = VariantDistInfo(json.dumps(written), expected_label="abc")
    theirs = {(p.namespace, p.feature, p.value) for p in parsed.variant_desc.properties}
    assert theirs == {(p.namespace, p.feature, p.value) for p in props}
    assert set(parsed.namespace_priorities) == {"blas_lapack", "nvidia", "x86_64"}
    # and back to conda: the same constraints the package had (platform ones aside)
    again = set(variants.conda_for_properties(props))
    assert again == {
        "__cuda >=12",
        "__cuda_arch >=9.0,<13",
        "_x86_64-microarch-level >=3",
        "libblas * *_mkl",
    }


def test_conditional_virtual_requirement_is_refused_not_made_unconditional() -> None:
    """A ``when=`` condition has no variant counterpart: never drop it silently."""
    with pytest.raises(MappingError, match="conditional"):
        variants.variant_properties_for_conda(['__cuda >=12.8[when="python >=3.99"]'])
