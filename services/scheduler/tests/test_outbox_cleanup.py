"""A batch's commit deletes the outbox rows of earlier batches that went out: the cleanup
rides along instead of being a transaction (and an fsync) of its own per batch."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from datetime import timedelta

import pytest

from tideflow.bus import InMemoryBus
from tideflow.core import StartRun, ids, parse_definition
from tideflow.scheduler.definitions import Definitions
from tideflow.scheduler.handlers import CommandHandler
from tideflow.scheduler.states import RunStates
from tideflow.store import CommitBatch, CommitResult, InMemoryEventStore, SentOutbox
from tideflow.wire import command_envelope

pytestmark = pytest.mark.unit

WORKFLOW = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "one"},
    "spec": {"nodes": [{"id": "s0", "type": "function", "config": {"name": "f"}}]},
}  # fmt: skip


class RecordingStore(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.commits: list[CommitBatch] = []
        self.results: list[CommitResult] = []
        self.deletes: list[list[int]] = []
        self.fail_next_commit = False

    async def commit_batch(self, batch: CommitBatch) -> CommitResult:
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise ConnectionError("database away")
        self.commits.append(batch)
        result = await super().commit_batch(batch)
        self.results.append(result)
        return result

    async def delete_outbox(self, ids: Collection[int]) -> None:
        self.deletes.append(sorted(ids))
        await super().delete_outbox(ids)


async def _start(bus: InMemoryBus, handler: CommandHandler) -> None:
    run_id = str(uuid.uuid4())
    start = StartRun(command_id=ids.start_command_id(run_id), run_id=run_id, workflow="one",
                     version=1, definition=parse_definition(WORKFLOW), input=1)  # fmt: skip
    await bus.publish(bus.topics.runs, run_id, command_envelope(start, tenant_id="default"))
    consumer = bus.consumer([bus.topics.runs], group="scheduler-test")
    async with consumer:
        batch = await consumer.next_batch(max_wait=timedelta(seconds=1))
        assert batch is not None
        try:
            await handler(batch)
        finally:
            await batch.commit()


async def _sent(handler: CommandHandler, count: int) -> None:
    async with asyncio.timeout(5):
        while len(handler._sender._drops._pending) < count:
            await asyncio.sleep(0.001)


@pytest.fixture
async def setup() -> tuple[RecordingStore, InMemoryBus, CommandHandler]:
    store, bus = RecordingStore(), InMemoryBus()
    await bus.start()
    await store.create_workflow("one", "one", WORKFLOW)
    await store.publish("one")
    handler = CommandHandler(store=store, bus=bus, states=RunStates(store=store),
                             definitions=Definitions(store=store))  # fmt: skip
    yield store, bus, handler
    await bus.close()


async def test_the_next_commit_deletes_the_rows_the_last_batch_sent(
    setup: tuple[RecordingStore, InMemoryBus, CommandHandler],
) -> None:
    store, bus, handler = setup
    await _start(bus, handler)
    await _sent(handler, 1)
    [first_row] = store.results[0].outbox_ids
    await _start(bus, handler)
    assert store.commits[1].sent_outbox == [SentOutbox(first_row, "default")]
    assert first_row not in {m.id for m in await store.claim_outbox(10, lease=timedelta(0))}
    await _sent(handler, 1)
    await handler.drain()  # at shutdown, what no commit took is deleted on its own
    assert store.deletes == [store.results[1].outbox_ids]
    assert await store.claim_outbox(10) == []


async def test_a_commit_that_fails_leaves_the_sent_rows_to_the_next_one(
    setup: tuple[RecordingStore, InMemoryBus, CommandHandler],
) -> None:
    store, bus, handler = setup
    await _start(bus, handler)
    await _sent(handler, 1)
    [first_row] = store.results[0].outbox_ids
    store.fail_next_commit = True
    with pytest.raises(ConnectionError):
        await _start(bus, handler)
    await _start(bus, handler)  # the redelivered start, or any later batch
    assert store.commits[-1].sent_outbox == [SentOutbox(first_row, "default")]
    assert store.deletes == []
