"""A YAML alias bomb is refused as bad YAML, wherever definition or connector YAML is read.

PyYAML composes aliases as shared nodes, so a billion-laughs document loaded in an instant
as a DAG; everything after it (validation, JSON encoding, the API request) walked the DAG
expanded: ten levels of ten aliases is 10^10 strings. An alias to the node that contains it
made a cycle that no JSON encoder can write. Both are refused while the document is read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tideflow.cli._yaml import load_yaml as cli_load_yaml
from tideflow.core import BUILTIN_NODE_TYPES, ProblemCode, load_yaml, validate_definition

pytestmark = pytest.mark.unit

LOADERS = pytest.mark.parametrize("load", [load_yaml, cli_load_yaml], ids=["core", "cli"])


def laughs(levels: int = 10, width: int = 10) -> str:
    """The billion laughs: each level is `width` aliases of the one before."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


BOMB_DEFINITION = (
    "apiVersion: tideflow.io/v1\nkind: Workflow\nmetadata: {name: bomb}\n"
    "spec:\n  vars:\n" + "".join(f"    {line}\n" for line in laughs().splitlines())
    + "  nodes: [{id: a, type: transform, config: {value: '{{ vars.a9 }}'}}]\n"
)  # fmt: skip


@LOADERS
def test_a_billion_laughs_is_refused(load: Callable[[str], Any]) -> None:
    with pytest.raises(yaml.YAMLError, match="aliases expand"):
        load(laughs())


@LOADERS
def test_an_alias_inside_its_own_anchor_is_refused(load: Callable[[str], Any]) -> None:
    with pytest.raises(yaml.YAMLError, match="contains it"):
        load("a: &loop [1, *loop]")
    with pytest.raises(yaml.YAMLError, match="contains it"):
        load("a: &loop {b: {c: *loop}}")


@LOADERS
def test_ordinary_anchors_aliases_and_merges_still_work(load: Callable[[str], Any]) -> None:
    text = (
        "retry: &retry {maxAttempts: 3, backoff: exponential}\n"
        "a: {retry: *retry}\nb: {<<: *retry, maxAttempts: 5}\n"
        "many: [" + ", ".join(["*retry"] * 200) + "]\n"
    )
    document = load(text)
    assert document["a"]["retry"] == {"maxAttempts": 3, "backoff": "exponential"}
    assert document["b"] == {"maxAttempts": 5, "backoff": "exponential"}
    assert len(document["many"]) == 200


@LOADERS
def test_a_big_document_without_aliases_is_not_an_expansion(load: Callable[[str], Any]) -> None:
    text = "items: [" + ", ".join(["x" * 400_000] * 3) + "]"  # 1.2M characters, no alias
    assert [len(item) for item in load(text)["items"]] == [400_000] * 3


def test_validate_reports_a_parse_error() -> None:
    problems = validate_definition(BOMB_DEFINITION, BUILTIN_NODE_TYPES)
    assert [p.code for p in problems] == [ProblemCode.PARSE_ERROR]
    assert "aliases expand" in problems[0].message


def test_the_cli_refuses_the_file_with_invalid_yaml(tmp_path: Path) -> None:
    from tideflow.cli import workflow as workflow_cli

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB_DEFINITION)
    result = CliRunner().invoke(workflow_cli.app, ["validate", "-f", str(bomb)])
    assert result.exit_code == 2, result.output
    assert "error INVALID_YAML" in result.output
    assert "aliases expand" in result.output
    assert "Traceback" not in result.output


async def test_dev_skips_a_bomb_in_examples_and_applies_the_rest(tmp_path: Path) -> None:
    import json

    from tideflow.cli.dev import apply_examples
    from tideflow.store import InMemoryEventStore

    (tmp_path / "bomb.yaml").write_text(BOMB_DEFINITION)
    node = {"id": "greet", "type": "transform", "config": {"value": 1}}
    hello = {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "hello"},
             "spec": {"nodes": [node]}}  # fmt: skip
    (tmp_path / "hello.yaml").write_text(json.dumps(hello))
    applied, _ = await apply_examples(InMemoryEventStore(), tmp_path)
    assert applied == ["hello"]


def test_a_connector_file_with_a_bomb_is_a_connector_error() -> None:
    from tideflow.connectors import ConnectorError, load_connector

    with pytest.raises(ConnectorError, match="aliases expand"):
        load_connector(laughs(), source="bomb.yaml")
