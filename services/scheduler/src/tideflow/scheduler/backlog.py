"""Samples the deployment's backlogs into gauges: outbox, timers, unfinished and idle runs.

A periodic query rather than counting in the hot path: the numbers are deployment-wide
(every replica's outbox rows, every run), which no single process sees by itself. Every
replica samples the same numbers; dashboards and alerts aggregate them with max().
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tideflow.scheduler import metrics
from tideflow.store import StoreError

if TYPE_CHECKING:
    from tideflow.store import Backlog, Backlogs

log = logging.getLogger(__name__)


class BacklogSampler:
    """Refreshes the backlog gauges every `every` until stopped."""

    def __init__(self, *, store: Backlogs, every: timedelta, idle_after: timedelta) -> None:
        self._store = store
        self._every = every
        self._idle_after = idle_after

    async def sample(self) -> Backlog:
        backlog = await self._store.backlog(now=datetime.now(UTC), idle_after=self._idle_after)
        metrics.OUTBOX_BACKLOG.set(backlog.outbox_messages)
        metrics.OUTBOX_OLDEST.set(backlog.outbox_oldest_seconds)
        metrics.TIMERS_PENDING.set(backlog.timers_pending)
        metrics.TIMERS_OVERDUE.set(backlog.timers_overdue)
        for status, count in backlog.runs_active.items():
            metrics.RUNS_ACTIVE.labels(status).set(count)
        for status, count in backlog.runs_idle.items():
            metrics.RUNS_IDLE.labels(status).set(count)
        return backlog

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sample()
            except StoreError as e:  # the database is away: the gauges keep their last values
                log.warning("sampling the backlog failed: %s", e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._every.total_seconds())
