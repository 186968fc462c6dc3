"""The seed pipeline, `examples/invoice-intake.yaml`, end to end on `tide dev`: an invoice
PDF in (moto) S3 -> `ocr` as an asynchronous Textract job polled on durable timers ->
`llm` extraction through a scripted OpenAI-compatible server (its first answer breaks the
schema and is repaired) -> `condition` on the amount -> `approval` decided over the API ->
`database` insert into a real Postgres -> `http` to the ERP; when the ERP refuses, the
saga deletes the row and the run ends `compensated`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import httpx
import pytest
import yaml
from moto.server import ThreadedMotoServer
from moto.textract.models import TextractBackend, textract_backends

from tideflow.nodes.testing import FakeLlmServer, FakeReply, invoice_blocks
from tideflow.store.testing import Databases, with_database

from .stack import TIDE, free_port

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "invoice-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TABLE = """
CREATE TABLE invoices (id bigserial PRIMARY KEY, number text UNIQUE NOT NULL,
  vendor text NOT NULL, amount numeric(12,2) NOT NULL, currency text NOT NULL,
  document text NOT NULL, run_id text NOT NULL)
"""


class Erp:
    """The ERP: `/ok` takes invoices, `/refuse` answers 422 (not retried)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        erp = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                erp.received.append((self.path, body))
                self.send_response(200 if self.path == "/ok" else 422)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def extraction(request: dict[str, Any]) -> FakeReply:
    """Reads vendor and total from the OCR text in the prompt, like a model would; its
    first answer keeps the thousands separator (a string), the repair fixes it."""
    messages = request["messages"]
    text = next(m["content"] for m in messages if "Extract the invoice" in str(m["content"]))
    vendor = re.search(r"Vendor: (.+)", text).group(1).strip()  # type: ignore[union-attr]
    total = re.search(r"Total: (.+)", text).group(1).strip()  # type: ignore[union-attr]
    answer = {"number": f"INV-{vendor.split()[0].upper()}", "vendor": vendor,
              "amount": total, "currency": "EUR"}  # fmt: skip
    if "Your answer is not valid" in str(messages[-1]["content"]):
        answer["amount"] = float(total.replace(",", ""))
    return FakeReply(f"```json\n{json.dumps(answer)}\n```")


@pytest.fixture(scope="module")
def aws() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
    s3.create_bucket(Bucket="inbox")
    for name in ("acme.pdf", "globex.pdf"):
        s3.put_object(Bucket="inbox", Key=name, Body=b"%PDF-1.7 two pages")
    saved = (TextractBackend.BLOCKS, TextractBackend.JOB_STATUS)
    yield url
    TextractBackend.BLOCKS, TextractBackend.JOB_STATUS = saved
    server.stop()


@pytest.fixture(scope="module")
async def books(databases: Databases) -> AsyncIterator[str]:
    name = await databases.create()
    dsn = with_database(databases.url, name)
    connection = await asyncpg.connect(dsn)
    await connection.execute(TABLE)
    await connection.close()
    yield dsn
    await databases.drop(name)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer(responder=extraction) as server:
        yield server


class DevServer:
    """`tide dev` in a subprocess, restartable on the same data dir and ports."""

    def __init__(self, data: Path, examples: Path, env: dict[str, str]) -> None:
        self.data, self.examples, self.env = data, examples, env
        self.port, self.pg_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = (data / "dev.log").open("ab")

    def start(self) -> None:
        self.process = subprocess.Popen(
            [TIDE, "dev", "--port", str(self.port), "--data-dir", str(self.data / "dev"),
             "--pg-port", str(self.pg_port), "--examples", str(self.examples)],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        process = self.process
        until(lambda: _healthy(self.url, process, self.data), "tide dev to be ready", 120)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)
            self.process = None


