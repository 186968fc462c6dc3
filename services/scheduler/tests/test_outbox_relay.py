"""The relay publishes what it can: one row the broker refuses for good (its topic is
missing on a cluster without auto-creation, or it is too large) holds back only the rows
of its own key, never the rest of the claim."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.bus import BusConnectionError, RawOutgoing
from tideflow.scheduler.relay import OutboxRelay
from tideflow.store import StoredOutboxMessage

pytestmark = pytest.mark.unit


class Outbox:
    def __init__(self, rows: list[StoredOutboxMessage]) -> None:
        self.rows = {row.id: row for row in rows}

    async def claim_outbox(
        self, limit: int, *, lease: timedelta = timedelta(seconds=30)
    ) -> list[StoredOutboxMessage]:
        del lease
        return sorted(self.rows.values(), key=lambda r: r.id)[:limit]

    async def delete_outbox(self, ids: Collection[int]) -> None:
        for outbox_id in ids:
            self.rows.pop(outbox_id, None)


class RefusingBus:
    """Refuses every publish holding a record of a topic in `refused` (a missing topic)
    or a payload in `too_large`."""

    def __init__(self) -> None:
        self.refused = {"tasks.missing"}
        self.too_large = {b"3"}
        self.sent: list[bytes] = []
        self.calls = 0

    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None:
        self.calls += 1
        if any(r.topic in self.refused or r.value in self.too_large for r in records):
            raise BusConnectionError("unknown topic, or a record too large")
        self.sent.extend(r.value for r in records)


def row(outbox_id: int, topic: str, key: str) -> StoredOutboxMessage:
    return StoredOutboxMessage(
        id=outbox_id, topic=topic, payload=f"{outbox_id}".encode(), key=key.encode(),
        headers=(), created_at=datetime.now(UTC),
    )  # fmt: skip


async def test_a_refused_row_holds_back_only_its_own_key() -> None:
    outbox = Outbox([
        row(1, "runs", "run-a"),
        row(2, "tasks.missing", "run-b"),  # its topic does not exist
        row(3, "tasks.default", "run-c"),  # too large for the broker
        row(4, "runs", "run-b"),
        row(5, "tasks.default", "run-c"),  # after run-c's refused row: waits (key order)
        row(6, "tasks.default", "run-d"),
        row(7, "events", "run-a"),
    ])  # fmt: skip
    bus = RefusingBus()
    relay = OutboxRelay(store=outbox, bus=bus, poll=timedelta(seconds=1))  # type: ignore[arg-type]
    assert await relay.relay_once() == 4
    assert sorted(bus.sent) == [b"1", b"4", b"6", b"7"]
    assert sorted(outbox.rows) == [2, 3, 5]
    # the topic appears and the limit is raised: the held rows go, in order
    bus.refused, bus.too_large = set(), set()
    bus.sent.clear()
    assert await relay.relay_once() == 3
    assert bus.sent == [b"2", b"3", b"5"]
    assert outbox.rows == {}


async def test_a_broker_that_is_away_costs_one_attempt_per_claim() -> None:
    """When everything fails (the broker is down) the relay does not try row by row."""
    outbox = Outbox([row(i, "runs", f"run-{i}") for i in range(1, 201)])
    bus = RefusingBus()
    bus.refused = {"runs"}
    relay = OutboxRelay(store=outbox, bus=bus, poll=timedelta(seconds=1))  # type: ignore[arg-type]
    assert await relay.relay_once() == 0
    assert len(outbox.rows) == 200
    assert bus.calls <= 3
