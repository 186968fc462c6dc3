"""The worker's AWS credentials have Textract read only the S3 documents the operator
allows for the run's tenant (`TIDEFLOW_OCR_S3_BUCKETS`); any other S3 document needs the
node's own credentials, or the attempt fails with `OcrSourceNotAllowed` before a request.

The local Textract (`textract`, conftest; the operator's endpoint here) records every
request's operation, signing key (SigV4 `Credential=<access key id>/...`) and S3
location, and answers as Textract does, so each test sees which key asked to read which
object. The worker's credentials are set in the environment, where the default chain
finds them (`aws_worker`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tideflow.nodes import EgressPolicy, OcrHandler, StepFailure, StepPending, StepSuccess, TaskSpec
from tideflow.nodes._ocr_sources import S3Sources
from tideflow.nodes.testing import FakeTextract, StaticSecrets, TextractRequest
from tideflow.settings import OcrSettings

pytestmark = pytest.mark.unit

LOCAL = EgressPolicy(allow_loopback=True)
WORKFLOW_KEY = "AKIAWORKFLOWKEY00002"
OWN = {"accessKeyIdSecret": "OCR_KEY_ID", "secretAccessKeySecret": "OCR_SECRET"}
SECRETS = StaticSecrets({"OCR_KEY_ID": WORKFLOW_KEY, "OCR_SECRET": "wf-secret"})
Seen = TextractRequest


@pytest.fixture
def fake(textract: FakeTextract, aws_worker: str) -> tuple[str, list[Seen]]:
    """The local Textract's address and requests, the worker's credentials set."""
    assert aws_worker
    return textract.url, textract.requests


def handler(url: str, buckets: list[str]) -> OcrHandler:
    return OcrHandler(policy=LOCAL, endpoint_url=url, region="us-east-1", secrets=SECRETS,
                      s3_buckets=buckets)  # fmt: skip


def task(document: str, tenant: str = "default", poll: Any = None, **config: Any) -> TaskSpec:
    return TaskSpec("run-1", "scan", 1, "ocr", {"document": document, **config},
                    tenant_id=tenant, poll_state=poll)  # fmt: skip


POLL = {"jobId": "job-1", "api": "text", "startedAt": datetime.now(UTC).isoformat()}
ATTEMPTS = [  # every way the node hands an S3 location (or its job) to Textract
    pytest.param({}, id="sync-detect"),
    pytest.param({"features": ["FORMS"], "mode": "sync"}, id="sync-analyze"),
    pytest.param({"mode": "async"}, id="start-text-detection"),
    pytest.param({"mode": "async", "features": ["TABLES"]}, id="start-analysis"),
    pytest.param({"poll": POLL}, id="poll-of-a-running-job"),
]


@pytest.mark.parametrize("config", ATTEMPTS)
async def test_a_bucket_not_allowed_is_refused_before_any_request(
    fake: tuple[str, list[Seen]], config: dict[str, Any]
) -> None:
    url, seen = fake
    outcome = await handler(url, ["inbox"]).run(task("s3://payroll/2026/june.png", **config))
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == ("OcrSourceNotAllowed", False)
    assert "s3://payroll/2026/june.png" in outcome.message
    assert "TIDEFLOW_OCR_S3_BUCKETS" in outcome.message
    assert "accessKeyIdSecret" in outcome.message
    assert seen == []  # not a single request


@pytest.mark.parametrize("config", ATTEMPTS)
async def test_an_allowed_bucket_is_read_with_the_workers_credentials(
    fake: tuple[str, list[Seen]], config: dict[str, Any], aws_worker: str
) -> None:
    url, seen = fake
    outcome = await handler(url, ["inbox"]).run(task("s3://inbox/scan.png", **config))
    assert isinstance(outcome, StepSuccess | StepPending), outcome
    [request] = seen
    assert request.key_id == aws_worker
    if not request.operation.startswith("Get"):
        assert request.location == {"Bucket": "inbox", "Name": "scan.png"}


@pytest.mark.parametrize("config", ATTEMPTS)
async def test_own_credentials_read_any_bucket(
    fake: tuple[str, list[Seen]], config: dict[str, Any]
) -> None:
    url, seen = fake
    outcome = await handler(url, []).run(task("s3://their-own/scan.png", **config, **OWN))
    assert isinstance(outcome, StepSuccess | StepPending), outcome
    [request] = seen
    assert request.key_id == WORKFLOW_KEY
    if not request.operation.startswith("Get"):
        assert request.location == {"Bucket": "their-own", "Name": "scan.png"}


RULES = ["acme:acme-docs", "globex:globex-docs", "shared/{tenant}", "{tenant}-scans"]
CASES = [
    ("acme", "s3://acme-docs/a.png", True),
    ("acme", "s3://globex-docs/a.png", False),
    ("globex", "s3://globex-docs/a.png", True),
    ("globex", "s3://acme-docs/a.png", False),
    ("acme", "s3://shared/acme/a.png", True),
    ("acme", "s3://shared/globex/a.png", False),
    ("acme", "s3://shared/acme-old/a.png", False),  # a folder is a whole segment
    ("acme", "s3://shared/acme/../globex/a.png", False),  # no dot segments
    ("acme", "s3://shared/a.png", False),
    ("globex", "s3://shared/globex/x/y.png", True),
    ("acme", "s3://acme-scans/a.png", True),
    ("acme", "s3://globex-scans/a.png", False),
    ("globex", "s3://globex-scans/a.png", True),
    ("initech", "s3://acme-docs/a.png", False),
]


async def test_two_tenants_with_different_allowances(
    fake: tuple[str, list[Seen]], aws_worker: str
) -> None:
    url, seen = fake
    ocr = handler(url, RULES)
    for tenant, document, allowed in CASES:
        before = len(seen)
        outcome = await ocr.run(task(document, tenant))
        if allowed:
            assert isinstance(outcome, StepSuccess), (tenant, document, outcome)
            bucket, _, key = document.removeprefix("s3://").partition("/")
            asked = [(r.operation, r.key_id, r.location) for r in seen[before:]]
            assert asked == [("DetectDocumentText", aws_worker, {"Bucket": bucket, "Name": key})]
        else:
            assert isinstance(outcome, StepFailure), (tenant, document, outcome)
            assert outcome.error_type == "OcrSourceNotAllowed", (tenant, document)
            assert f"tenant {tenant!r}" in outcome.message
            assert len(seen) == before, (tenant, document)
    # with its own credentials a tenant reads what the worker's may not read for it
    outcome = await ocr.run(task("s3://globex-docs/a.png", "acme", **OWN))
    assert isinstance(outcome, StepSuccess), outcome
    assert seen[-1].key_id == WORKFLOW_KEY


def test_rules_for_every_tenant_and_any_bucket() -> None:
    every = S3Sources.parse(["*"])
    assert every.allows("acme", "anything", "x.png")
    folder = S3Sources.parse(["acme:*/inbox/"])
    assert folder.allows("acme", "b1", "inbox/x.pdf")
    assert not folder.allows("acme", "b1", "outbox/x.pdf")
    assert not folder.allows("globex", "b1", "inbox/x.pdf")
    assert S3Sources.parse(["docs/"]).allows("t", "docs", "any/key")  # "bucket/": all of it
    assert not S3Sources.parse([]).allows("default", "inbox", "a.png")


@pytest.mark.parametrize("value", ['["Acme:docs"]', '["a:b:c"]', '[""]', '["arn:aws:s3:::x"]'])
def test_a_malformed_setting_stops_the_worker_at_start(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TIDEFLOW_OCR_S3_BUCKETS", value)
    with pytest.raises(ValidationError, match=r"tenant:\]bucket"):
        OcrSettings()


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_OCR_S3_BUCKETS", '["inbox", "acme:acme-docs/in"]')
    assert OcrSettings().s3_buckets == ["inbox", "acme:acme-docs/in"]
    sources = S3Sources.parse(OcrSettings().s3_buckets)
    assert sources.allows("acme", "acme-docs", "in/a.pdf")
    assert not sources.allows("acme", "acme-docs", "out/a.pdf")
