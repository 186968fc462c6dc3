"""Publishes outbox rows that their scheduler could not (it crashed after committing).

Rows written by a live scheduler are claimed by it for a while, so the relay only sees
rows whose claim expired: normally none. Publishing twice is harmless, since every
message id is deterministic and every consumer idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from tideflow.bus import RawOutgoing
from tideflow.scheduler import metrics

if TYPE_CHECKING:
    from tideflow.bus import Bus
    from tideflow.store import OutboxStore

log = logging.getLogger(__name__)

CLAIM_LIMIT = 500
LEASE = timedelta(seconds=30)


class OutboxRelay:
    def __init__(self, *, store: OutboxStore, bus: Bus, poll: timedelta) -> None:
        self._store = store
        self._bus = bus
        self._poll = poll.total_seconds()

    async def relay_once(self) -> int:
        rows = await self._store.claim_outbox(CLAIM_LIMIT, lease=LEASE)
        if not rows:
            return 0
        await self._bus.publish_raw_batch(
            [RawOutgoing(row.topic, row.key, row.payload, row.headers) for row in rows]
        )
        await self._store.delete_outbox([row.id for row in rows])
        metrics.OUTBOX_RELAYED.inc(len(rows))
        log.info("relayed %d outbox messages left by a crashed writer", len(rows))
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                relayed = await self.relay_once()
            except Exception:
                log.exception("outbox relay failed; retrying")
                relayed = 0
            if relayed < CLAIM_LIMIT:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._poll)
