"""A workflow-chosen OCR `endpointUrl` never receives requests signed with the worker's
own AWS credentials, unless the operator allows its host.

The local Textract (`textract`, conftest) plays the endpoint a workflow names and records
every request's signing key (SigV4: `Credential=<access key id>/...`); it answers as
Textract does to a bad parameter, so each attempt ends after one request. The worker's
credentials are set in the environment as the default chain would find them
(`aws_worker`).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tideflow.core import ProblemCode, validate_definition
from tideflow.nodes import EgressPolicy, OcrHandler, StepFailure, TaskSpec
from tideflow.nodes.testing import FakeTextract, StaticSecrets, TextractRequest

pytestmark = pytest.mark.unit

LOCAL = EgressPolicy(allow_loopback=True)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image").decode()
WORKFLOW_KEY = "AKIAWORKFLOWKEY00002"
SECRETS = StaticSecrets(
    {"OCR_KEY_ID": WORKFLOW_KEY, "OCR_SECRET": "wf-secret", "OCR_TOKEN": "wf-token"},
    tenant="default",
)


Endpoint = tuple[str, list[TextractRequest]]


@pytest.fixture
def endpoint(textract: FakeTextract, aws_worker: str) -> Endpoint:
    """A workflow's endpoint (answering as Textract refuses a bad parameter) and what it
    received."""
    assert aws_worker
    textract.reset(refuse=True)
    return textract.url, textract.requests


def task(url: str, **config: Any) -> TaskSpec:
    return TaskSpec("run-1", "scan", 1, "ocr", {"document": PNG, "region": "us-east-1",
                                                "endpointUrl": url, **config})  # fmt: skip


async def test_a_workflow_endpoint_without_its_own_credentials_is_refused_unsigned(
    endpoint: Endpoint,
) -> None:
    url, seen = endpoint
    outcome = await OcrHandler(policy=LOCAL, endpoint_hosts=[]).run(task(url))
    assert isinstance(outcome, StepFailure), outcome
    assert outcome.error_type == "OcrEndpointNotAllowed"
    assert not outcome.retryable
    assert "TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS" in outcome.message
    assert seen == []  # not a single request, signed or not


async def test_the_workflows_own_credentials_sign_for_its_endpoint(
    endpoint: Endpoint, aws_worker: str
) -> None:
    url, seen = endpoint
    handler = OcrHandler(policy=LOCAL, secrets=SECRETS, endpoint_hosts=[])
    outcome = await handler.run(
        task(url, accessKeyIdSecret="OCR_KEY_ID", secretAccessKeySecret="OCR_SECRET",
             sessionTokenSecret="OCR_TOKEN")
    )  # fmt: skip
    assert isinstance(outcome, StepFailure), outcome
    assert outcome.error_type == "TextractInvalidParameter"  # the endpoint's own answer
    [request] = seen
    assert request.key_id == WORKFLOW_KEY
    assert "Credential=" in request.authorization
    assert aws_worker not in request.authorization


async def test_an_endpoint_the_operator_allows_gets_the_workers_signature(
    endpoint: Endpoint, aws_worker: str
) -> None:
    url, seen = endpoint
    port = url.rsplit(":", 1)[1]
    for hosts in (["127.0.0.1"], [f"127.0.0.1:{port}"]):
        await OcrHandler(policy=LOCAL, endpoint_hosts=hosts).run(task(url))
    assert len(seen) == 2
    assert all(request.key_id == aws_worker for request in seen)
    other = await OcrHandler(policy=LOCAL, endpoint_hosts=["127.0.0.1:1", "*.example.com"]).run(
        task(url)
    )
    assert isinstance(other, StepFailure)
    assert other.error_type == "OcrEndpointNotAllowed"
    assert len(seen) == 2


async def test_the_operators_endpoint_is_trusted(
    endpoint: Endpoint,
) -> None:
    """The handler's own `endpoint_url` (configured by the operator) is not the workflow's."""
    url, seen = endpoint
    spec = TaskSpec("run-1", "scan", 1, "ocr", {"document": PNG, "region": "us-east-1"})
    await OcrHandler(policy=LOCAL, endpoint_url=url, endpoint_hosts=[]).run(spec)
    assert len(seen) == 1


async def test_a_missing_credential_secret_fails_for_good(
    endpoint: Endpoint,
) -> None:
    url, seen = endpoint
    handler = OcrHandler(policy=LOCAL, secrets=SECRETS, endpoint_hosts=[])
    outcome = await handler.run(
        task(url, accessKeyIdSecret="NOPE", secretAccessKeySecret="OCR_SECRET")
    )
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == ("SecretNotFound", False)
    assert seen == []


@pytest.mark.parametrize(
    "credentials",
    [{"accessKeyIdSecret": "K"}, {"secretAccessKeySecret": "S"}, {"sessionTokenSecret": "T"}],
)
def test_half_a_credential_is_refused_at_publish_naming_the_node(
    credentials: dict[str, str],
) -> None:
    definition = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "o"},
        "spec": {"nodes": [{"id": "scan", "type": "ocr",
                            "config": {"document": "s3://a/b", **credentials}}]},
    }  # fmt: skip
    [problem] = validate_definition(definition)
    assert (problem.code, problem.node) == (ProblemCode.INVALID_CONFIG, "scan")
