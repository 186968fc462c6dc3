"""`ocr` nodes against moto's Textract (a local server with seeded blocks): the sync API,
async jobs handed back to the engine as pending polls, failures and their retryability."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.server import ThreadedMotoServer
from moto.textract.models import TextractBackend, textract_backends

from tideflow.core import ProblemCode, validate_definition
from tideflow.nodes import EgressPolicy, OcrHandler, StepFailure, StepPending, StepSuccess, TaskSpec
from tideflow.nodes.testing import invoice_blocks

pytestmark = pytest.mark.unit

LOCAL = EgressPolicy(allow_loopback=True)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image").decode()


@pytest.fixture(scope="module")
def textract() -> Iterator[str]:
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        os.environ.setdefault(name, value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = TextractBackend.BLOCKS
    TextractBackend.BLOCKS = invoice_blocks(vendor="ACME GmbH", amount="1,250.00")
    yield f"http://127.0.0.1:{port}"
    TextractBackend.BLOCKS = saved
    server.stop()


def on_moto(textract: str) -> OcrHandler:
    """The worker's credentials, which the operator lets read the test's buckets."""
    return OcrHandler(policy=LOCAL, endpoint_url=textract, region="us-east-1",
                      s3_buckets=["inbox", "a"])  # fmt: skip


def task(config: dict[str, Any], poll_state: Any = None) -> TaskSpec:
    return TaskSpec("run-1", "scan", 1, "ocr", config, poll_state=poll_state)


def backend() -> Any:
    return textract_backends["123456789012"]["us-east-1"]


async def test_sync_reads_text_key_values_and_tables(textract: str) -> None:
    handler = on_moto(textract)
    outcome = await handler.run(task({"document": PNG, "features": ["FORMS", "TABLES"],
                                      "mode": "sync"}))  # fmt: skip
    # moto has no AnalyzeDocument: FORMS/TABLES in sync mode is refused by the stand-in
    assert isinstance(outcome, StepFailure)
    outcome = await handler.run(task({"document": PNG}))
    assert isinstance(outcome, StepSuccess), outcome
    out = outcome.output
    assert out["text"].splitlines() == ["INVOICE", "Vendor: ACME GmbH", "Total: 1,250.00"]
    assert out["lines"][1] == {"text": "Vendor: ACME GmbH", "confidence": 99.1, "page": 1}
    assert out["keyValues"] == [
        {"key": "Vendor:", "value": "ACME GmbH", "confidence": 95.0, "page": 1},
        {"key": "Total:", "value": "1,250.00", "confidence": 95.0, "page": 1},
    ]
    assert out["tables"] == [{"page": 1, "rows": [["Item", "Amount"], ["Consulting", "1,250.00"]]}]
    assert out["pages"] == 1


async def test_a_pdf_in_s3_becomes_a_job_polled_until_done(textract: str) -> None:
    handler = on_moto(textract)
    config = {"document": "s3://inbox/invoices/17.pdf", "pollInterval": "2s"}
    started = await handler.run(task(config))
    assert isinstance(started, StepPending), started
    assert started.after == timedelta(seconds=2)
    job_id = started.state["jobId"]
    job = backend().async_text_detection_jobs[job_id]
    job.job["JobStatus"] = "IN_PROGRESS"
    waiting = await handler.run(task(config, started.state))
    assert isinstance(waiting, StepPending)
    assert (waiting.state["jobId"], waiting.state["polls"]) == (job_id, 1)
    job.job["JobStatus"] = "SUCCEEDED"
    done = await handler.run(task(config, waiting.state))
    assert isinstance(done, StepSuccess), done
    assert done.output["jobId"] == job_id
    assert "Total: 1,250.00" in done.output["text"]


async def test_analysis_jobs_and_failed_jobs(textract: str) -> None:
    handler = on_moto(textract)
    config = {"document": "s3://inbox/a.png", "mode": "async", "features": ["TABLES"]}
    started = await handler.run(task(config))
    assert isinstance(started, StepPending)
    assert started.state["api"] == "analysis"
    done = await handler.run(task(config, started.state))
    assert isinstance(done, StepSuccess)
    assert done.output["tables"][0]["rows"][1] == ["Consulting", "1,250.00"]
    backend().async_document_analysis_jobs[started.state["jobId"]].job["JobStatus"] = "FAILED"
    failed = await handler.run(task(config, started.state))
    assert isinstance(failed, StepFailure)
    assert (failed.error_type, failed.retryable) == ("OcrJobFailed", False)


async def test_a_job_past_max_wait_fails(textract: str) -> None:
    handler = on_moto(textract)
    config = {"document": "s3://inbox/b.pdf", "maxWait": "1m"}
    started = await handler.run(task(config))
    assert isinstance(started, StepPending)
    backend().async_text_detection_jobs[started.state["jobId"]].job["JobStatus"] = "IN_PROGRESS"
    old = started.state | {"startedAt": (datetime.now(UTC) - timedelta(minutes=2)).isoformat()}
    outcome = await handler.run(task(config, old))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("OcrTimeout", False)


@pytest.mark.parametrize(
    ("config", "error_type", "retryable"),
    [
        ({"document": "not base64!"}, "OcrInvalidDocument", False),
        ({"document": "s3://bucket-only"}, "OcrInvalidDocument", False),
        ({"document": "s3://arn:aws:s3:::inbox/k.png"}, "OcrInvalidDocument", False),
        ({"document": PNG, "mode": "async"}, "OcrInvalidDocument", False),
    ],
)
async def test_bad_documents_fail_for_good(
    textract: str, config: dict[str, Any], error_type: str, retryable: bool
) -> None:
    handler = on_moto(textract)
    outcome = await handler.run(task(config))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == (error_type, retryable)


async def test_unknown_job_unreachable_endpoint_and_egress(textract: str) -> None:
    handler = on_moto(textract)
    state = {"jobId": "nope", "api": "text", "startedAt": datetime.now(UTC).isoformat()}
    outcome = await handler.run(task({"document": "s3://a/b.pdf"}, state))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("TextractInvalidJobId", False)
    down = OcrHandler(policy=LOCAL, endpoint_url="http://127.0.0.1:9", region="us-east-1",
                      s3_buckets=[])  # fmt: skip
    outcome = await down.run(task({"document": PNG}))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("OcrConnectionError", True)
    strict = OcrHandler(policy=EgressPolicy(), endpoint_url=textract, region="us-east-1",
                        s3_buckets=[])  # fmt: skip
    outcome = await strict.run(task({"document": PNG}))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("EgressDenied", False)


def test_config_is_validated_with_the_node_id() -> None:
    definition = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "o"},
        "spec": {"nodes": [{"id": "scan", "type": "ocr",
                            "config": {"document": "s3://a/b", "features": ["FACES"]}}]},
    }  # fmt: skip
    [problem] = validate_definition(definition)
    assert (problem.code, problem.node) == (ProblemCode.INVALID_CONFIG, "scan")


def test_async_mode_with_inline_bytes_is_refused_at_publish_time() -> None:
    def spec(document: str) -> dict[str, object]:
        return {
            "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "o"},
            "spec": {"nodes": [{"id": "scan", "type": "ocr",
                                "config": {"document": document, "mode": "async"}}]},
        }  # fmt: skip

    [problem] = validate_definition(spec("aGVsbG8="))
    assert (problem.code, problem.node) == (ProblemCode.INVALID_CONFIG, "scan")
    assert "s3://" in problem.message
    assert validate_definition(spec("s3://bucket/doc.pdf")) == []
    assert validate_definition(spec("{{ input.document }}")) == []  # known when it runs


async def test_no_region_is_a_configuration_error_not_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    outcome = await OcrHandler(policy=LOCAL, s3_buckets=[]).run(task({"document": PNG}))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("OcrNoRegion", False)
    assert "AWS_REGION" in outcome.message
