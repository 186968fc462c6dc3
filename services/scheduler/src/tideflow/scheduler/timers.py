"""Due durable timers -> FireTimer commands on `tideflow.runs`.

Timers are claimed with a lease (`FOR UPDATE SKIP LOCKED` underneath), so replicas share
them; a replica that dies after publishing but before completing leaves the lease to
expire and the timer fires again, which the run ignores (a fired timer is no longer in the
run's state). Timer ids are unique within their run only: the store keys timers by
`(run_id, timer_id)` and every claim, completion and cancel names both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tideflow.bus import Outgoing
from tideflow.core import FireTimer, TimerRef, ids
from tideflow.scheduler import metrics
from tideflow.wire import command_envelope

if TYPE_CHECKING:
    from tideflow.bus import Bus
    from tideflow.store import Timer, TimerStore

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
CLAIM_LIMIT = 500


class TimerLoop:
    def __init__(self, *, store: TimerStore, bus: Bus, poll: timedelta) -> None:
        self._store = store
        self._bus = bus
        self._poll = poll.total_seconds()

    async def fire_due(self, now: datetime | None = None) -> int:
        """Publish FireTimer for every due timer; return how many fired."""
        due = await self._store.claim_due_timers(now or datetime.now(UTC), CLAIM_LIMIT, LEASE)
        if not due:
            return 0
        await self._bus.publish_batch(
            fire_timer_message(timer, self._bus.topics.runs) for timer in due
        )
        await self._store.complete_timers([timer.key for timer in due])
        metrics.TIMERS_FIRED.inc(len(due))
        return len(due)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                fired = await self.fire_due()
            except Exception:
                log.exception("firing timers failed; retrying")
                fired = 0
            if fired < CLAIM_LIMIT:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll)


def fire_timer_message(timer: Timer, topic: str) -> Outgoing:
    """The FireTimer command for `timer`, keyed by its run (the loop's and the scheduler's
    batch, which fires timers already due through its outbox, send the same message)."""
    command = FireTimer(
        command_id=ids.fire_timer_command_id(TimerRef(timer.run_id, timer.timer_id)),
        run_id=timer.run_id,
        timer_id=timer.timer_id,
    )
    return Outgoing(topic, timer.run_id, command_envelope(command, tenant_id=timer.tenant_id))
