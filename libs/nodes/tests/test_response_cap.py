"""Every answer read through the egress-guarded transport is capped: a plugin's `ctx.http`
(whole reads, streamed reads), compressed bodies, and readers that stop at a head.

A local server answers a declared huge body, an endless undeclared one, a gzip bomb and
a small one; the transport's cap is set low (256 KiB) so the cases stay fast.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tideflow.nodes import (
    EgressPolicy,
    GuardedTransport,
    HttpHandler,
    PluginHandler,
    ResponseTooLarge,
    StepFailure,
    StepSuccess,
    TaskSpec,
)
from tideflow.plugins import NodeContext, NodeTypeSpec, Runs
from tideflow.runtime import EmbeddedServer
from tideflow.settings import EgressSettings

pytestmark = pytest.mark.unit

CAP = 256 * 1024
MB = 1024 * 1024
LOCAL = EgressPolicy(allow_loopback=True)
BOMB = gzip.compress(b"\0" * (64 * MB))
"""64 MiB of zeros in about 64 KiB: under the cap on the wire, far over it decoded."""
_RAW = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
RAW_BOMB = _RAW.compress(b"\0" * (64 * MB)) + _RAW.flush()
"""The same as `deflate` without the zlib header (httpx decodes that too)."""


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[dict[str, Any]]:
    state: dict[str, Any] = {"endless": 0}

    async def big(_: Request) -> Response:
        return Response(b"x" * MB, media_type="text/plain")

    async def endless(_: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            chunk = b"y" * 65536
            for _ in range(16 * 1024):  # 1 GiB unless the reader stops
                state["endless"] += len(chunk)
                yield chunk

        return StreamingResponse(chunks(), media_type="text/plain")

    async def bomb(_: Request) -> Response:
        return Response(BOMB, media_type="text/plain", headers={"Content-Encoding": "gzip"})

    async def failing_bomb(_: Request) -> Response:
        headers = {"Content-Encoding": "gzip"}
        return Response(BOMB, status_code=503, media_type="text/plain", headers=headers)

    async def raw_bomb(_: Request) -> Response:
        headers = {"Content-Encoding": "deflate"}
        return Response(RAW_BOMB, media_type="text/plain", headers=headers)

    async def small(_: Request) -> Response:
        body = gzip.compress(b"z" * (CAP - 1))
        return Response(body, media_type="text/plain", headers={"Content-Encoding": "gzip"})

    app = Starlette(
        routes=[Route("/big", big), Route("/endless", endless), Route("/bomb", bomb),
                Route("/raw-bomb", raw_bomb), Route("/small", small),
                Route("/failing-bomb", failing_bomb)]
    )  # fmt: skip
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
    uv = EmbeddedServer(config)
    task = await uv.start_serving()
    state["url"] = f"http://127.0.0.1:{uv.bound_port}"
    yield state
    uv.should_exit = True
    await task


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=GuardedTransport(LOCAL, response_bytes=CAP), trust_env=False
    ) as http:
        yield http


async def _fetch(config: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
    """A plugin as a third party writes it: reads the whole answer, no cap of its own."""
    response = await ctx.http.get(config["url"])
    return {"bytes": len(response.content)}


async def _run(http: httpx.AsyncClient, url: str) -> Any:
    spec = NodeTypeSpec(name="acme.fetch", runs=Runs.WORKER, handler=_fetch)

    async def secrets(_: str) -> dict[str, str]:
        return {}

    handler = PluginHandler(spec, http=http, secrets=secrets)
    return await handler.run(
        TaskSpec("r", "fetch", 1, "acme.fetch", {"url": url}, timeout=timedelta(seconds=30))
    )


@pytest.mark.parametrize("path", ["/big", "/endless", "/bomb", "/raw-bomb"])
async def test_a_plugins_whole_read_fails_the_step_at_the_cap(
    server: dict[str, Any], client: httpx.AsyncClient, path: str
) -> None:
    outcome = await _run(client, server["url"] + path)
    assert isinstance(outcome, StepFailure), outcome
    assert outcome.error_type == "HttpResponseTooLarge"
    assert not outcome.retryable
    assert "262,144-byte cap" in outcome.message
    assert "TIDEFLOW_EGRESS_RESPONSE_BYTES" in outcome.message


async def test_an_endless_answer_stops_being_read_at_the_cap(
    server: dict[str, Any], client: httpx.AsyncClient
) -> None:
    before = server["endless"]
    with pytest.raises(ResponseTooLarge):
        await client.get(server["url"] + "/endless")
    # what the server managed to produce: the cap plus what socket buffers hold, not 1 GiB
    assert server["endless"] - before < 32 * MB


async def test_an_answer_under_the_cap_is_read_whole(
    server: dict[str, Any], client: httpx.AsyncClient
) -> None:
    outcome = await _run(client, server["url"] + "/small")
    assert isinstance(outcome, StepSuccess), outcome
    assert outcome.output == {"bytes": CAP - 1}


async def test_a_reader_that_stops_at_the_head_is_untouched(
    server: dict[str, Any], client: httpx.AsyncClient
) -> None:
    """As notify and webhook deliveries read an answer: its first bytes, then stop."""
    async with client.stream("GET", server["url"] + "/endless") as response:
        head = bytearray()
        async for chunk in response.aiter_bytes():
            head += chunk
            if len(head) >= 64 * 1024:
                break
    assert response.status_code == 200
    assert len(head) >= 64 * 1024


async def test_a_reader_that_stops_at_the_head_of_a_declared_huge_answer_is_untouched(
    server: dict[str, Any], client: httpx.AsyncClient
) -> None:
    """A receiver may answer a notification with a long page: reading its start is fine."""
    async with client.stream("GET", server["url"] + "/big") as response:
        assert int(response.headers["content-length"]) > CAP
        head = bytearray()
        async for chunk in response.aiter_bytes():
            head += chunk
            if len(head) >= 64 * 1024:
                break
    assert len(head) >= 64 * 1024


async def test_a_streamed_read_raises_the_same_error(
    server: dict[str, Any], client: httpx.AsyncClient
) -> None:
    async with client.stream("GET", server["url"] + "/bomb") as response:
        with pytest.raises(ResponseTooLarge, match="decompresses to over"):
            async for _ in response.aiter_bytes():
                pass


def test_the_cap_is_a_setting_with_a_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_EGRESS_RESPONSE_BYTES", "16MiB")
    assert int(EgressSettings().response_bytes) == 16 * MB
    monkeypatch.setenv("TIDEFLOW_EGRESS_RESPONSE_BYTES", "1KiB")
    with pytest.raises(ValueError, match="65536"):
        EgressSettings()


async def test_an_error_page_over_the_cap_is_still_the_servers_status(
    server: dict[str, Any],
) -> None:
    """The http node reads only the start of an error page: one whose first chunk
    decompresses past the cap is the server's 503 (retried), not `HttpResponseTooLarge`."""
    node = HttpHandler(policy=LOCAL, response_bytes=CAP)
    try:
        outcome = await node.run(
            TaskSpec("r", "call", 1, "http", {"url": server["url"] + "/failing-bomb"})
        )
    finally:
        await node.aclose()
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == ("Http503", True)
