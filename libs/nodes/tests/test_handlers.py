"""http against a real local HTTP server; function through the SDK registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tideflow.nodes import (
    EgressPolicy,
    FunctionHandler,
    HandlerRegistry,
    HttpHandler,
    StepFailure,
    StepSuccess,
    TaskSpec,
)
from tideflow.runtime import EmbeddedServer
from tideflow.sdk import NonRetryableError, TaskRegistry

pytestmark = pytest.mark.unit

LOCAL = EgressPolicy(allow_loopback=True)


async def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "method": request.method,
            "query": dict(request.query_params),
            "body": (await request.json()) if await request.body() else None,
            "auth": request.headers.get("authorization"),
        }
    )


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    return PlainTextResponse(f"status {code}", status_code=code)


@pytest.fixture(scope="module")
async def server_url() -> AsyncIterator[str]:
    app = Starlette(
        routes=[Route("/echo", echo, methods=["GET", "POST"]), Route("/status/{code}", status)]
    )
    server = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    task = await server.start_serving()
    yield f"http://127.0.0.1:{server.bound_port}"
    server.should_exit = True
    await task


def http_task(config: dict[str, object]) -> TaskSpec:
    return TaskSpec(
        run_id="r",
        node_id="call",
        attempt=1,
        node_type="http",
        config=config,
        timeout=timedelta(seconds=5),
    )


async def test_http_sends_method_query_headers_and_json(server_url: str) -> None:
    handler = HttpHandler(policy=LOCAL)
    outcome = await handler.run(
        http_task(
            {
                "method": "post",
                "url": f"{server_url}/echo",
                "query": {"q": "1"},
                "headers": {"Authorization": "Bearer x"},
                "body": {"a": [1, 2]},
            }
        )
    )
    await handler.aclose()
    assert isinstance(outcome, StepSuccess)
    assert outcome.output["status"] == 200
    assert outcome.output["body"] == {
        "method": "POST",
        "query": {"q": "1"},
        "body": {"a": [1, 2]},
        "auth": "Bearer x",
    }


@pytest.mark.parametrize(
    ("code", "retryable"),
    [(500, True), (503, True), (429, True), (400, False), (404, False), (422, False)],
)
async def test_http_status_decides_retryability(
    server_url: str, code: int, retryable: bool
) -> None:
    handler = HttpHandler(policy=LOCAL)
    outcome = await handler.run(http_task({"url": f"{server_url}/status/{code}"}))
    await handler.aclose()
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == (f"Http{code}", retryable)
    assert outcome.details == {"status": code, "body": f"status {code}"}
    assert outcome.message.endswith(f"answered {code}: status {code}")


async def test_http_connection_error_is_retryable() -> None:
    handler = HttpHandler(policy=LOCAL)
    outcome = await handler.run(http_task({"url": "http://127.0.0.1:9/nothing", "timeout": "2s"}))
    await handler.aclose()
    assert isinstance(outcome, StepFailure)
    assert outcome.retryable
    assert outcome.error_type in {"HttpConnectionError", "HttpTimeout"}


async def test_function_handler_maps_sdk_errors() -> None:
    registry = TaskRegistry()
    registry.register("inc", lambda v: v + 1)

    def refuse(_: object) -> None:
        raise NonRetryableError("no", error_type="Refused")

    def crash(_: object) -> None:
        raise KeyError("k")

    registry.register("refuse", refuse)
    registry.register("crash", crash)
    handlers = HandlerRegistry([FunctionHandler(registry=registry)])

    def task(name: str) -> TaskSpec:
        return TaskSpec("r", "n", 1, "function", {"name": name, "input": 41})

    assert await handlers.run(task("inc")) == StepSuccess(42)
    refused = await handlers.run(task("refuse"))
    assert isinstance(refused, StepFailure)
    assert (refused.error_type, refused.retryable) == ("Refused", False)
    crashed = await handlers.run(task("crash"))
    assert isinstance(crashed, StepFailure)
    assert (crashed.error_type, crashed.retryable) == ("KeyError", True)
    unknown = await handlers.run(task("nope"))
    assert isinstance(unknown, StepFailure)
    assert unknown.error_type == "UnknownTask"


async def test_unsupported_node_type_is_not_retryable() -> None:
    outcome = await HandlerRegistry([]).run(TaskSpec("r", "n", 1, "ocr", {}))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("UnsupportedNodeType", False)
