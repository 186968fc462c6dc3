"""The public event stream: follows the log and publishes every event on `tideflow.events`.

The scheduler's commits only append events; this loop reads them back by their global
`position` (visible in commit order, so nothing is skipped), publishes each as a RunEvent
keyed by run id with message id `run:seq`, and moves its saved position forward only after
Kafka acknowledged the batch. Every replica runs the loop, but the store lets one of them
hold the follower at a time (`RunLog.follow`); the others skip that batch and try
again at the next poll, which is also how a replica takes over when the holder dies. A
crash between the acknowledgement and the commit re-publishes that one batch under the
same ids: at-least-once, and consumers drop duplicates by message id.

The loop wakes when its replica's scheduler commits events (`wake`), so events go out
right after the commit that wrote them; the poll only finds events that other replicas
(or other writers) appended, and costs an idle scheduler one read per `poll`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tideflow.scheduler import metrics
from tideflow.wire import event_message

if TYPE_CHECKING:
    from datetime import timedelta

    from tideflow.bus import Bus
    from tideflow.store import RunLog

log = logging.getLogger(__name__)

ERROR_PAUSE = 1.0


class EventPublisher:
    """One follower of the log; `name` is its row in `event_publisher_positions`."""

    def __init__(
        self,
        *,
        store: RunLog,
        bus: Bus,
        poll: timedelta,
        batch: int = 500,
        name: str | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._poll = poll.total_seconds()
        self._batch = batch
        self.name = name or bus.topics.events
        self._wake = wake or asyncio.Event()

    async def publish_once(self) -> int | None:
        """Publish the next batch; how many events, or None when another replica holds it."""
        async with self._store.follow(self.name, self._batch) as claim:
            if claim is None:
                return None
            if not claim.events:
                return 0
            await self._bus.publish_batch(
                event_message(
                    followed.event,
                    topics=self._bus.topics,
                    workflow_id=followed.workflow_id,
                    version=followed.version,
                )
                for followed in claim.events
            )
            position = claim.events[-1].event.position
            claim.advance(position)
        metrics.EVENTS_PUBLISHED.inc(len(claim.events))
        metrics.EVENTS_PUBLISHED_POSITION.set(position)
        return len(claim.events)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop`: again at once after a full batch, else when woken or
        after `poll` (after an error, after `ERROR_PAUSE` whatever wakes it)."""
        while not stop.is_set():
            self._wake.clear()  # commits from here on are read by this batch or wake the next
            try:
                published = await self.publish_once()
            except Exception:
                log.exception("publishing run events failed; retrying")
                await _first(stop, None, ERROR_PAUSE)
                continue
            if published != self._batch:
                await _first(stop, self._wake, self._poll)


async def _first(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Return when `stop` or `wake` is set, or after `seconds`."""
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
