"""Checking CRD schemas and custom resources without an API server.

No kube-apiserver runs here, so two of its checks are done in Python:

- `structural_violations` applies the structural-schema rules the API server enforces on
  a CRD's `openAPIV3Schema` (a CRD that breaks them is refused at `kubectl apply`).
- `resource_errors` validates a custom resource against a CRD the way `kubectl apply`
  with its default strict field validation does: the schema's value validations, unknown
  fields refused (except under `x-kubernetes-preserve-unknown-fields`), `nullable`,
  int-or-string, and `metadata` checked as an ObjectMeta. CEL rules
  (`x-kubernetes-validations`) are not evaluated.
"""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]

_ALLOWED = frozenset({
    "description", "type", "format", "title", "default", "example", "externalDocs",
    "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "multipleOf",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "maxProperties",
    "minProperties", "enum", "required", "items", "properties", "additionalProperties",
    "allOf", "anyOf", "oneOf", "not", "nullable",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-validations",
})  # fmt: skip
_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
_FORBIDDEN_IN_JUNCTORS = frozenset(
    {"description", "type", "default", "additionalProperties", "nullable"}
)
_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
        "generateName": {"type": "string"},
        "namespace": {"type": "string", "maxLength": 63},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "managedFields": {"type": "array", "items": {"type": "object"}},
        "selfLink": {"type": "string"},
    },
}
"""`metadata` as the API server reads it: a key ObjectMeta lacks is an error."""


def structural_violations(schema: dict[str, Any], path: str = "") -> list[str]:
    """Every place `schema` breaks the structural-schema rules (empty: structural)."""
    problems: list[str] = []
    _check_node(schema, path or "openAPIV3Schema", problems, root=True)
    return problems


def _check_node(node: dict[str, Any], path: str, problems: list[str], *, root: bool) -> None:
    problems.extend(f"{path}: {key!r} is not allowed" for key in node if key not in _ALLOWED)
    _check_shape(node, path, problems)
    if root and "metadata" in node.get("properties", {}):
        meta = node["properties"]["metadata"]
        extra = set(meta.get("properties", {})) - {"name", "generateName"}
        if extra or set(meta) - {"type", "properties"}:
            problems.append(f"{path}.metadata: only name/generateName may be restricted")
    for name, child in node.get("properties", {}).items():
        _check_node(child, f"{path}.{name}", problems, root=False)
    if isinstance(node.get("items"), dict):
        _check_node(node["items"], f"{path}[*]", problems, root=False)
    elif "items" in node:
        problems.append(f"{path}: items must be one schema")
    if isinstance(node.get("additionalProperties"), dict):
        _check_node(node["additionalProperties"], f"{path}{{*}}", problems, root=False)
    _check_junctors(node, path, problems)


def _check_junctors(node: dict[str, Any], path: str, problems: list[str]) -> None:
    for junctor in _JUNCTORS:
        if junctor not in node:
            continue
        if node.get("x-kubernetes-int-or-string") is True and node[junctor] == _INT_OR_STRING:
            continue  # the one junctor that may name types
        branches = node[junctor] if isinstance(node[junctor], list) else [node[junctor]]
        for index, branch in enumerate(branches):
            _check_junctor(branch, node, f"{path}.{junctor}[{index}]", problems)


def _check_shape(node: dict[str, Any], path: str, problems: list[str]) -> None:
    """A node's own type: present unless int-or-string or free-form, and coherent."""
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if preserve is not None and preserve is not True:
        problems.append(f"{path}: x-kubernetes-preserve-unknown-fields must be true")
    if not node.get("type") and not int_or_string and preserve is not True:
        problems.append(f"{path}: type is required")
    if int_or_string and "type" in node:
        problems.append(f"{path}: int-or-string must not have a type")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties are exclusive")
    if node.get("additionalProperties") is True:
        problems.append(f"{path}: additionalProperties: true (use preserve-unknown-fields)")


def _check_junctor(
    branch: dict[str, Any], outer: dict[str, Any], path: str, problems: list[str]
) -> None:
    """Inside allOf/anyOf/oneOf/not: value validations of fields declared outside only."""
    for key in branch:
        if key in _FORBIDDEN_IN_JUNCTORS or key.startswith("x-kubernetes-"):
            problems.append(f"{path}: {key!r} is not allowed inside a junctor")
        elif key not in _ALLOWED:
            problems.append(f"{path}: {key!r} is not allowed")
    for name, child in branch.get("properties", {}).items():
        declared = outer.get("properties", {}).get(name)
        if declared is None:
            problems.append(f"{path}.{name}: not declared outside the junctor")
        else:
            _check_junctor(child, declared, f"{path}.{name}", problems)
    if "items" in branch:
        _check_items(branch["items"], outer, path, problems)
    for junctor in _JUNCTORS:
        nested = branch.get(junctor, [])
        for index, inner in enumerate(nested if isinstance(nested, list) else [nested]):
            _check_junctor(inner, outer, f"{path}.{junctor}[{index}]", problems)


def _check_items(
    items: dict[str, Any], outer: dict[str, Any], path: str, problems: list[str]
) -> None:
    if not isinstance(outer.get("items"), dict):
        problems.append(f"{path}[*]: items not declared outside the junctor")
    else:
        _check_junctor(items, outer["items"], f"{path}[*]", problems)


def json_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """An `openAPIV3Schema` as a JSON Schema with the API server's strictness."""
    out: dict[str, Any] = {}
    for key, value in openapi.items():
        if key.startswith("x-kubernetes-") or key in {"nullable", "example", "externalDocs"}:
            continue
        if key == "properties":
            out[key] = {name: json_schema(child) for name, child in value.items()}
        elif key in {"items", "additionalProperties", "not"} and isinstance(value, dict):
            out[key] = json_schema(value)
        elif key in {"allOf", "anyOf", "oneOf"}:
            out[key] = [json_schema(branch) for branch in value]
        else:
            out[key] = value
    if openapi.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        openapi.get("type") == "object"
        and "properties" in openapi
        and not openapi.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def resource_schema(crd: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    """The JSON Schema a custom resource of `crd` (at `version`) must satisfy."""
    spec = crd["spec"]
    served = next(v for v in spec["versions"] if v["name"] == version)
    schema = json_schema(served["schema"]["openAPIV3Schema"])
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    schema["properties"] = {
        **schema["properties"],
        "apiVersion": {"const": f"{spec['group']}/{version}"},
        "kind": {"const": spec["names"]["kind"]},
        "metadata": OBJECT_META,
    }
    return schema


def resource_errors(crd: dict[str, Any], document: Any) -> list[str]:
    """What the API server would refuse in `document` (empty: it would be accepted)."""
    validator = jsonschema.Draft7Validator(resource_schema(crd))
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]
