"""Committed batches' messages go out in the background, in commit order, with bounded
waiting; a failed publish leaves the rows to the relay, a sent one's rows are handed to
the next commit (or deleted on their own if none takes them)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

import pytest

from tideflow.bus import BusConnectionError, RawOutgoing
from tideflow.scheduler.sending import OutboxSender
from tideflow.store import SentOutbox

pytestmark = pytest.mark.unit


class GatedBus:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.gate = asyncio.Event()
        self.refuse: set[bytes] = set()

    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None:
        await self.gate.wait()
        if records[0].value in self.refuse:
            raise BusConnectionError("broker away")
        self.sent.extend(r.value for r in records)


class Rows:
    def __init__(self) -> None:
        self.deleted: list[int] = []

    async def delete_outbox(self, ids: Collection[int]) -> None:
        self.deleted.extend(ids)


def _rows(n: int) -> list[SentOutbox]:
    return [SentOutbox(n)]


def _batch(n: int) -> list[RawOutgoing]:
    return [RawOutgoing(topic="t", key=b"k", value=f"{n}".encode(), headers=())]


async def test_batches_go_out_in_commit_order_and_waiting_is_bounded() -> None:
    bus, rows = GatedBus(), Rows()
    sender = OutboxSender(bus, rows, max_batches=3)  # type: ignore[arg-type]
    for n in range(4):  # one being published (held at the gate) and three waiting
        await asyncio.wait_for(sender.send(_batch(n), _rows(n)), 30)
    blocked = asyncio.create_task(sender.send(_batch(4), _rows(4)))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # a fifth batch waits for room: back-pressure
    bus.gate.set()
    await asyncio.wait_for(blocked, 30)
    await sender.drain()
    assert bus.sent == [b"0", b"1", b"2", b"3", b"4"]
    assert sorted(rows.deleted) == [0, 1, 2, 3, 4]


async def test_a_refused_publish_keeps_its_rows_for_the_relay() -> None:
    bus, rows = GatedBus(), Rows()
    bus.gate.set()
    bus.refuse = {b"1"}
    sender = OutboxSender(bus, rows)  # type: ignore[arg-type]
    for n in range(3):
        await sender.send(_batch(n), _rows(10 + n))
    await sender.drain()
    assert bus.sent == [b"0", b"2"]
    assert sorted(rows.deleted) == [10, 12]  # 11 stays: the relay sends it later


async def test_the_next_commit_takes_the_sent_rows_and_a_failed_one_gives_them_back() -> None:
    bus, rows = GatedBus(), Rows()
    bus.gate.set()
    sender = OutboxSender(bus, rows)  # type: ignore[arg-type]
    await sender.send(_batch(0), _rows(7))
    async with asyncio.timeout(5):
        while not (taken := sender.take_sent()):
            await asyncio.sleep(0.001)
    assert taken == _rows(7)
    sender.give_back(taken)  # that commit rolled back
    await sender.drain()
    assert rows.deleted == [7]
