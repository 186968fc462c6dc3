"""The parsed-version cache: one parse per (tenant, workflow, version), bounded, no leaks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tideflow.core import DefinitionError
from tideflow.gateway.versions import VersionCache
from tideflow.store import WorkflowVersion

pytestmark = pytest.mark.unit


def _version(workflow: str, number: int, message: str = "hi") -> WorkflowVersion:
    document: dict[str, Any] = {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": workflow},
        "spec": {"nodes": [{"id": "say", "type": "log", "config": {"message": message}}]},
    }
    return WorkflowVersion(workflow, number, document, datetime.now(UTC))


def test_a_version_is_parsed_once_and_kept_per_tenant() -> None:
    cache = VersionCache()
    first = cache.parse("a", _version("wf", 1))
    assert cache.parse("a", _version("wf", 1, message="ignored: versions are immutable")) is first
    other_tenant = cache.parse("b", _version("wf", 1, message="theirs"))
    assert other_tenant is not first
    assert other_tenant.spec.nodes[0].config["message"] == "theirs"
    assert cache.parse("a", _version("wf", 2)) is not first
    assert len(cache) == 3


def test_the_least_recently_used_version_is_dropped() -> None:
    cache = VersionCache(capacity=2)
    one = cache.parse("t", _version("wf", 1))
    cache.parse("t", _version("wf", 2))
    assert cache.parse("t", _version("wf", 1)) is one  # now the most recent
    cache.parse("t", _version("wf", 3))  # evicts version 2
    assert len(cache) == 2
    assert cache.parse("t", _version("wf", 1)) is one
    assert cache.parse("t", _version("wf", 2, message="again")).spec.nodes[0].config == {
        "message": "again"
    }


def test_an_invalid_version_raises_and_is_not_kept() -> None:
    cache = VersionCache()
    broken = WorkflowVersion("wf", 1, {"kind": "Workflow"}, datetime.now(UTC))
    with pytest.raises(DefinitionError):
        cache.parse("t", broken)
    assert len(cache) == 0
