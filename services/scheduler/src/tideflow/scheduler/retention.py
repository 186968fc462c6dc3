"""Retention: finished runs older than the retention period leave the database in bulk.

Deleting is the store's `purge_runs_older_than` (batched, through the one maintenance path
the append-only log allows). It runs here, on a slow timer, never inside a command batch:
the hot path only ever appends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import Counter

if TYPE_CHECKING:
    from tideflow.store import Retention

log = logging.getLogger(__name__)

PURGED = Counter("tideflow_runs_purged_total", "Finished runs removed by retention.")


class RetentionLoop:
    def __init__(self, *, store: Retention, retention: timedelta, every: timedelta) -> None:
        self._store = store
        self._retention = retention
        self._every = every.total_seconds()

    async def purge_once(self, now: datetime | None = None) -> int:
        cutoff = (now or datetime.now(UTC)) - self._retention
        purged = await self._store.purge_runs_older_than(cutoff)
        if purged:
            PURGED.inc(purged)
            log.info("retention removed %d runs that ended before %s", purged, cutoff)
        return purged

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.purge_once()
            except Exception:
                log.exception("retention purge failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._every)
