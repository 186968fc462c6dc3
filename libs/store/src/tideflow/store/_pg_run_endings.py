"""Run ends from Postgres: one pooled connection LISTENs to `tideflow_run_ended`.

The connection is taken from the pool the first time someone waits and kept while the
store is open. If it is lost, every waiter is woken (it reads its run again) and the next
wait listens on a new connection.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from tideflow.store._pg_errors import translated
from tideflow.store._run_endings import RUN_ENDED_CHANNEL, RunEndWaiters

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)


class PostgresRunEndings:
    """`watch(run_id)` on a pool; `close()` gives the listening connection back."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._waiters = RunEndWaiters()
        self._listener: PoolConnectionProxy[Any] | None = None
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def watch(self, run_id: str) -> AsyncIterator[asyncio.Event]:
        await self._listen()
        with self._waiters.register(run_id) as event:
            yield event

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        async with self._lock:
            if self._listener is not None and not self._listener.is_closed():
                return
            with translated("listen for run ends"):
                connection = await self._pool.acquire()
                try:
                    await connection.add_listener(RUN_ENDED_CHANNEL, self._on_notify)
                except BaseException:
                    await self._pool.release(connection)
                    raise
            connection.add_termination_listener(self._on_lost)
            self._listener = connection

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: object) -> None:
        self._waiters.ended(str(payload))

    def _on_lost(self, _connection: Any) -> None:
        log.warning("lost the connection listening for run ends; waiters read their runs again")
        self._listener = None
        self._waiters.wake_all()

    async def close(self) -> None:
        connection, self._listener = self._listener, None
        if connection is None:
            return
        try:
            if not connection.is_closed():
                await connection.remove_listener(RUN_ENDED_CHANNEL, self._on_notify)
        finally:
            await self._pool.release(connection)
        self._waiters.wake_all()
