"""Publishing a batch's outbox messages after its commit, off the batch's critical path.

Once a batch is committed its messages are safe in the outbox: the relay publishes them
if this process dies first. So the consumer need not wait for the broker (or, under
`tide dev`, the journal's fsync) before it takes the next batch: the messages go out
here, one batch after another in commit order, and their rows are then deleted by a
later batch's commit (`OutboxDrops`). At most `max_batches` wait, so a slow broker slows
the consumer down instead of growing memory.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tideflow.store import OutboxDrops

if TYPE_CHECKING:
    from tideflow.bus import Bus, RawOutgoing
    from tideflow.store import OutboxStore, SentOutbox

log = logging.getLogger(__name__)


class OutboxSender:
    """`send` queues a committed batch's messages; `drain` waits until all went out."""

    def __init__(self, bus: Bus, store: OutboxStore, *, max_batches: int = 8) -> None:
        self._bus = bus
        self._drops = OutboxDrops(store)
        self._queue: asyncio.Queue[tuple[list[RawOutgoing], list[SentOutbox]]] = asyncio.Queue(
            max_batches
        )
        self._worker: asyncio.Task[None] | None = None

    async def send(self, outgoing: list[RawOutgoing], rows: list[SentOutbox]) -> None:
        """Queue a committed batch's messages (`rows`: their outbox rows)."""
        if not outgoing:
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._publish_in_order(), name="outbox-sender")
        await self._queue.put((outgoing, rows))

    def take_sent(self) -> list[SentOutbox]:
        """Rows whose messages went out, for the next commit to delete (`give_back` them
        if it fails)."""
        return self._drops.take()

    def give_back(self, rows: list[SentOutbox]) -> None:
        self._drops.add(rows)

    async def drain(self) -> None:
        """Wait until every queued batch was published (or left to the relay)."""
        if self._worker is not None and not self._worker.done():
            await self._queue.join()
            self._worker.cancel()
        await self._drops.drain()

    async def _publish_in_order(self) -> None:
        while True:
            outgoing, rows = await self._queue.get()
            try:
                await self._bus.publish_raw_batch(outgoing)
            except Exception:
                log.exception("publishing %d outbox messages failed; the relay will", len(outgoing))
            else:
                self._drops.add(rows)
            finally:
                self._queue.task_done()
