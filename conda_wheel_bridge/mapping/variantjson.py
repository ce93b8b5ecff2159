"""Read and write wheel-variant metadata (``variant.json`` and ``{name}-{version}-variants.json``).

Three schema generations are in the wild and all are read:

- PEP 817 / variantlib 0.0.x (``$schema`` ``…/v0.0.N.json`` or none): ``default-priorities`` with
  ``namespace``, ``feature`` and ``property``; providers with ``requires``, ``plugin-api``,
  ``enable-if``, ``optional`` and ``plugin-use``.
- PEP 825 (``…/peps/825/v0.1.N.json``): ``default-priorities.namespace`` and ``variants`` only.
- variantlib 0.2.x (``…/v0.2.0.json``): providers with ``requires``, ``optional``,
  ``plugin-api``, ``static-properties``, ``feature-order`` and ``builtin``.

What is written is the variantlib 0.2.x form, the one variantlib 0.2.2 reads back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadMetadata, MappingError
from ..model import VariantProperty

__all__ = [
    "NULL_LABEL",
    "WRITE_SCHEMA",
    "ProviderInfo",
    "VariantDescription",
    "read_variant_json",
    "read_variants_index",
    "write_variant_json",
    "write_variants_index",
]

NULL_LABEL = "null"
#: the ``$schema`` variantlib 0.2.2 writes and reads
WRITE_SCHEMA = "https://variants-schema.wheelnext.dev/v0.2.0.json"

_NAME_RE = re.compile(r"[a-z0-9_]+")
_VALUE_RE = re.compile(r"[a-z0-9_.]+")
_LABEL_RE = re.compile(r"[0-9a-z._]+")
_PLUGIN_API_RE = re.compile(r"[\w.]+(\s*:\s*[\w.]+)?")
_TOP_KEYS = frozenset({"$schema", "default-priorities", "providers", "variants"})
_PRIORITY_KEYS = frozenset({"namespace", "feature", "property"})
_PROVIDER_KEYS = frozenset(
    {
        "requires",
        "optional",
        "plugin-api",
        "static-properties",
        "feature-order",
        "builtin",
        "enable-if",
        "plugin-use",
        "install-time",
    }
)

#: provider entries for namespaces whose providers are known, used when a PEP 825 file (which
#: carries no providers) or a conda package is written as variantlib 0.2 metadata
_KNOWN_PROVIDERS: dict[str, dict[str, Any]] = {
    "nvidia": {
        "requires": ["nvidia-variant-provider>=0.0.2,<1.0.0"],
        "plugin-api": "nvidia_variant_provider.plugin:NvidiaVariantPlugin",
    },
    "x86_64": {
        "requires": ["provider-variant-x86-64"],
        "plugin-api": "provider_variant_x86_64.plugin:X8664Plugin",
    },
    "aarch64": {
        "requires": ["provider-variant-aarch64"],
        "plugin-api": "provider_variant_aarch64.plugin:AArch64Plugin",
    },
    "blas_lapack": {"static-properties": {"library": ["accelerate", "openblas", "mkl"]}},
}


@dataclass(frozen=True)
class ProviderInfo:
    """How installers find the supported values of one namespace (any schema generation)."""

    requires: tuple[str, ...] = ()
    plugin_api: str | None = None
    optional: bool = False
    static_properties: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    feature_order: tuple[str, ...] = ()
    builtin: str | None = None
    enable_if: str | None = None  # PEP 817 only; variantlib 0.2 has no counterpart
    plugin_use: str | None = None  # PEP 817 only: "none", "build" or "all"


@dataclass(frozen=True)
class VariantDescription:
    """One variant: its label and properties, plus the package-level priorities and providers
    that decide how installers rank it. ``schema`` names the generation it was read from."""

    label: str
    properties: tuple[VariantProperty, ...]
    namespace_priorities: tuple[str, ...] = ()
    feature_priorities: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    property_priorities: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    providers: Mapping[str, ProviderInfo] = field(default_factory=dict)
    schema: str = "variantlib-0.2"

    @property
    def is_null(self) -> bool:
        return not self.properties


def _fail(where: str, key: str, reason: str) -> BadMetadata:
    return BadMetadata(where, f"{key}: {reason}" if key else reason)


def _expect(value: Any, kind: type, where: str, key: str) -> Any:
    accepted: tuple[type, ...] = (kind,)
    if kind is dict:
        accepted = (Mapping,)
    elif kind is list:
        accepted = (list, tuple)
    if not isinstance(value, accepted) or (kind is not bool and isinstance(value, bool)):
        raise _fail(where, key, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _names(value: Any, regex: re.Pattern[str], where: str, key: str) -> tuple[str, ...]:
    items = _expect(value, list, where, key)
    for item in items:
        if not isinstance(item, str) or not regex.fullmatch(item):
            raise _fail(where, key, f"invalid entry {item!r}")
    if len(set(items)) != len(items):
        raise _fail(where, key, "entries are not unique")
    return tuple(items)


def _generation(data: Mapping[str, Any]) -> str:
    schema = data.get("$schema")
    if isinstance(schema, str):
        if "/peps/825/" in schema or "variant-0.0.1.json" in schema:
            return "pep825"
        if re.search(r"/v0\.0\.\d+\.json$", schema) or schema.endswith("/variants.json"):
            return "pep817"
        return "variantlib-0.2"
    providers = data.get("providers")
    if providers is None:
        return "pep825"
    return "pep817"


def _read_priorities(
    data: Mapping[str, Any], where: str
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], dict[str, dict[str, tuple[str, ...]]]]:
    raw = _expect(data.get("default-priorities", {}), dict, where, "default-priorities")
    if unknown := set(raw) - _PRIORITY_KEYS:
        raise _fail(where, "default-priorities", f"unknown keys {sorted(unknown)}")
    namespaces = _names(raw.get("namespace", []), _NAME_RE, where, "default-priorities.namespace")
    features: dict[str, tuple[str, ...]] = {}
    raw_features = _expect(raw.get("feature", {}), dict, where, "default-priorities.feature")
    for ns, names in raw_features.items():
        key = f"default-priorities.feature.{ns}"
        if not _NAME_RE.fullmatch(ns):
            raise _fail(where, key, "invalid namespace")
        features[ns] = _names(names, _NAME_RE, where, key)
    properties: dict[str, dict[str, tuple[str, ...]]] = {}
    raw_props = _expect(raw.get("property", {}), dict, where, "default-priorities.property")
    for ns, by_feature in raw_props.items():
        key = f"default-priorities.property.{ns}"
        if not _NAME_RE.fullmatch(ns):
            raise _fail(where, key, "invalid namespace")
        properties[ns] = {}
        for feature, values in _expect(by_feature, dict, where, key).items():
            if not _NAME_RE.fullmatch(feature):
                raise _fail(where, f"{key}.{feature}", "invalid feature name")
            properties[ns][feature] = _names(values, _VALUE_RE, where, f"{key}.{feature}")
    return namespaces, features, properties


def _read_provider(ns: str, raw: Any, where: str) -> ProviderInfo:
    key = f"providers.{ns}"
    raw = _expect(raw, dict, where, key)
    if unknown := set(raw) - _PROVIDER_KEYS:
        raise _fail(where, key, f"unknown keys {sorted(unknown)}")
    requires = raw.get("requires", [])
    for item in _expect(requires, list, where, f"{key}.requires"):
        if not isinstance(item, str) or not item.strip():
            raise _fail(where, f"{key}.requires", f"invalid requirement {item!r}")
    plugin_api = raw.get("plugin-api")
    if plugin_api is not None and not _PLUGIN_API_RE.fullmatch(
        _expect(plugin_api, str, where, f"{key}.plugin-api")
    ):
        raise _fail(where, f"{key}.plugin-api", f"invalid object reference {plugin_api!r}")
    static: dict[str, tuple[str, ...]] = {}
    raw_static = _expect(raw.get("static-properties", {}), dict, where, f"{key}.static-properties")
    for feature, values in raw_static.items():
        if not _NAME_RE.fullmatch(feature):
            raise _fail(where, f"{key}.static-properties", f"invalid feature {feature!r}")
        static[feature] = _names(values, _VALUE_RE, where, f"{key}.static-properties.{feature}")
    order = _names(raw.get("feature-order", []), _NAME_RE, where, f"{key}.feature-order")
    if order and set(order) != set(static):
        raise _fail(where, f"{key}.feature-order", "must name every static-properties feature")
    plugin_use = raw.get("plugin-use")
    if plugin_use is not None and plugin_use not in ("none", "build", "all"):
        raise _fail(where, f"{key}.plugin-use", f"invalid value {plugin_use!r}")
    builtin = raw.get("builtin")
    enable_if = raw.get("enable-if")
    return ProviderInfo(
        requires=tuple(requires),
        plugin_api=plugin_api,
        optional=_expect(raw.get("optional", False), bool, where, f"{key}.optional"),
        static_properties=static,
        feature_order=order,
        builtin=None if builtin is None else _expect(builtin, str, where, f"{key}.builtin"),
        enable_if=None if enable_if is None else _expect(enable_if, str, where, f"{key}.enable-if"),
        plugin_use=plugin_use,
    )


def _read_properties(label: str, raw: Any, where: str) -> tuple[VariantProperty, ...]:
    key = f"variants.{label}"
    props: list[VariantProperty] = []
    for ns, by_feature in _expect(raw, dict, where, key).items():
        if not _NAME_RE.fullmatch(ns):
            raise _fail(where, key, f"invalid namespace {ns!r}")
        for feature, values in _expect(by_feature, dict, where, f"{key}.{ns}").items():
            if not _NAME_RE.fullmatch(feature):
                raise _fail(where, f"{key}.{ns}", f"invalid feature {feature!r}")
            vals = _names(values, _VALUE_RE, where, f"{key}.{ns}.{feature}")
            if not vals:
                raise _fail(where, f"{key}.{ns}.{feature}", "needs at least one value")
            props.extend(VariantProperty(ns, feature, v) for v in vals)
    if (label == NULL_LABEL) != (not props):
        raise _fail(where, key, "the label 'null' is for the variant without properties, only")
    return tuple(sorted(props, key=lambda p: (p.namespace, p.feature, p.value)))


def read_variants_index(
    data: Mapping[str, Any], *, where: str = "variants.json"
) -> dict[str, VariantDescription]:
    """Every variant of a ``{name}-{version}-variants.json`` (or ``variant.json``), by label."""
    data = _expect(data, dict, where, "")
    if unknown := set(data) - _TOP_KEYS:
        raise _fail(where, "", f"unknown keys {sorted(unknown)}")
    generation = _generation(data)
    namespaces, features, properties = _read_priorities(data, where)
    raw_providers = _expect(data.get("providers", {}), dict, where, "providers")
    providers = {ns: _read_provider(ns, raw, where) for ns, raw in raw_providers.items()}
    if providers and set(providers) != set(namespaces):
        raise _fail(where, "default-priorities.namespace", "must name every provider, only")
    result: dict[str, VariantDescription] = {}
    for label, raw in _expect(data.get("variants", {}), dict, where, "variants").items():
        if not isinstance(label, str) or not _LABEL_RE.fullmatch(label):
            raise _fail(where, "variants", f"invalid variant label {label!r}")
        props = _read_properties(label, raw, where)
        if missing := {p.namespace for p in props} - set(namespaces):
            raise _fail(where, f"variants.{label}", f"no priority for {sorted(missing)}")
        result[label] = VariantDescription(
            label=label,
            properties=props,
            namespace_priorities=namespaces,
            feature_priorities=features,
            property_priorities=properties,
            providers=providers,
            schema=generation,
        )
    return result


def read_variant_json(
    data: Mapping[str, Any], *, label: str | None = None, where: str = "variant.json"
) -> VariantDescription:
    """The variant a ``variant.json`` describes (any generation); ``label`` picks one out of an
    index file. Raises :class:`BadMetadata` when malformed or ambiguous."""
    variants = read_variants_index(data, where=where)
    if label is not None:
        if label == NULL_LABEL and label not in variants:
            sample = next(iter(variants.values()), None)
            return VariantDescription(
                label=NULL_LABEL,
                properties=(),
                namespace_priorities=sample.namespace_priorities if sample else (),
                providers=sample.providers if sample else {},
                schema=sample.schema if sample else _generation(data),
            )
        if label not in variants:
            raise BadMetadata(where, f"no variant labelled {label!r}")
        return variants[label]
    if len(variants) != 1:
        raise BadMetadata(where, f"describes {len(variants)} variants, expected exactly one")
    return next(iter(variants.values()))


def _static_values(ns: str, descs: Sequence[VariantDescription]) -> dict[str, list[str]]:
    """Fixed values of a PEP 817 provider that installers never run (``plugin-use`` none or
    build): its property priorities first, then every value the variants use."""
    static: dict[str, list[str]] = {}
    for desc in descs:
        for feature, values in desc.property_priorities.get(ns, {}).items():
            static.setdefault(feature, [])
            static[feature] += [v for v in values if v not in static[feature]]
    for desc in descs:
        for prop in desc.properties:
            if prop.namespace == ns:
                known = static.setdefault(prop.feature, [])
                if prop.value not in known:
                    known.append(prop.value)
    return {f: v for f, v in static.items() if v}


def _provider_json(ns: str, descs: Sequence[VariantDescription]) -> dict[str, Any] | None:
    """The variantlib 0.2 provider entry for ``ns``; None for a PEP 817 provider that no
    variant uses and that has no values (it cannot be written and says nothing)."""
    info = next((d.providers[ns] for d in descs if ns in d.providers), None)
    if info is None:
        if ns not in _KNOWN_PROVIDERS:
            raise MappingError(ns, "no provider is known for this variant namespace")
        return dict(_KNOWN_PROVIDERS[ns])
    out: dict[str, Any] = {}
    static = {f: list(v) for f, v in info.static_properties.items()}
    if info.plugin_use in ("none", "build") and not static:
        static = _static_values(ns, descs)
        if not static:
            return None
    if static:
        out["static-properties"] = static
        if len(static) > 1:
            order = list(info.feature_order)
            for desc in descs:
                order += [f for f in desc.feature_priorities.get(ns, ()) if f not in order]
            out["feature-order"] = [f for f in order if f in static] + [
                f for f in static if f not in order
            ]
    elif info.builtin is not None:
        out["builtin"] = info.builtin
    elif info.requires:
        out["requires"] = list(info.requires)
        if info.plugin_api is not None:
            out["plugin-api"] = info.plugin_api
    elif ns in _KNOWN_PROVIDERS:
        out = dict(_KNOWN_PROVIDERS[ns])
    else:
        raise MappingError(ns, "the provider has no requires, static-properties or builtin")
    if info.optional:
        out["optional"] = True
    return out


def _properties_json(props: Sequence[VariantProperty]) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for prop in props:
        out.setdefault(prop.namespace, {}).setdefault(prop.feature, []).append(prop.value)
    return out


def write_variants_index(descs: Sequence[VariantDescription]) -> dict[str, Any]:
    """A ``{name}-{version}-variants.json`` (variantlib 0.2 form) for variants of one release."""
    if not descs:
        raise MappingError("variants.json", "no variants to write")
    first = descs[0]
    namespaces = list(first.namespace_priorities)
    for desc in descs:
        for ns in [*desc.namespace_priorities, *(p.namespace for p in desc.properties)]:
            if ns not in namespaces:
                namespaces.append(ns)
    providers: dict[str, dict[str, Any]] = {}
    for ns in namespaces:
        entry = _provider_json(ns, descs)
        if entry is not None:
            providers[ns] = entry
    namespaces = [ns for ns in namespaces if ns in providers]
    if not namespaces:
        raise MappingError(
            first.label, "variant metadata needs at least one namespace (the package's providers)"
        )
    data: dict[str, Any] = {
        "$schema": WRITE_SCHEMA,
        "default-priorities": {"namespace": namespaces},
        "providers": providers,
        "variants": {d.label: _properties_json(d.properties) for d in descs},
    }
    return data


def write_variant_json(desc: VariantDescription) -> dict[str, Any]:
    """The ``variant.json`` of one variant wheel, in the form variantlib 0.2.2 reads back."""
    if not _LABEL_RE.fullmatch(desc.label) or (desc.label == NULL_LABEL) != desc.is_null:
        raise MappingError(desc.label, "invalid variant label for these properties")
    return write_variants_index([desc])
