"""A shared draft using plugin and connector node types publishes like any other."""

from __future__ import annotations

import pytest

from tideflow.collab.publishing import problems_of
from tideflow.core import ProblemCode
from tideflow.plugins import load_registry

pytestmark = pytest.mark.unit

DRAFT = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
    "spec": {"nodes": [
        {"id": "slug", "type": "example.slugify", "config": {"text": "{{ input.t }}"}},
        {"id": "file", "type": "github.create_issue",
         "config": {"owner": "a", "repo": "b", "title": "{{ nodes.slug.output.slug }}"}},
    ], "edges": [{"from": "slug", "to": "file"}]},
}  # fmt: skip


def test_plugin_types_validate_with_the_registry() -> None:
    assert problems_of("w", DRAFT, load_registry().types) == []
    unknown = problems_of("w", DRAFT)  # built-ins only: the types are unknown
    assert {p.code for p in unknown} == {ProblemCode.UNKNOWN_NODE_TYPE}
