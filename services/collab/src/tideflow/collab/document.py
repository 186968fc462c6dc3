"""The shared document of a workflow draft, and its lossless conversion to the definition.

A definition is one JSON object; co-editing it needs finer grains than "replace the whole
thing", so the Yjs document splits it where people edit concurrently:

| root type          | holds                                                          |
| ------------------ | -------------------------------------------------------------- |
| `definition` (Map) | every top-level key but `spec` (apiVersion, kind, metadata...) |
| `spec` (Map)       | every key of `spec` but `nodes` and `edges`                    |
| `nodes` (Array)    | one Map per node: its keys as values, `config` and `ui` as     |
|                    | nested Maps (one register per config field, x and y apart)     |
| `edges` (Array)    | one Map per edge (`from`, `to`, `when`)                        |
| `shape` (Map)      | which of the above hold the definition's parts (`spec`,        |
|                    | `nodes`, `edges`: true), so an absent key stays absent         |

Two people editing different nodes, different config fields of one node, or moving
different nodes never overwrite each other; the same field is last-writer-wins. Anything
that does not fit the structure (a `spec` that is not an object, a node that is not one)
is kept as a plain value where it was, so every JSON object converts both ways.

Numbers: Yjs holds every number as a double (as JavaScript does), so an integral number
reads back as an `int`; integers beyond 2**53 are not exact in the browser either. The
web builder implements the same shape.
"""

from __future__ import annotations

import math
from typing import Any

from pycrdt import Array, Doc, Map

DEFINITION = "definition"
SPEC = "spec"
NODES = "nodes"
EDGES = "edges"
SHAPE = "shape"
NESTED_NODE_KEYS = frozenset({"config", "ui"})
"""Node keys whose object value is a nested Map (a register per field)."""

_SAFE_INTEGER = 2**53


def new_doc(definition: dict[str, Any], *, client_id: int | None = None) -> Doc[Any]:
    """A document holding `definition`."""
    doc: Doc[Any] = Doc(client_id=client_id)
    write_definition(doc, definition)
    return doc


def roots(doc: Doc[Any]) -> tuple[Map, Map, Array, Array, Map]:  # type: ignore[type-arg]
    """The document's root types (created empty when missing)."""
    return (
        doc.get(DEFINITION, type=Map),
        doc.get(SPEC, type=Map),
        doc.get(NODES, type=Array),
        doc.get(EDGES, type=Array),
        doc.get(SHAPE, type=Map),
    )


def _objects(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def node_map(node: dict[str, Any]) -> Map:  # type: ignore[type-arg]
    """A node as a Map: `config` and `ui` objects nested, everything else a plain value."""
    fields: dict[str, Any] = {}
    for key, value in node.items():
        if key in NESTED_NODE_KEYS and isinstance(value, dict):
            fields[key] = Map(dict(value))
        else:
            fields[key] = value
    return Map(fields)


def write_definition(doc: Doc[Any], definition: dict[str, Any]) -> None:
    """Replace the document's content by `definition`, in one transaction."""
    top, spec_map, nodes, edges, shape = roots(doc)
    with doc.transaction():
        for root in (top, spec_map, shape):
            root.clear()
        nodes.clear()
        edges.clear()
        spec = definition.get("spec")
        for key, value in definition.items():
            if key != "spec" or not isinstance(spec, dict):
                top[key] = value
        if not isinstance(spec, dict):
            return
        shape["spec"] = True
        for key, value in spec.items():
            if key == "nodes" and _objects(value):
                shape["nodes"] = True
                nodes.extend([node_map(n) for n in value])
            elif key == "edges" and _objects(value):
                shape["edges"] = True
                edges.extend([Map(dict(e)) for e in value])
            else:
                spec_map[key] = value


def read_definition(doc: Doc[Any]) -> dict[str, Any]:
    """The definition the document holds now."""
    top, spec_map, nodes, edges, shape = roots(doc)
    definition: dict[str, Any] = {key: plain(value) for key, value in top.items()}
    if shape.get("spec") is True:
        spec: dict[str, Any] = {key: plain(value) for key, value in spec_map.items()}
        if shape.get("nodes") is True:
            spec["nodes"] = [plain(n) for n in nodes]
        if shape.get("edges") is True:
            spec["edges"] = [plain(e) for e in edges]
        definition["spec"] = spec
    return definition


def plain(value: Any) -> Any:
    """A document value as JSON: shared types unwrapped, integral doubles back to ints."""
    if isinstance(value, Map):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, Array):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    integral = isinstance(value, float) and math.isfinite(value) and value.is_integer()
    if integral and abs(value) <= _SAFE_INTEGER:
        return int(value)
    return value
