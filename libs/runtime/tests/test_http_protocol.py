"""A request head the HTTP parser refuses still gets the API's error document, and a bad
Authorization header is a 401, on every service that serves HTTP."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from fastapi import FastAPI

from tideflow.runtime import EmbeddedServer, JsonErrorHttpToolsProtocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ok": "yes"}

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="error", lifespan="off",
        http=JsonErrorHttpToolsProtocol,
    )  # fmt: skip
    server = EmbeddedServer(config)
    task = await server.start_serving()
    yield server.bound_port
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def exchange(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)  # the server closes after a refusal
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = dict(
        line.decode().lower().split(": ", 1) for line in header_block.split(b"\r\n") if line
    )
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    "value",
    [b"Bearer abc\x7fdef", b"Bearer \x01abc", b"Bearer abc\x1b[0m", b"Bearer a\rb", b"\x00"],
)
async def test_a_control_character_in_authorization_is_a_json_401(port: int, value: bytes) -> None:
    head = b"GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: " + value + b"\r\n\r\n"
    status, headers, body = await exchange(port, head)
    assert status == 401
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "UNAUTHENTICATED"
    assert set(error) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "head",
    [
        b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Thing: a\x7fb\r\n\r\n",
        b"GET /ping HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
        b"GARBAGE\x00\r\n\r\n",
    ],
)
async def test_any_other_unparsable_head_is_a_json_400(port: int, head: bytes) -> None:
    status, headers, body = await exchange(port, head)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "BAD_REQUEST"


async def test_good_requests_on_the_same_connection_are_untouched(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(2):  # keep-alive: the head buffer starts afresh for the second
            writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200")
            length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
            assert json.loads(await reader.readexactly(length)) == {"ok": "yes"}
    finally:
        writer.close()


def test_every_service_serves_http_with_it() -> None:
    """Each service serves its API through `serve_api` (which uses the protocol class), or
    builds its own uvicorn server and passes the protocol class."""
    apps = sorted(ROOT.glob("services/*/src/tideflow/*/app.py"))
    own = [p for p in apps if "uvicorn.Config(" in p.read_text()]
    shared = [p for p in apps if "await serve_api(" in p.read_text()]
    assert {p.parts[-5] for p in [*own, *shared]} >= {"gateway", "approval", "trigger", "collab"}
    for path in own:
        text = path.read_text()
        assert text.count("uvicorn.Config(") == text.count("http=JsonErrorHttpToolsProtocol"), path


async def test_serve_api_answers_a_refused_head_with_the_error_document() -> None:
    from fastapi import FastAPI

    from tideflow.runtime import serve_api

    started: list[str] = []
    server, serving = await serve_api(
        FastAPI(), host="127.0.0.1", port=0, name="test api", on_started=started.append
    )
    try:
        assert started == [f"http://127.0.0.1:{server.bound_port}"]
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Thing: a\x7fb\r\n\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400")
        assert json.loads(body)["error"]["code"] == "BAD_REQUEST"
    finally:
        server.should_exit = True
        await serving
