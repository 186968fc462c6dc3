"""How replicas of the collaboration service share rooms: Redis pub/sub (or nothing).

Every replica with a room open subscribes to the room's channel and publishes what its
own clients send: document updates (after they are durable in the log) and awareness
(presence: names, cursors, selections; never stored). Pub/sub is fire-and-forget, so a
message lost while Redis was away is not lost for the document: each room also reads the
log for updates it has not seen (`Room.catch_up`), and does so at once after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "tideflow:collab:"
_HEADER = struct.Struct(">B16sq")
"""kind, origin replica, update id (0 for awareness)."""


class Kind(IntEnum):
    UPDATE = 1
    AWARENESS = 2


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message between replicas about one room."""

    kind: Kind
    origin: bytes
    payload: bytes
    update_id: int = 0

    def encode(self) -> bytes:
        return _HEADER.pack(self.kind, self.origin, self.update_id) + self.payload

    @classmethod
    def decode(cls, data: bytes) -> Envelope:
        kind, origin, update_id = _HEADER.unpack_from(data)
        return cls(Kind(kind), origin, data[_HEADER.size :], update_id)


class Fanout(Protocol):
    """The port rooms use to reach the same room on other replicas."""

    origin: bytes

    async def subscribe(self, room: str, deliver: Callable[[Envelope], None]) -> None: ...

    async def unsubscribe(self, room: str) -> None: ...

    async def publish(self, room: str, envelope: Envelope) -> None: ...


class NoFanout:
    """A single replica: nobody to tell."""

    def __init__(self) -> None:
        self.origin = uuid.uuid4().bytes

    async def subscribe(self, room: str, deliver: Callable[[Envelope], None]) -> None:
        del room, deliver

    async def unsubscribe(self, room: str) -> None:
        del room

    async def publish(self, room: str, envelope: Envelope) -> None:
        del room, envelope


class RedisFanout:
    """Redis pub/sub: one connection for publishing, one subscriber for every open room."""

    def __init__(
        self, url: str, *, on_reconnect: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.origin = uuid.uuid4().bytes
        self._url = url
        self._client: aioredis.Redis = aioredis.Redis.from_url(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._rooms: dict[str, Callable[[Envelope], None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._on_reconnect = on_reconnect
        self.connected = False

    async def start(self) -> None:
        await self._client.ping()
        self.connected = True
        self._reader = asyncio.create_task(self._read(), name="collab-fanout")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._client.aclose()

    async def subscribe(self, room: str, deliver: Callable[[Envelope], None]) -> None:
        self._rooms[room] = deliver
        with contextlib.suppress(RedisError, OSError):  # the reader resubscribes later
            await self._pubsub.subscribe(CHANNEL_PREFIX + room)

    async def unsubscribe(self, room: str) -> None:
        self._rooms.pop(room, None)
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.unsubscribe(CHANNEL_PREFIX + room)

    async def publish(self, room: str, envelope: Envelope) -> None:
        try:
            await self._client.publish(CHANNEL_PREFIX + room, envelope.encode())
        except (RedisError, OSError) as e:  # the other replicas catch up from the log
            log.warning("collab: could not publish to room %s: %s", room, e)

    async def _read(self) -> None:
        backoff = 0.1
        while True:
            try:
                if not self._pubsub.subscribed:
                    if self._rooms:
                        await self._pubsub.subscribe(*(CHANNEL_PREFIX + r for r in self._rooms))
                    else:
                        await asyncio.sleep(0.05)
                        continue
                message = await self._pubsub.get_message(timeout=1.0)
                if not self.connected:
                    self.connected = True
                    if self._on_reconnect is not None:
                        await self._on_reconnect()
                backoff = 0.1
            except (RedisError, OSError) as e:
                if self.connected:
                    log.warning("collab: Redis pub/sub lost (%s); reconnecting", e)
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.reset()
                    self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                continue
            if message is None or message.get("type") != "message":
                continue
            self._dispatch(message)

    def _dispatch(self, message: dict[str, object]) -> None:
        channel = message.get("channel")
        data = message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        deliver = self._rooms.get(channel.decode()[len(CHANNEL_PREFIX) :])
        if deliver is None:
            return
        try:
            envelope = Envelope.decode(data)
        except (struct.error, ValueError):
            log.warning("collab: dropped an undecodable pub/sub message")
            return
        if envelope.origin != self.origin:
            deliver(envelope)
