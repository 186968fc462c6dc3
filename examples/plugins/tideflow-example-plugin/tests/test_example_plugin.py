"""The sample plugin's own tests: its handlers, and that Tideflow finds it once installed."""

from __future__ import annotations

import hashlib
import hmac
import logging

import httpx
import pytest
from tideflow_example_plugin import DIGEST, SLUGIFY, digest, slugify

from tideflow.core import Execution, validate_definition
from tideflow.core.testing import LocalRun
from tideflow.plugins import NodeContext, NodeError, load_registry

pytestmark = pytest.mark.unit


def context(secrets: dict[str, str] | None = None) -> NodeContext:
    return NodeContext(
        run_id="r", node_id="n", attempt=1, tenant_id="default", node_type="example.digest",
        idempotency_key=None, deadline=None, http=httpx.AsyncClient(), secrets=secrets or {},
        logger=logging.getLogger("test"),
    )  # fmt: skip


def test_slugify() -> None:
    assert slugify({"text": "Hello, Wörld!"}) == {"slug": "hello-world"}
    assert slugify({"text": "A  B", "separator": "_"}) == {"slug": "a_b"}


async def test_digest_plain_and_keyed() -> None:
    plain = await digest({"text": "abc"}, context())
    assert plain["digest"] == hashlib.sha256(b"abc").hexdigest()
    keyed = await digest({"text": "abc", "secret": "K"}, context({"K": "key"}))
    assert keyed["digest"] == hmac.new(b"key", b"abc", "sha256").hexdigest()


async def test_digest_failures_are_node_errors() -> None:
    with pytest.raises(NodeError) as missing:
        await digest({"text": "abc", "secret": "NOPE"}, context())
    assert missing.value.type == "SecretNotFound"
    with pytest.raises(NodeError) as mismatch:
        await digest({"text": "abc", "expect": "00"}, context())
    assert mismatch.value.type == "DigestMismatch"
    assert not mismatch.value.retryable


def test_installed_entry_point_is_found() -> None:
    registry = load_registry()
    assert registry.specs["example.slugify"] is SLUGIFY
    assert registry.specs["example.digest"] is DIGEST
    assert registry.types["example.slugify"].execution is Execution.INLINE
    assert registry.types["example.digest"].execution is Execution.DISPATCH
    assert registry.types["example.digest"].source == "tideflow-example-plugin"


def test_a_run_evaluates_the_inline_type() -> None:
    types = load_registry().types
    definition = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "slug"},
        "spec": {
            "nodes": [{"id": "s", "type": "example.slugify", "config": {"text": "{{ input.t }}"}}],
            "output": "{{ nodes.s.output.slug }}",
        },
    }  # fmt: skip
    assert validate_definition(definition, types) == []
    run = LocalRun(definition, types=types)
    run.start({"t": "Tide Flow"})
    assert run.state.status == "succeeded"
    assert run.state.output == "tide-flow"
