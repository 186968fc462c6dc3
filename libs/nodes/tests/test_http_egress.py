"""The http node against hostile destinations and responses, on real local servers.

Two servers: `target` plays a service a workflow may call, `platform` plays one of this
deployment's own listeners (it must stay unreachable however the URL spells it or
whichever redirect leads there).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from tideflow.nodes import EgressPolicy, HttpHandler, StepFailure, StepSuccess, TaskSpec
from tideflow.runtime import EmbeddedServer
from tideflow.settings import EgressSettings

pytestmark = pytest.mark.unit

MB = 1024 * 1024


@dataclass
class Served:
    url: str
    port: int
    streamed: list[int] = field(default_factory=list)
    """Bytes the /huge endpoint produced, per request."""


async def _serve(app: Starlette) -> AsyncIterator[tuple[str, int]]:
    server = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    task = await server.start_serving()
    yield f"http://127.0.0.1:{server.bound_port}", server.bound_port
    server.should_exit = True
    await task


@pytest.fixture(scope="module")
async def target() -> AsyncIterator[Served]:
    served = Served("", 0)

    async def echo(request: Request) -> Response:
        return JSONResponse(
            {"headers": dict(request.headers), "body": (await request.body()).decode()},
            headers={"Set-Cookie": "session=abc", "X-Request-Id": "r-1"},
        )

    async def huge(request: Request) -> Response:
        served.streamed.append(0)

        def chunks() -> Iterator[bytes]:
            chunk = b"x" * MB
            for _ in range(300):
                served.streamed[-1] += len(chunk)
                yield chunk

        declared = request.query_params.get("declared")
        headers = {"Content-Length": str(300 * MB)} if declared else None
        return StreamingResponse(chunks(), media_type="text/plain", headers=headers)

    async def deep(_: Request) -> Response:
        text = "[" * 300 + "1" + "]" * 300
        return Response(text, media_type="application/json")

    async def failing(request: Request) -> Response:
        size = int(request.query_params.get("size", "20"))
        body = "field 'total' is required; " + "y" * size
        return PlainTextResponse(body, status_code=int(request.path_params["code"]))

    async def redirect(request: Request) -> Response:
        return RedirectResponse(request.query_params["to"], status_code=302)

    app = Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST"]),
            Route("/huge", huge),
            Route("/deep", deep),
            Route("/fail/{code}", failing),
            Route("/redirect", redirect),
        ]
    )
    async for url, port in _serve(app):
        served.url, served.port = url, port
        yield served


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Served]:
    async def secret(_: Request) -> Response:
        return PlainTextResponse("the platform's own API")

    async for url, port in _serve(Starlette(routes=[Route("/{path:path}", secret)])):
        yield Served(url, port)


def task(url: str, **config: Any) -> TaskSpec:
    return TaskSpec(
        run_id="r",
        node_id="call",
        attempt=1,
        node_type="http",
        config={"url": url, **config},
        timeout=timedelta(seconds=10),
        idempotency_key=config.pop("idempotency_key", None),
    )


async def call(policy: EgressPolicy, spec: TaskSpec, **options: Any) -> Any:
    handler = HttpHandler(policy=policy, **options)
    try:
        return await handler.run(spec)
    finally:
        await handler.aclose()


def dev_policy(platform: Served) -> EgressPolicy:
    """`tide dev`: loopback allowed, the platform's listener protected."""
    return EgressPolicy.from_settings(
        EgressSettings(allow_loopback=True),
        listeners=[f"postgresql://u@127.0.0.1:{platform.port}/x"],
    )


def assert_refused(outcome: Any, error_type: str = "EgressDenied") -> StepFailure:
    assert isinstance(outcome, StepFailure), outcome
    assert outcome.error_type == error_type, outcome
    assert not outcome.retryable
    return outcome


async def test_loopback_is_reachable_under_dev_but_not_the_platform(target, platform):
    policy = dev_policy(platform)
    assert isinstance(await call(policy, task(f"{target.url}/echo")), StepSuccess)
    outcome = assert_refused(await call(policy, task(f"{platform.url}/api")))
    assert "listener of this Tideflow deployment" in outcome.message


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "localhost",
        "[::ffff:127.0.0.1]",
    ],
)
async def test_every_spelling_of_the_platform_is_refused(platform, host):
    outcome = await call(dev_policy(platform), task(f"http://{host}:{platform.port}/x"))
    assert isinstance(outcome, StepFailure), outcome
    assert not outcome.retryable
    # httpx itself refuses some spellings (octal) as invalid; the rest reach the policy
    assert outcome.error_type in {"EgressDenied", "HttpInvalidRequest"}


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "2130706433", "localhost", "[::1]", "0.0.0.0"],  # noqa: S104 - destinations
)
async def test_loopback_is_refused_by_default(target, host):
    outcome = await call(EgressPolicy(), task(f"http://{host}:{target.port}/echo"))
    assert_refused(outcome)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://2852039166/",  # 169.254.169.254 in decimal
    ],
)
async def test_metadata_addresses_are_refused_even_under_dev(platform, url):
    assert_refused(await call(dev_policy(platform), task(url)))


async def test_redirects_are_checked_at_every_hop(target, platform):
    policy = dev_policy(platform)
    for destination in (f"{platform.url}/admin", "http://169.254.169.254/", "file:///etc/passwd"):
        url = f"{target.url}/redirect"
        outcome = await call(policy, task(url, query={"to": destination}))
        assert isinstance(outcome, StepFailure), destination
        assert not outcome.retryable
        assert outcome.error_type in {"EgressDenied", "HttpInvalidRequest"}


