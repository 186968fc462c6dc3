"""A delivery's answer is read only as far as the attempt log keeps it: a receiver that
answers without end cannot make the dispatcher hold its answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

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
