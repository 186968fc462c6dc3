"""A cap on request bodies for services that have no API edge in front of them.

FastAPI reads a body whole before it validates anything (even before authentication), so
a service answering on its own port must refuse a large body while it arrives: from its
Content-Length at once, and by counting the bytes of one that streams without one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tideflow.contract import ErrorCode
from tideflow.runtime._api import error_body

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyCap:
    """Pure ASGI middleware: 413 `PAYLOAD_TOO_LARGE` past `limit` bytes of request body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:  # a small body (the limit bounds it) is read here, then replayed
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        payload = json.dumps(error_body(
            ErrorCode.PAYLOAD_TOO_LARGE, f"the request body is larger than {self.limit} bytes",
            {"limit": self.limit},
        )).encode()  # fmt: skip
        await send({
            "type": "http.response.start", "status": 413,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                        (b"connection", b"close")],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": payload})
