"""The publish policy's ocr check, exhaustively over what decides it: an endpoint or
none, the node's own credentials or the worker's, a literal or a templated URL, and the
operator's allowed hosts (patterns and ports as the worker reads them)."""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.core import (
    ProblemCode,
    PublishPolicy,
    policy_applies,
    policy_problems,
    validate_definition,
)
from tideflow.settings import EgressSettings

pytestmark = pytest.mark.unit

OWN = {"accessKeyIdSecret": "KEY_ID", "secretAccessKeySecret": "KEY"}


def _document(**config: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
        "spec": {"nodes": [{"id": "scan", "type": "ocr",
                            "config": {"document": "s3://inbox/a.png", **config}}]},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("config", "hosts", "refused"),
    [
        ({}, (), False),
        ({"endpointUrl": "https://c.example"}, (), True),
        ({"endpointUrl": "https://c.example", **OWN}, (), False),
        ({"endpointUrl": "https://c.example"}, ("c.example",), False),
        ({"endpointUrl": "https://a.corp.example"}, ("*.corp.example",), False),
        ({"endpointUrl": "https://corp.example.evil"}, ("*.corp.example",), True),
        ({"endpointUrl": "https://c.example:8443"}, ("c.example:443",), True),
        ({"endpointUrl": "https://c.example"}, ("c.example:443",), False),
        ({"endpointUrl": "{{ input.endpoint }}"}, (), True),
        ({"endpointUrl": "{{ input.endpoint }}"}, ("c.example",), False),
        ({"endpointUrl": "{{ input.endpoint }}", **OWN}, (), False),
    ],
)  # fmt: skip
def test_an_endpoint_without_credentials_needs_an_allowed_host(
    config: dict[str, Any], hosts: tuple[str, ...], refused: bool
) -> None:
    document = _document(**config)
    assert validate_definition(document) == []  # well-formed either way
    egress = EgressSettings(aws_endpoint_hosts=list(hosts))
    policy = PublishPolicy(hosts, egress.aws_endpoint_allowed)
    problems = policy_problems(document, policy)
    assert bool(problems) is refused
    for problem in problems:
        assert problem.code is ProblemCode.OCR_ENDPOINT_NOT_ALLOWED
        assert problem.path == "spec.nodes[0].config.endpointUrl"
        assert problem.node == "scan"
        assert problem.message.startswith("node 'scan': ")


@pytest.mark.parametrize(
    "document",
    [None, [], {"spec": None}, {"spec": {"nodes": "x"}}, {"spec": {"nodes": [1, {"type": 3}]}},
     {"spec": {"nodes": [{"id": "s", "type": "ocr", "config": {"endpointUrl": 5}}]}},
     {"spec": {"nodes": [{"id": "s", "type": "ocr", "config": []}]}},
     {"spec": {"nodes": [{"id": "f", "type": "foreach", "config": {"node": "ocr"}}]}}],
)  # fmt: skip
def test_a_malformed_document_is_left_to_the_validator(document: Any) -> None:
    assert policy_problems(document, PublishPolicy()) == []


def test_a_version_published_earlier_still_parses() -> None:
    """The policy is not part of `validate_definition`: stored versions are read by the
    scheduler and the trigger service whatever the operator's policy is now (the worker
    refuses the step at run time)."""
    assert validate_definition(_document(endpointUrl="https://c.example")) == []


def _spec(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
            "spec": {"nodes": [{"id": "a", "type": "transform", "config": {"value": 1}}],
                     **spec}}  # fmt: skip


@pytest.mark.parametrize(
    ("document", "applies"),
    [
        (_spec(), False),
        (_spec(triggers=[{"id": "t", "type": "cron", "schedule": "0 2 * * *"}]), False),
        (_spec(triggers=[{"id": "t", "type": "event", "topic": "orders"}]), True),
        (_document(), True),
        (_spec(nodes=[{"id": "each", "type": "foreach",
                       "config": {"items": "{{ input }}",
                                  "node": {"type": "ocr", "config": {"document": "x"}}}}]), True),
        (_spec(nodes=[{"id": "each", "type": "foreach",
                       "config": {"items": "{{ input }}", "node": {"type": "transform"}}}]), False),
        (_spec(triggers=["not a trigger", {"type": "event"}]), False),
        ({"spec": "not a spec"}, False),
    ],
)  # fmt: skip
def test_the_policy_applies_only_to_what_it_checks(document: Any, applies: bool) -> None:
    """`tide workflow validate` reads the operator's settings only when this says so, so
    it must say so whenever `policy_problems` could find anything."""
    assert policy_applies(document) is applies
    strict = PublishPolicy((), topic_prefix="orders")  # refuses every endpoint and "orders.*"
    if not applies:
        assert policy_problems(document, strict) == []