async def test_operator_lists(target):
    deny = EgressPolicy.from_settings(
        EgressSettings(allow_loopback=True, deny_cidrs=["127.0.0.0/24"])
    )
    assert_refused(await call(deny, task(f"{target.url}/echo")))
    by_name = EgressPolicy.from_settings(EgressSettings(allow_hosts=["localhost"]))
    assert isinstance(
        await call(by_name, task(f"http://localhost:{target.port}/echo")), StepSuccess
    )
    assert_refused(await call(by_name, task(f"{target.url}/echo")))  # the IP is not named
    by_cidr = EgressPolicy.from_settings(EgressSettings(allow_cidrs=["127.0.0.1/32"]))
    assert isinstance(await call(by_cidr, task(f"{target.url}/echo")), StepSuccess)
    denied_name = EgressPolicy.from_settings(
        EgressSettings(allow_loopback=True, deny_hosts=["*.localhost", "localhost"])
    )
    assert_refused(await call(denied_name, task(f"http://localhost:{target.port}/echo")))


@pytest.mark.parametrize(
    ("config", "error_type"),
    [
        ({"url": "file:///etc/passwd"}, "HttpInvalidRequest"),
        ({"url": "gopher://example.com/"}, "HttpInvalidRequest"),
        ({"url": "http://"}, "HttpInvalidRequest"),
        ({"headers": {"X-A": "1\r\nX-Injected: 2"}}, "HttpInvalidRequest"),
        ({"headers": {"X-A": "1\nX-Injected: 2"}}, "HttpInvalidRequest"),
        ({"headers": {"Bad Name": "1"}}, "HttpInvalidRequest"),
    ],
)
async def test_configuration_errors_are_not_retryable(target, platform, config, error_type):
    spec = task(**{"url": f"{target.url}/echo", **config})
    assert_refused(await call(dev_policy(platform), spec), error_type)


@pytest.mark.parametrize("declared", [False, True])
async def test_a_300mb_response_is_refused_while_streaming(target, platform, declared):
    query = {"declared": "1"} if declared else {}
    outcome = await call(
        dev_policy(platform), task(f"{target.url}/huge", query=query), response_bytes=4 * MB
    )
    outcome = assert_refused(outcome, "HttpResponseTooLarge")
    # the server produced what the socket buffers took, not 300 MB
    assert target.streamed[-1] < 100 * MB


async def test_a_deep_json_response_fails_for_good(target, platform):
    assert_refused(
        await call(dev_policy(platform), task(f"{target.url}/deep")), "HttpResponseTooDeep"
    )


async def test_a_failed_request_shows_the_start_of_its_body(target, platform):
    outcome = await call(dev_policy(platform), task(f"{target.url}/fail/400"))
    assert isinstance(outcome, StepFailure)
    assert not outcome.retryable
    assert "answered 400: field 'total' is required" in outcome.message
    huge = await call(dev_policy(platform), task(f"{target.url}/fail/503", query={"size": "99999"}))
    assert isinstance(huge, StepFailure)
    assert huge.retryable
    assert len(huge.message) < 500
    assert huge.message.endswith("…")
    assert len(huge.details["body"]) <= 2048


async def test_idempotency_key_header_and_kept_headers(target, platform):
    policy = dev_policy(platform)
    outcome = await call(policy, task(f"{target.url}/echo", idempotency_key="order-17:charge"))
    assert isinstance(outcome, StepSuccess)
    assert outcome.output["body"]["headers"]["idempotency-key"] == "order-17:charge"
    assert outcome.output["headers"] == {}  # no Set-Cookie in the event log by default
    own = await call(
        policy,
        task(
            f"{target.url}/echo",
            idempotency_key="ignored",
            headers={"idempotency-key": "mine"},
            responseHeaders=["X-Request-Id"],
        ),
    )
    assert isinstance(own, StepSuccess)
    assert own.output["body"]["headers"]["idempotency-key"] == "mine"
    assert own.output["headers"] == {"x-request-id": "r-1"}
    utf8 = await call(policy, task(f"{target.url}/echo", headers={"X-Name": "Välue ✓"}))
    assert isinstance(utf8, StepSuccess)
    assert utf8.output["body"]["headers"]["x-name"].encode("latin-1").decode() == "Välue ✓"
    everything = await call(policy, task(f"{target.url}/echo", responseHeaders=["*"]))
    assert isinstance(everything, StepSuccess)
    assert "set-cookie" in everything.output["headers"]
    assert json.loads(json.dumps(everything.output))  # plain JSON, storable as is


def test_a_listener_url_without_a_port_is_protected_at_its_schemes_port() -> None:
    """`postgresql://db/x` and `redis://cache/0` (the usual production forms) protect
    db:5432 and cache:6379; they were skipped for naming no port."""
    policy = EgressPolicy.from_settings(
        EgressSettings(allow_private=True),
        listeners=["postgresql://tideflow:pw@10.250.0.9/tideflow", "redis://10.250.0.10/0",
                   "10.250.0.11"],  # a bare host stays unprotected: no port to protect
    )  # fmt: skip
    assert {(str(ip), port) for ip, port in policy.protected} == {
        ("10.250.0.9", 5432),
        ("10.250.0.10", 6379),
    }
