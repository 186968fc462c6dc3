"""The operational endpoints answer truthfully and the server shuts down on request."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client import Counter

from tideflow.runtime import HealthServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.unit

PINGS = Counter("tideflow_test_pings_total", "Pings seen by the health test.")


async def test_health_ready_and_metrics() -> None:
    state = {"consumer": False}

    async def readiness() -> dict[str, bool]:
        return dict(state)

    server = HealthServer(service="test", host="127.0.0.1", port=0, readiness=readiness)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok", "service": "test"}
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"] == {"consumer": False}
            state["consumer"] = True
            assert (await client.get("/readyz")).status_code == 200
            PINGS.inc()
            metrics = (await client.get("/metrics")).text
            assert "tideflow_test_pings_total 1.0" in metrics
    finally:
        await server.stop()


async def _raw(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `head` as is over a socket; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)  # closed after the answer
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    block, _, body = rest.partition(b"\r\n\r\n")
    headers = dict(line.decode().lower().split(": ", 1) for line in block.split(b"\r\n") if line)
    return int(status_line.split()[1]), headers, body


@pytest.fixture
async def health_port() -> AsyncIterator[int]:
    async def readiness() -> dict[str, bool]:
        raise RuntimeError("the readiness check itself broke")

    server = HealthServer(service="test", host="127.0.0.1", port=0, readiness=readiness)
    await server.start()
    yield server.port
    await server.stop()


CLOSE = b"Host: x\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "status", "code"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Thing: a\x7fb\r\n\r\n", 400, "BAD_REQUEST"),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400, "BAD_REQUEST"),
        (b"GARBAGE\x00\r\n\r\n", 400, "BAD_REQUEST"),
        (b"GET /healthz HTTP/1.1\r\nAuthorization: a\x01\r\n\r\n", 401, "UNAUTHENTICATED"),
        (b"GET /nowhere HTTP/1.1\r\n" + CLOSE, 404, "NOT_FOUND"),
        (b"DELETE /healthz HTTP/1.1\r\n" + CLOSE, 405, "METHOD_NOT_ALLOWED"),
        (b"GET /readyz HTTP/1.1\r\n" + CLOSE, 500, "INTERNAL"),
    ],
)  # fmt: skip
async def test_every_refusal_is_the_apis_json_error(
    health_port: int, head: bytes, status: int, code: str
) -> None:
    answered, headers, body = await _raw(health_port, head)
    assert answered == status
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details"}


async def test_a_good_request_after_a_refused_one_is_answered(health_port: int) -> None:
    await _raw(health_port, b"GARBAGE\x00\r\n\r\n")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health_port}") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok", "service": "test"}