@pytest.fixture(scope="module")
def dev(
    tmp_path_factory: pytest.TempPathFactory, aws: str, books: str, llm: FakeLlmServer
) -> Iterator[DevServer]:
    """`tide dev` serving the example, its llm node pointed at the scripted server."""
    data = tmp_path_factory.mktemp("invoice")
    examples = data / "examples"
    examples.mkdir()
    document = yaml.safe_load((ROOT / "examples/invoice-intake.yaml").read_text())
    for node in document["spec"]["nodes"]:
        if node["id"] == "extract":
            node["config"] |= {"model": "openai/fake-model", "apiBase": llm.url}
        if node["id"] == "scan":
            node["config"]["pollInterval"] = "1s"
    (examples / "invoice-intake.yaml").write_text(yaml.safe_dump(document))
    env = {k: v for k, v in os.environ.items()
           if k not in {"TIDEFLOW_DATABASE_URL", "TIDEFLOW_KAFKA_BOOTSTRAP"}}  # fmt: skip
    env |= {
        "TIDEFLOW_ADMIN_TOKEN": TOKEN, "TIDEFLOW_SECRET_OPENAI": "sk-invoice-test",
        "TIDEFLOW_SECRET_BOOKS": books, "AWS_ENDPOINT_URL_TEXTRACT": aws,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        # the worker's AWS credentials read only the inbox bucket, for the default tenant
        "TIDEFLOW_OCR_S3_BUCKETS": '["default:inbox"]',
    }  # fmt: skip
    # the books database lives on the test Postgres, which is `tide infra`'s: tell this
    # dev server the infra runs elsewhere, or its egress policy protects that port
    env["TIDEFLOW_INFRA_POSTGRES_PORT"] = str(free_port())
    server = DevServer(data, examples, env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.log.close()


def _healthy(url: str, process: subprocess.Popen[bytes], data: Path) -> bool:
    assert process.poll() is None, (data / "dev.log").read_text()[-3000:]
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def until(check: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def api(dev: DevServer, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{dev.url}{path}", headers=AUTH, timeout=60, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def events(dev: DevServer, run_id: str) -> list[dict[str, Any]]:
    return list(api(dev, "GET", f"/runs/{run_id}/events?limit=500")["items"])


def ended(dev: DevServer, run_id: str) -> dict[str, Any] | None:
    run = api(dev, "GET", f"/runs/{run_id}")
    return run if run["status"] in {"succeeded", "failed", "compensated", "cancelled"} else None


def start(dev: DevServer, document: str, erp: str) -> str:
    run = api(dev, "POST", "/workflows/invoice-intake/runs",
              json={"input": {"document": document, "erpUrl": erp}})  # fmt: skip
    return str(run["runId"])


async def test_invoice_is_read_extracted_approved_saved_and_sent(
    dev: DevServer, llm: FakeLlmServer, books: str
) -> None:
    erp = Erp()
    TextractBackend.BLOCKS = invoice_blocks(vendor="ACME GmbH", amount="1,250.00")
    TextractBackend.JOB_STATUS = "IN_PROGRESS"  # the job runs until the test says so
    run_id = start(dev, "s3://inbox/acme.pdf", f"{erp.url}/ok")

    def polled() -> bool:
        kinds = [e["type"] for e in events(dev, run_id)]
        return kinds.count("StepPollScheduled") >= 2

    until(polled, "the Textract job to be polled on its timer")
    backend = textract_backends["123456789012"]["us-east-1"]
    for job in backend.async_document_analysis_jobs.values():
        job.job["JobStatus"] = "SUCCEEDED"

    def pending() -> list[dict[str, Any]]:
        found = api(dev, "GET", f"/approvals?status=pending&runId={run_id}")["items"]
        return list(found)

    [approval] = until(pending, "the approval of the big invoice")
    assert approval["title"] == "Invoice INV-ACME from ACME GmbH"
    api(dev, "POST", f"/approvals/{approval['id']}/decision",
        json={"decision": "approve", "comment": "fine"})  # fmt: skip
    run = until(lambda: ended(dev, run_id), "the run to end")
    assert run["status"] == "succeeded", (
        run["error"],
        [e for e in events(dev, run_id) if e["type"] == "StepFailed"],
    )

    connection = await asyncpg.connect(books)
    rows = await connection.fetch("SELECT number, vendor, amount, run_id FROM invoices")
    await connection.close()
    assert [tuple(r) for r in rows] == [("INV-ACME", "ACME GmbH", 1250, run_id)]
    [(path, body)] = erp.received
    assert path == "/ok"
    assert body["invoice"] == {"number": "INV-ACME", "vendor": "ACME GmbH",
                               "amount": 1250.0, "currency": "EUR"}  # fmt: skip
    # the model was asked twice (schema repair) with the key from the secret store
    asked = [r for r in llm.requests if "ACME" in json.dumps(r["json"])]
    assert len(asked) == 2
    assert all(r["headers"]["authorization"] == "Bearer sk-invoice-test" for r in asked)
    assert "$.amount" in asked[1]["json"]["messages"][-1]["content"]
    extract = next(e for e in events(dev, run_id)
                   if e["type"] == "StepSucceeded" and e["data"]["step"] == "extract")  # fmt: skip
    assert extract["data"]["output"]["usage"]["totalTokens"] == 36


async def test_a_refused_erp_call_deletes_the_saved_row(dev: DevServer, books: str) -> None:
    erp = Erp()
    TextractBackend.BLOCKS = invoice_blocks(vendor="Globex Corp", amount="300.00")
    TextractBackend.JOB_STATUS = "SUCCEEDED"
    run_id = start(dev, "s3://inbox/globex.pdf", f"{erp.url}/refuse")
    run = until(lambda: ended(dev, run_id), "the run to end")
    assert run["status"] == "compensated", run
    history = events(dev, run_id)
    kinds = [(e["type"], e["data"].get("step")) for e in history]
    assert ("StepSkipped", "approve") in kinds  # 300 needs no approval
    assert ("StepFailed", "tell-erp") in kinds
    undone = [e["data"]["forStep"] for e in history if e["type"] == "CompensationSucceeded"]
    assert undone == ["save"]
    assert [path for path, _ in erp.received] == ["/refuse"]
    connection = await asyncpg.connect(books)
    left = await connection.fetchval("SELECT count(*) FROM invoices WHERE number = 'INV-GLOBEX'")
    await connection.close()
    assert left == 0


def test_a_document_outside_the_allowed_buckets_is_never_read(dev: DevServer) -> None:
    """The worker's AWS credentials read only `TIDEFLOW_OCR_S3_BUCKETS`: another bucket
    fails the scan for good, before Textract is asked (no job is started)."""
    backend = textract_backends["123456789012"]["us-east-1"]
    jobs = len(backend.async_document_analysis_jobs)
    run_id = start(dev, "s3://payroll/june.pdf", "http://127.0.0.1:9/ok")
    run = until(lambda: ended(dev, run_id), "the run to end")
    assert run["status"] == "failed", run
    scan = next(s for s in run["steps"] if s["nodeId"] == "scan")
    assert scan["error"]["type"] == "OcrSourceNotAllowed", scan
    assert "TIDEFLOW_OCR_S3_BUCKETS" in scan["error"]["message"]
    assert [e["type"] for e in events(dev, run_id)].count("StepScheduled") == 1  # not retried
    assert len(backend.async_document_analysis_jobs) == jobs
