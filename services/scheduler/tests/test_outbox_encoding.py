"""A batch encodes each message once, and the outbox row is the record that is sent.

Whether the scheduler publishes right after its commit or the relay publishes the row
after a crash, the same bytes and the same headers reach the broker.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

import tideflow.bus._outgoing as outgoing_module
from tideflow.bus import (
    BusConnectionError,
    InMemoryBus,
    RawOutgoing,
    Record,
    decode_envelope,
    envelope_headers,
)
from tideflow.core import StartRun, ids, parse_definition
from tideflow.scheduler.definitions import Definitions
from tideflow.scheduler.handlers import CommandHandler
from tideflow.scheduler.relay import OutboxRelay
from tideflow.scheduler.states import RunStates
from tideflow.store import CommitBatch, CommitResult, InMemoryEventStore, OutboxMessage
from tideflow.store import _memory as memory_store
from tideflow.wire import command_envelope

if TYPE_CHECKING:
    from collections.abc import Sequence

pytestmark = pytest.mark.unit

WORKFLOW = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "two"},
    "spec": {"nodes": [{"id": f"s{i}", "type": "function", "config": {"name": "f"}}
                       for i in range(2)],
             "edges": [{"from": "s0", "to": "s1"}]},
}  # fmt: skip


class RecordingStore(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.outbox: list[OutboxMessage] = []

    async def commit_batch(self, batch: CommitBatch) -> CommitResult:
        self.outbox.extend(batch.outbox)
        return await super().commit_batch(batch)


class FlakyBus(InMemoryBus):
    """Refuses the next `failures` publishes (a broker away right after the commit)."""

    failures = 0

    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None:
        if self.failures:
            self.failures -= 1
            raise BusConnectionError("broker away")
        await super().publish_raw_batch(records)


async def _tasks(bus: InMemoryBus) -> list[Record]:
    consumer = bus.consumer([bus.topics.tasks("default")], group=f"g-{uuid.uuid4().hex}")
    async with consumer:
        batch = await consumer.next_batch(max_wait=timedelta(seconds=1))
        assert batch is not None
        await batch.commit()
        return [m.record for m in batch]


async def _start_one(store: RecordingStore, bus: FlakyBus, *, fail_publish: bool) -> None:
    await store.create_workflow("two", "two", WORKFLOW)
    await store.publish("two")
    handler = CommandHandler(store=store, bus=bus, states=RunStates(store=store),
                             definitions=Definitions(store=store))  # fmt: skip
    run_id = str(uuid.uuid4())
    start = StartRun(command_id=ids.start_command_id(run_id), run_id=run_id, workflow="two",
                     version=1, definition=parse_definition(WORKFLOW), input=1)  # fmt: skip
    await bus.publish(bus.topics.runs, run_id, command_envelope(start, tenant_id="default"))
    bus.failures = 1 if fail_publish else 0  # the scheduler's send after its commit
    consumer = bus.consumer([bus.topics.runs], group="scheduler-test")
    async with consumer:
        batch = await consumer.next_batch(max_wait=timedelta(seconds=1))
        assert batch is not None
        await handler(batch)
        await handler.drain()  # the batch's messages are sent in the background
        await batch.commit()


@pytest.mark.parametrize("relayed", [False, True], ids=["direct", "relayed"])
async def test_the_outbox_row_is_the_record_sent_encoded_once(
    relayed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    encodes: list[Any] = []
    real = outgoing_module.encode_envelope

    def counting(envelope: Any) -> bytes:
        encodes.append(envelope)
        return real(envelope)

    monkeypatch.setattr(outgoing_module, "encode_envelope", counting)
    store, bus = RecordingStore(), FlakyBus()
    await bus.start()
    await _start_one(store, bus, fail_publish=relayed)
    (row,) = store.outbox  # the dispatch of s0
    tasks = [e for e in encodes if e.WhichOneof("payload") == "task"]
    assert len(tasks) == 1  # one encode for the row and the send
    if relayed:  # the scheduler's claim on its row runs out: the relay sends the row
        later = memory_store._now() + timedelta(minutes=1)
        monkeypatch.setattr(memory_store, "_now", lambda: later)
        relay = OutboxRelay(store=store, bus=bus, poll=timedelta(seconds=1))
        assert await relay.relay_once() == 1
    (record,) = await _tasks(bus)
    envelope = decode_envelope(record.value)
    assert record.value == row.payload
    assert record.headers == row.headers == envelope_headers(envelope)
    assert dict(record.headers)["tideflow-type"] == b"tideflow.v1.Task"
    await bus.close()
