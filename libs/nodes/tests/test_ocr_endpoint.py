"""A workflow-chosen OCR `endpointUrl` never receives requests signed with the worker's
own AWS credentials, unless the operator allows its host.

A local HTTP server plays the endpoint a workflow names and records every request's
`Authorization` header (SigV4: `Credential=<access key id>/...`); it answers as Textract
does to a bad parameter, so each attempt ends after one request. The worker's credentials
are set in the environment as the default chain would find them.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tideflow.core import ProblemCode, validate_definition
from tideflow.nodes import EgressPolicy, OcrHandler, StepFailure, TaskSpec

pytestmark = pytest.mark.unit

LOCAL = EgressPolicy(allow_loopback=True)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image").decode()
WORKER_KEY = "AKIAWORKERKEY0000001"
WORKFLOW_KEY = "AKIAWORKFLOWKEY00002"


class Secrets:
    async def secrets(self, tenant_id: str) -> dict[str, str]:
        assert tenant_id == "default"
        return {"OCR_KEY_ID": WORKFLOW_KEY, "OCR_SECRET": "wf-secret", "OCR_TOKEN": "wf-token"}


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", WORKER_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    seen: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append(self.headers.get("authorization", ""))
            body = json.dumps({"__type": "InvalidParameterException", "message": "no"})
            data = body.encode()
            self.send_response(400)
            self.send_header("content-type", "application/x-amz-json-1.1")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def task(url: str, **config: Any) -> TaskSpec:
    return TaskSpec("run-1", "scan", 1, "ocr", {"document": PNG, "region": "us-east-1",
                                                "endpointUrl": url, **config})  # fmt: skip


async def test_a_workflow_endpoint_without_its_own_credentials_is_refused_unsigned(
    endpoint: tuple[str, list[str]],
) -> None:
    url, seen = endpoint
    outcome = await OcrHandler(policy=LOCAL, endpoint_hosts=[]).run(task(url))
    assert isinstance(outcome, StepFailure), outcome
    assert outcome.error_type == "OcrEndpointNotAllowed"
    assert not outcome.retryable
    assert "TIDEFLOW_EGRESS_AWS_ENDPOINT_HOSTS" in outcome.message
    assert seen == []  # not a single request, signed or not


async def test_the_workflows_own_credentials_sign_for_its_endpoint(
    endpoint: tuple[str, list[str]],
) -> None:
    url, seen = endpoint
    handler = OcrHandler(policy=LOCAL, secrets=Secrets(), endpoint_hosts=[])
    outcome = await handler.run(
        task(url, accessKeyIdSecret="OCR_KEY_ID", secretAccessKeySecret="OCR_SECRET",
             sessionTokenSecret="OCR_TOKEN")
    )  # fmt: skip
    assert isinstance(outcome, StepFailure), outcome
    assert outcome.error_type == "TextractInvalidParameter"  # the endpoint's own answer
    assert len(seen) == 1
    assert f"Credential={WORKFLOW_KEY}/" in seen[0]
    assert WORKER_KEY not in seen[0]


async def test_an_endpoint_the_operator_allows_gets_the_workers_signature(
    endpoint: tuple[str, list[str]],
) -> None:
    url, seen = endpoint
    port = url.rsplit(":", 1)[1]
    for hosts in (["127.0.0.1"], [f"127.0.0.1:{port}"]):
        await OcrHandler(policy=LOCAL, endpoint_hosts=hosts).run(task(url))
    assert len(seen) == 2
    assert all(f"Credential={WORKER_KEY}/" in header for header in seen)
    other = await OcrHandler(policy=LOCAL, endpoint_hosts=["127.0.0.1:1", "*.example.com"]).run(
        task(url)
    )
    assert isinstance(other, StepFailure)
    assert other.error_type == "OcrEndpointNotAllowed"
    assert len(seen) == 2


async def test_the_operators_endpoint_is_trusted(endpoint: tuple[str, list[str]]) -> None:
    """The handler's own `endpoint_url` (configured by the operator) is not the workflow's."""
    url, seen = endpoint
    spec = TaskSpec("run-1", "scan", 1, "ocr", {"document": PNG, "region": "us-east-1"})
    await OcrHandler(policy=LOCAL, endpoint_url=url, endpoint_hosts=[]).run(spec)
    assert len(seen) == 1


async def test_a_missing_credential_secret_fails_for_good(endpoint: tuple[str, list[str]]) -> None:
    url, seen = endpoint
    handler = OcrHandler(policy=LOCAL, secrets=Secrets(), endpoint_hosts=[])
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
