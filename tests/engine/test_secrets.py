"""A planted secret never leaves the executor: not in a table, a log line or an API answer.

Gateway, scheduler and executor run in this process on a real Postgres, like `tide dev`.
Workflows use the secret the ways that used to leak it: in a header and a body a server
echoes back, in the URL of a request that fails (400 with the URL in its body, 503 with
retries, a refused connection, a destination the egress policy denies), and as the input
of a task that logs it and fails with it in its message. Then every row of every table,
every log record of the process and every API answer about those runs is searched for
the value and its URL- and JSON-encoded forms. The masks that replaced it are asserted
too, so the test cannot pass by never exercising a path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tideflow.executor.redaction import MASK
from tideflow.executor.settings import ExecutorSettings
from tideflow.sdk import TASK_LOGGER, NonRetryableError, TaskRegistry
from tideflow.settings import EgressSettings

from .conftest import admin_gateway, serving_platform
from .leaks import (
    LogCapture,
    api_answers,
    captured_logs,
    local_server,
    one_node_workflow,
    run_each,
    table_values,
)

pytestmark = pytest.mark.integration

SECRET = "tf-S3cr3t/Välue~42"
MARK = "S3cr3t"
"""In every form of the secret, and in any piece of it long enough to matter."""
FORMS = {
    SECRET,
    quote(SECRET, safe=""),
    quote(SECRET),
    quote_plus(SECRET),
    json.dumps(SECRET)[1:-1],
    SECRET.encode().decode("latin-1"),  # a header value as a server decodes it
}
TOKEN = "secrets-test-token"


def leaks(text: str) -> bool:
    assert all(MARK in form for form in FORMS)
    return MARK in text


async def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "headers": dict(request.headers),
            "query": dict(request.query_params),
            "body": (await request.body()).decode(),
        },
        headers={"X-Echo": request.headers.get("authorization", "")},
    )


async def fail(request: Request) -> Response:
    status = int(request.path_params["status"])
    return PlainTextResponse(f"rejected {request.url}", status_code=status)


@pytest.fixture
async def target() -> AsyncIterator[str]:
    routes = [Route("/echo", echo, methods=["POST"]), Route("/fail/{status}", fail)]
    async with local_server(routes) as url:
        yield url


@pytest.fixture
async def platform(
    fresh_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, LogCapture]]:
    monkeypatch.setenv("TIDEFLOW_SECRET_API_KEY", SECRET)
    registry = TaskRegistry()

    @registry.task("leak")
    def leak(value: str) -> None:
        logging.getLogger(TASK_LOGGER).warning("calling the API with %s", value)
        raise NonRetryableError(f"the API refused key {value}", error_type="Refused")

    executor = ExecutorSettings(egress=EgressSettings(allow_loopback=True))
    with captured_logs() as capture:
        async with (
            serving_platform(
                fresh_dsn, gateway=admin_gateway(TOKEN), executor=executor, registry=registry
            ) as served,
            served.client(TOKEN) as client,
        ):
            yield client, capture


def cases(target: str) -> dict[str, dict[str, Any]]:
    key = "{{ secrets.api_key }}"
    return {
        "echoed": {
            "type": "http",
            "config": {
                "method": "POST",
                "url": f"{target}/echo?key={key}",
                "headers": {"Authorization": f"Bearer {key}"},
                "body": {"token": key},
                "responseHeaders": ["*"],
            },
        },
        "bad-request": {"type": "http", "config": {"url": f"{target}/fail/400?key={key}"}},
        "retried": {
            "type": "http",
            "config": {"url": f"{target}/fail/503?key={key}"},
            "retry": {"maxAttempts": 2, "initialInterval": "10ms"},
        },
        "refused": {"type": "http", "config": {"url": f"http://127.0.0.1:9/x?key={key}"}},
        "denied": {"type": "http", "config": {"url": f"http://169.254.169.254/?key={key}"}},
        "task": {"type": "function", "config": {"name": "leak", "input": key}},
    }


async def test_a_planted_secret_never_leaves_the_executor(target, platform, fresh_dsn):
    client, capture = platform
    runs = await run_each(
        client, {name: one_node_workflow(name, node) for name, node in cases(target).items()}
    )

    # every path was exercised, and the secret was masked where it would have been
    echoed = runs["echoed"]
    assert echoed["status"] == "succeeded"
    body = echoed["output"]["call"]["body"]
    assert body["headers"]["authorization"] == f"Bearer {MASK}"
    assert body["query"]["key"] == MASK
    assert echoed["output"]["call"]["headers"]["x-echo"] == f"Bearer {MASK}"
    for name in ("bad-request", "retried", "refused", "denied", "task"):
        assert runs[name]["status"] == "failed", (name, runs[name])
        [step] = runs[name]["steps"]
        assert MASK in step["error"]["message"], (name, step["error"])
    assert "answered 400: rejected" in runs["bad-request"]["steps"][0]["error"]["message"]
    assert runs["denied"]["steps"][0]["error"]["type"] == "EgressDenied"
    assert runs["retried"]["steps"][0]["attempt"] == 2

    answers = await api_answers(client, runs, every_state=True)
    assert not [a for a in answers if leaks(a)], "an API answer holds the secret"
    assert any(MASK in a for a in answers)

    log_leaks = [line for line in capture.lines if leaks(line)]
    assert not log_leaks, log_leaks
    assert any("calling the API with" in line and MASK in line for line in capture.lines)

    assert await table_values(fresh_dsn, leaks) == []


async def test_the_secrets_map_is_not_addressable(platform, target):
    client, _ = platform
    node = {"type": "http", "config": {"method": "POST", "url": f"{target}/echo",
                                      "body": "{{ secrets }}"}}  # fmt: skip
    response = await client.post("/workflows", json=one_node_workflow("everything", node))
    assert response.status_code == 422
    [problem] = response.json()["error"]["details"]["problems"]
    assert problem["code"] == "SECRET_NOT_ALLOWED"
    assert problem["path"] == "spec.nodes[0].config.body"
