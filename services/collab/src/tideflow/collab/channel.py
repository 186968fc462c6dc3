"""One client's WebSocket as the `Channel` a YRoom serves, with the writes taken out.

YRoom answers sync step 1 and relays awareness; document updates (sync step 2 and
updates) never reach it from here: the channel hands them to `Room.receive`, which checks
the caller may write, records the update with its author, and applies it (YRoom then sends
it to every client). A viewer's update is refused with y-websocket's "permission denied"
when it holds items the document lacks (a joining viewer's sync step 2 holds none: it is
not an edit).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pycrdt import YMessageType, YSyncMessageType, read_message
from starlette.websockets import WebSocketDisconnect

from tideflow.auth import Role
from tideflow.collab import metrics
from tideflow.collab.rooms import permission_denied

if TYPE_CHECKING:
    from fastapi import WebSocket

    from tideflow.auth import Principal
    from tideflow.collab.rooms import Room
    from tideflow.collab.session import Ended

log = logging.getLogger(__name__)

WRITES = frozenset({YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE})
TOO_BIG = 1009
UNREADABLE = 1007


class ClientChannel:
    """A client of a room: what it may do is fixed when it joins."""

    def __init__(
        self, websocket: WebSocket, room: Room, principal: Principal, *, max_bytes: int
    ) -> None:
        self._websocket = websocket
        self._room = room
        self._principal = principal
        self._max_bytes = max_bytes
        self._send_lock = asyncio.Lock()
        self.writable = principal.allows(Role.EDITOR)
        self.refused = 0

    @property
    def path(self) -> str:
        return self._room.key.name

    def __aiter__(self) -> ClientChannel:
        return self

    async def __anext__(self) -> bytes:
        while True:
            message = await self.recv()
            if len(message) < 2:  # noqa: PLR2004 - a type byte and a payload
                continue
            if message[0] == YMessageType.SYNC and message[1] in WRITES:
                try:
                    update = read_message(message[2:])
                    fresh = self._room.news(update)  # also proves it is a Yjs update
                except Exception:  # noqa: BLE001 - pycrdt raises plain exceptions on bad bytes
                    await self._close(UNREADABLE, "not a y-websocket message")
                    raise StopAsyncIteration from None
                if self.writable:  # the room tells what is new, deletions included
                    await self._room.receive(update, author=self._principal.subject)
                elif fresh:
                    await self._refuse()
                continue
            if message[0] == YMessageType.AWARENESS:
                await self._room.share_awareness(message)
            return message

    async def _refuse(self) -> None:
        self.refused += 1
        metrics.REFUSED.inc()
        await self.send(
            permission_denied(f"{self._principal.subject} may view this workflow, not edit")
        )

    async def recv(self) -> bytes:
        try:
            message = await self._websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            raise StopAsyncIteration from None
        if message["type"] == "websocket.disconnect":
            raise StopAsyncIteration
        data = message.get("bytes")
        if data is None:
            data = (message.get("text") or "").encode()
        if len(data) > self._max_bytes:
            await self._close(TOO_BIG, "message too large")
            raise StopAsyncIteration
        return bytes(data)

    async def send(self, message: bytes) -> None:
        """Send, or drop it when the client is gone (a YRoom's task group must not fail
        because one of its clients left mid-broadcast)."""
        async with self._send_lock:
            try:
                await self._websocket.send_bytes(message)
            except (WebSocketDisconnect, RuntimeError, OSError):
                return

    async def end(self, ended: Ended) -> None:
        """Close the session from outside (its credential no longer holds)."""
        log.info("collab: %s leaves %s: %s", self._principal.subject, self.path, ended.message)
        metrics.SESSIONS_ENDED.labels(ended.reason).inc()
        async with self._send_lock:
            await self._close(ended.code, ended.reason)

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self._websocket.close(code=code, reason=reason)
        except RuntimeError:  # already closed
            return
