"""Keys notified on one Postgres channel: one pooled connection LISTENs to it.

The connection is taken from the pool the first time someone waits and kept while the
store is open. If it is lost, every waiter is woken (it reads again what it waits for);
while some still wait, a new connection listens at once, and they are woken once more
when it does (a change between the loss and the new LISTEN would not be notified). Run
ends and credential changes use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from tideflow.store._errors import StoreError
from tideflow.store._pg_errors import translated

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    from tideflow.store._keyed_events import KeyedEvents

log = logging.getLogger(__name__)


class PostgresNotifications:
    """`watch(key)`: an event set when `channel` carries `key` as its payload."""

    def __init__(self, pool: asyncpg.Pool, channel: str, *, waiters: KeyedEvents) -> None:
        self._pool = pool
        self._channel = channel
        self._waiters = waiters
        self._listener: PoolConnectionProxy[Any] | None = None
        self._lock = asyncio.Lock()
        self._relisten: asyncio.Task[None] | None = None
        self._closed = False

    @asynccontextmanager
    async def watch(self, key: str) -> AsyncIterator[asyncio.Event]:
        await self._listen()
        with self._waiters.register(key) as event:
            yield event

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        async with self._lock:
            if self._listener is not None and not self._listener.is_closed():
                return
            with translated(f"listen to {self._channel}"):
                connection = await self._pool.acquire()
                try:
                    await connection.add_listener(self._channel, self._on_notify)
                except BaseException:
                    await self._pool.release(connection)
                    raise
            connection.add_termination_listener(self._on_lost)
            self._listener = connection

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: object) -> None:
        self._waiters.notify(str(payload))

    def _on_lost(self, _connection: Any) -> None:
        log.warning("lost the connection listening to %s; waiters read again", self._channel)
        lost, self._listener = self._listener, None
        self._waiters.wake_all()
        if not self._closed and self._relisten is None:
            self._relisten = asyncio.get_running_loop().create_task(self._recover(lost))

    async def _recover(self, lost: PoolConnectionProxy[Any] | None) -> None:
        """Give the lost connection back to the pool; for the waiters still there, listen
        on a new one, then wake them, so a change made while nobody listened is read."""
        try:
            if lost is not None:
                with contextlib.suppress(Exception):
                    await self._pool.release(lost)
            if len(self._waiters):
                await self._listen()
                self._waiters.wake_all()
        except StoreError as e:  # the next `watch` tries again
            log.warning("cannot listen to %s again: %s", self._channel, e)
        finally:
            self._relisten = None

    async def close(self) -> None:
        self._closed = True
        if self._relisten is not None:
            self._relisten.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relisten
        connection, self._listener = self._listener, None
        if connection is None:
            return
        try:
            if not connection.is_closed():
                await connection.remove_listener(self._channel, self._on_notify)
        finally:
            await self._pool.release(connection)
        self._waiters.wake_all()
