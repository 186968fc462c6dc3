"""Publishes outbox rows that their scheduler could not (it crashed after committing).

Rows written by a live scheduler are claimed by it for a while, so the relay only sees
rows whose claim expired: normally none. Publishing twice is harmless, since every
message id is deterministic and every consumer idempotent.

A row the broker refuses for good (its topic does not exist on a cluster that does not
create topics, or it is larger than the broker takes) must not hold back the rest: when
the whole claim fails, each topic's rows are tried on their own, and within a topic that
still fails, row by row; a refused row holds back only the later rows of its own topic
and key (their order), until its cause is fixed. When every topic fails (the broker is
away) the relay stops there and tries again at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from tideflow.bus import BusError, RawOutgoing
from tideflow.scheduler import metrics

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tideflow.bus import Bus
    from tideflow.store import OutboxStore, StoredOutboxMessage

log = logging.getLogger(__name__)

CLAIM_LIMIT = 500
LEASE = timedelta(seconds=30)
GIVE_UP_AFTER = 3
"""Rows of one topic refused one after another before the relay stops trying that topic
until its next poll (a missing topic refuses every row, each after a metadata wait)."""


class OutboxRelay:
    def __init__(self, *, store: OutboxStore, bus: Bus, poll: timedelta) -> None:
        self._store = store
        self._bus = bus
        self._poll = poll.total_seconds()

    async def relay_once(self) -> int:
        rows = await self._store.claim_outbox(CLAIM_LIMIT, lease=LEASE)
        if not rows:
            return 0
        try:
            await self._publish(rows)
        except BusError:
            sent = await self._isolate(rows)
        else:
            sent = rows
        if sent:
            await self._store.delete_outbox([row.id for row in sent])
            metrics.OUTBOX_RELAYED.inc(len(sent))
            log.info("relayed %d outbox messages left by a crashed writer", len(sent))
        if len(sent) < len(rows):
            log.warning("%d outbox messages could not be published; retried after %s",
                        len(rows) - len(sent), LEASE)  # fmt: skip
        return len(sent)

    async def _publish(self, rows: Sequence[StoredOutboxMessage]) -> None:
        await self._bus.publish_raw_batch(
            [RawOutgoing(row.topic, row.key, row.payload, row.headers) for row in rows]
        )

    async def _isolate(self, rows: Sequence[StoredOutboxMessage]) -> list[StoredOutboxMessage]:
        """Publish what can be published of a claim that failed as a whole."""
        by_topic: dict[str, list[StoredOutboxMessage]] = {}
        for row in rows:
            by_topic.setdefault(row.topic, []).append(row)
        sent: list[StoredOutboxMessage] = []
        failed: list[list[StoredOutboxMessage]] = []
        for group in by_topic.values():
            try:
                await self._publish(group)
            except BusError:
                failed.append(group)
            else:
                sent += group
        if len(failed) == len(by_topic):
            return sent  # nothing went through: the broker is away, not one row
        for group in failed:
            sent += await self._row_by_row(group)
        return sent

    async def _row_by_row(self, group: Sequence[StoredOutboxMessage]) -> list[StoredOutboxMessage]:
        """One topic's rows one at a time; a refused row holds back its key's later rows,
        and a topic refusing `GIVE_UP_AFTER` rows in a row is left for the next poll."""
        sent: list[StoredOutboxMessage] = []
        held: set[bytes | None] = set()
        refused_in_a_row = 0
        for row in group:
            if row.key in held:
                continue
            try:
                await self._publish([row])
            except BusError:
                held.add(row.key)
                refused_in_a_row += 1
                if refused_in_a_row >= GIVE_UP_AFTER:
                    break
            else:
                sent.append(row)
                refused_in_a_row = 0
        return sent

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
