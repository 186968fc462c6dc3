"""Retention of the inbox: closed approvals go after the retention period, like their runs.

Runs are purged by the scheduler after `TIDEFLOW_SCHEDULER_RETENTION`; the inbox keeps
closed approvals for `TIDEFLOW_APPROVAL_RETENTION` (same default, 90 days) and removes
them in bounded batches, never an open one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import timedelta

    from tideflow.store import ApprovalStore

log = logging.getLogger(__name__)

BATCH = 1000


async def purge_once(store: ApprovalStore, retention: timedelta, now: datetime) -> int:
    """Remove every closed approval older than `retention`; how many."""
    total = 0
    while True:
        removed = await store.purge_closed(now - retention, BATCH)
        total += removed
        if removed < BATCH:
            return total


async def run_retention(
    store: ApprovalStore, *, retention: timedelta, every: timedelta, stop: asyncio.Event
) -> None:
    """Purge at once, then every `every`, until `stop` (errors are retried next time)."""
    while not stop.is_set():
        try:
            removed = await purge_once(store, retention, datetime.now(UTC))
            if removed:
                log.info("removed %d closed approvals older than %s", removed, retention)
        except Exception:
            log.exception("purging old approvals failed; retrying later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every.total_seconds())
