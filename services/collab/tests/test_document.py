"""The Yjs document of a draft converts to and from the definition without loss."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map

from tideflow.collab.document import new_doc, read_definition, roots, write_definition

pytestmark = pytest.mark.unit

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
node_ids = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
nodes = st.fixed_dictionaries(
    {"id": node_ids, "type": st.sampled_from(["log", "http", "condition", "set"])},
    optional={
        "name": st.text(max_size=10),
        "config": st.dictionaries(st.text(max_size=8), json_values, max_size=5) | json_values,
        "ui": st.fixed_dictionaries({"x": st.integers(-5000, 5000), "y": st.integers(-5000, 5000)})
        | json_values,
        "retry": st.fixed_dictionaries({"maxAttempts": st.integers(1, 10)}),
        "timeout": st.sampled_from(["1s", "30s", "2m"]),
        "compensate": node_ids,
        "join": st.sampled_from(["all", "any"]),
    },
)
edges = st.fixed_dictionaries(
    {"from": node_ids, "to": node_ids}, optional={"when": st.text(max_size=6)}
)
specs = st.fixed_dictionaries(
    {},
    optional={
        "nodes": st.lists(nodes, max_size=6) | json_values,
        "edges": st.lists(edges, max_size=6) | json_values,
        "input": json_values,
        "triggers": st.lists(
            st.dictionaries(st.text(max_size=5), json_values, max_size=3), max_size=2
        ),
        "vars": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    },
)
definitions = st.fixed_dictionaries(
    {
        "apiVersion": st.just("tideflow.io/v1"),
        "kind": st.just("Workflow"),
        "metadata": st.fixed_dictionaries({"name": node_ids}),
    },
    optional={"spec": specs | json_values, "extra": json_values},
)


def normalized(value: Any) -> Any:
    """JSON equality: numbers compare by value (Yjs keeps doubles, as JavaScript)."""
    return value


@settings(max_examples=300, deadline=None)
@given(definitions)
def test_a_definition_survives_the_document(definition: dict[str, Any]) -> None:
    assert read_definition(new_doc(definition)) == definition


@settings(max_examples=150, deadline=None)
@given(definitions)
def test_the_document_survives_its_encoding(definition: dict[str, Any]) -> None:
    """What a browser receives (the encoded state) decodes to the same definition."""
    other = Doc()
    other.apply_update(new_doc(definition).get_update())
    assert read_definition(other) == definition


@settings(max_examples=100, deadline=None)
@given(definitions, definitions)
def test_rewriting_replaces_everything(first: dict[str, Any], second: dict[str, Any]) -> None:
    doc = new_doc(first)
    write_definition(doc, second)
    assert read_definition(doc) == second


@settings(max_examples=100, deadline=None)
@given(definitions)
def test_read_then_write_is_a_fixed_point(definition: dict[str, Any]) -> None:
    once = read_definition(new_doc(definition))
    assert read_definition(new_doc(once)) == once


def test_integral_numbers_read_back_as_integers() -> None:
    definition = {"spec": {"nodes": [{"id": "a", "type": "log", "retry": {"maxAttempts": 3}}]}}
    read = read_definition(new_doc(definition))
    attempts = read["spec"]["nodes"][0]["retry"]["maxAttempts"]
    assert attempts == 3
    assert isinstance(attempts, int)


def test_concurrent_edits_of_different_config_fields_merge() -> None:
    base = {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {
            "nodes": [
                {
                    "id": "a",
                    "type": "http",
                    "config": {"url": "x", "method": "GET"},
                    "ui": {"x": 0, "y": 0},
                }
            ],
            "edges": [],
        },
    }
    alice, bob = Doc(), Doc()
    seed = new_doc(base).get_update()
    alice.apply_update(seed)
    bob.apply_update(seed)
    a_node = roots(alice)[2][0]
    b_node = roots(bob)[2][0]
    assert isinstance(a_node, Map)
    assert isinstance(b_node, Map)
    a_node["config"]["url"] = "https://example.org"
    b_node["config"]["method"] = "POST"
    b_node["ui"]["x"] = 120
    alice.apply_update(bob.get_update(alice.get_state()))
    bob.apply_update(alice.get_update(bob.get_state()))
    assert read_definition(alice) == read_definition(bob)
    node = read_definition(alice)["spec"]["nodes"][0]
    assert node["config"] == {"url": "https://example.org", "method": "POST"}
    assert node["ui"] == {"x": 120, "y": 0}
