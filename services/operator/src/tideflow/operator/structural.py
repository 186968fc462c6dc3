"""Pydantic JSON Schema -> Kubernetes structural OpenAPI v3 schema.

A CRD's `openAPIV3Schema` must be *structural*
(kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions):
every node has a `type` (or `x-kubernetes-preserve-unknown-fields` /
`x-kubernetes-int-or-string`), there is no `$ref`, `const`, `discriminator` or
`additionalProperties: true`, and inside `allOf`/`anyOf`/`oneOf`/`not` only value
validations appear, every field of which is also declared outside them. Pydantic writes
none of that, so this module rewrites its output:

- `$ref` is inlined; `Optional[X]` (`anyOf: [X, null]`) becomes `X` with `nullable`;
- free-form values (`Any`, `dict[str, Any]`) keep unknown fields;
- durations (`timedelta` fields reading `30s`) are int-or-string with our pattern;
- a discriminated union (trigger types) becomes one object declaring every field of every
  variant, plus a `oneOf` that pins each variant's `type`, its required fields and the
  fields it must not carry (what `extra="forbid"` means in the model);
- defaults are dropped: the API server would write them into the stored object, and the
  gateway, not Kubernetes, owns a definition's defaults.

The output is a pure function of the models, so the committed CRDs can be compared with
a fresh generation in a test.
"""

from __future__ import annotations

from typing import Any

DURATION_PATTERN = r"^\s*([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+\s*$"
"""What `tideflow.core` durations read (`500ms`, `1h30m`, `3d`); plain integers are seconds."""

_DROPPED = frozenset({"title", "default", "discriminator", "examples"})
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")


class SchemaConversionError(ValueError):
    """A model uses a JSON Schema shape with no structural equivalent here."""


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    """The structural form of a pydantic `model_json_schema(by_alias=True)` output."""
    definitions: dict[str, Any] = schema.get("$defs", {})
    body = {k: v for k, v in schema.items() if k != "$defs"}
    return _convert(body, definitions)


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    name = ref.removeprefix("#/$defs/")
    if name not in definitions:
        raise SchemaConversionError(f"unknown reference {ref}")
    merged = dict(definitions[name])
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return _resolve(merged, definitions)


def _convert(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node, definitions)
    if "anyOf" in node:
        return _optional(node, node["anyOf"], definitions)
    if "oneOf" in node:
        return _union(node, definitions)
    if node.get("format") == "duration":
        return _duration(node)
    out: dict[str, Any] = {}
    if "description" in node:
        out["description"] = node["description"]
    kind = node.get("type")
    if kind is None:  # `Any`: whatever the author wrote is kept
        out["x-kubernetes-preserve-unknown-fields"] = True
        return out
    out["type"] = kind
    if "const" in node:
        out["enum"] = [node["const"]]
    for key, value in node.items():
        if key not in _DROPPED and key not in {"description", "type", "const", "$ref"}:
            _keyword(out, key, value, definitions)
    if kind == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _keyword(out: dict[str, Any], key: str, value: Any, definitions: dict[str, Any]) -> None:
    if key == "properties":
        out["properties"] = {name: _convert(prop, definitions) for name, prop in value.items()}
    elif key == "items":
        out["items"] = _convert(value, definitions)
    elif key == "additionalProperties":
        if value is True or value == {}:
            out["x-kubernetes-preserve-unknown-fields"] = True
        elif isinstance(value, dict):
            out["additionalProperties"] = _convert(value, definitions)
        # False: structural objects drop (or, validated strictly, refuse) unknown fields
    elif key in _JUNCTORS or key in {"prefixItems", "$defs", "patternProperties"}:
        raise SchemaConversionError(f"no structural form for {key!r}")
    else:
        out[key] = value


def _optional(
    node: dict[str, Any], any_of: list[dict[str, Any]], definitions: dict[str, Any]
) -> dict[str, Any]:
    """`X | None` is X, nullable; any other `anyOf` has no structural form here."""
    choices = [c for c in any_of if c.get("type") != "null"]
    if len(choices) != 1 or len(choices) == len(any_of):
        raise SchemaConversionError(f"only `X | None` unions are supported, not {any_of}")
    inner = dict(choices[0])
    for key in ("description",):
        if key in node:
            inner[key] = node[key]
    out = _convert(inner, definitions)
    out["nullable"] = True
    return out


def _duration(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "description" in node:
        out["description"] = node["description"]
    out["x-kubernetes-int-or-string"] = True
    # exactly this anyOf: the one place a structural schema may name types in a junctor
    out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    out["minimum"] = 0  # value validations apply to the type they concern only
    out["pattern"] = DURATION_PATTERN
    return out


def _union(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A tagged union as one structural object with a `oneOf` of value validations."""
    variants = [_resolve(v, definitions) for v in node["oneOf"]]
    tag = node.get("discriminator", {}).get("propertyName")
    if tag is None or any(v.get("type") != "object" for v in variants):
        raise SchemaConversionError("only discriminated unions of objects are supported")
    properties: dict[str, Any] = {}
    for variant in variants:
        for name, prop in variant.get("properties", {}).items():
            converted = _convert(prop, definitions)
            if name == tag:
                converted.pop("enum", None)
            if name in properties and properties[name] != converted:
                raise SchemaConversionError(f"variants disagree on the schema of {name!r}")
            properties[name] = converted
    tags = [v["properties"][tag]["const"] for v in variants]
    properties[tag]["enum"] = tags
    one_of = []
    for variant, value in zip(variants, tags, strict=True):
        own = set(variant.get("properties", {}))
        foreign = sorted(set(properties) - own)
        choice: dict[str, Any] = {
            "properties": {tag: {"enum": [value]}},
            "required": sorted(set(variant.get("required", [])) | {tag}),
        }
        if foreign:
            choice["not"] = {"anyOf": [{"required": [name]} for name in foreign]}
        one_of.append(choice)
    out: dict[str, Any] = {"type": "object"}
    if "description" in node:
        out["description"] = node["description"]
    out["required"] = [tag]
    out["properties"] = properties
    out["oneOf"] = one_of
    return out
