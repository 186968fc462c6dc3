"""A delivery's answer is read only as far as the attempt log keeps it: a receiver that
answers without end cannot make the dispatcher hold its answer."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from tideflow.nodes import EgressPolicy, GuardedTransport
from tideflow.runtime import EmbeddedServer
from tideflow.trigger.outbound import RESPONSE_CHARS, response_head

pytestmark = pytest.mark.unit


async def test_an_endless_answer_is_read_only_to_the_kept_head() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:  # about 1 GB if it were read whole
            sent += 1
            yield b"x" * 65_536

    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client,
        client.stream("POST", "http://receiver.test/hook", content=b"{}") as response,
    ):
        head = await response_head(response)
    assert head == "x" * RESPONSE_CHARS
    assert sent <= 2


async def test_the_head_is_text_in_the_answers_charset() -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        latin = "é".encode("latin-1") * 10
        headers = {"content-type": "text/plain; charset=latin-1"}
        return httpx.Response(200, content=latin, headers=headers)

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client,
        client.stream("POST", "http://receiver.test/hook") as response,
    ):
        assert await response_head(response, chars=4) == "éééé"


BOMB = gzip.compress(b"\0" * (16 * 1024 * 1024))
"""16 MiB in about 16 KiB: its first chunk decompresses far past a 64 KiB cap."""


async def bomb(scope: dict[str, Any], _: Any, send: Any) -> None:
    assert scope["type"] == "http"
    headers = [(b"content-encoding", b"gzip"), (b"content-length", str(len(BOMB)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BOMB})


async def test_an_answer_over_the_transports_cap_is_still_a_delivery() -> None:
    """Deliveries go through the guarded transport, whose cap the first chunk of a
    compressed answer may cross: the head read so far is kept and the delivery stands (a
    refusal would be retried: the event delivered twice)."""
    server = EmbeddedServer(uvicorn.Config(bomb, host="127.0.0.1", port=0, log_level="error",
                                           lifespan="off"))  # fmt: skip
    task = await server.start_serving()
    transport = GuardedTransport(EgressPolicy(allow_loopback=True), response_bytes=64 * 1024)
    url = f"http://127.0.0.1:{server.bound_port}/"
    try:
        async with (
            httpx.AsyncClient(transport=transport) as client,
            client.stream("POST", url, content=b"{}") as response,
        ):
            head = await response_head(response)
        assert response.status_code == 200
        assert head == ""  # nothing of the refused chunk, and no error
    finally:
        server.should_exit = True
        await task
