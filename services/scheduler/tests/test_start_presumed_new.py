"""A batch of starts reads nothing from the log: a run whose first command in the batch
is its StartRun is presumed new. A StartRun delivered again for a run that did start
conflicts at the commit and is decided again from the log, where it decides nothing."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import timedelta

import pytest

from tideflow.bus import InMemoryBus
from tideflow.core import StartRun, ids, parse_definition
from tideflow.scheduler.definitions import Definitions
from tideflow.scheduler.handlers import CommandHandler
from tideflow.scheduler.states import RunStates
from tideflow.store import InMemoryEventStore, Snapshot, StoredEvent
from tideflow.wire import command_envelope

pytestmark = pytest.mark.unit

WORKFLOW = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "one"},
    "spec": {"nodes": [{"id": "s0", "type": "function", "config": {"name": "f"}}]},
}  # fmt: skip


class CountingStore(InMemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[set[str]] = []

    async def load_runs(
        self, run_ids: Collection[str]
    ) -> dict[str, tuple[Snapshot | None, list[StoredEvent]]]:
        self.loaded.append(set(run_ids))
        return await super().load_runs(run_ids)


def _start(run_id: str, workflow: str = "one") -> StartRun:
    return StartRun(command_id=ids.start_command_id(run_id), run_id=run_id, workflow=workflow,
                    version=1, definition=parse_definition(WORKFLOW), input=1)  # fmt: skip


async def _deliver(bus: InMemoryBus, handler: CommandHandler, starts: list[StartRun]) -> None:
    for start in starts:
        envelope = command_envelope(start, tenant_id="default")
        await bus.publish(bus.topics.runs, start.run_id, envelope)
    consumer = bus.consumer([bus.topics.runs], group="scheduler-test")
    async with consumer:
        seen = 0
        while seen < len(starts):
            batch = await consumer.next_batch(max_wait=timedelta(seconds=1))
            assert batch is not None
            seen += len(batch)
            await handler(batch)
            await batch.commit()
    await handler.drain()


def _handler(store: CountingStore, bus: InMemoryBus) -> CommandHandler:
    """A fresh scheduler (nothing cached: a restart, or another replica)."""
    return CommandHandler(store=store, bus=bus, states=RunStates(store=store),
                          definitions=Definitions(store=store))  # fmt: skip


@pytest.fixture
async def setup() -> tuple[CountingStore, InMemoryBus]:
    store, bus = CountingStore(), InMemoryBus()
    await bus.start()
    await store.create_workflow("one", "one", WORKFLOW)
    await store.publish("one")
    yield store, bus
    await bus.close()


async def _dead_letters(bus: InMemoryBus) -> int:
    consumer = bus.consumer([bus.topics.dlq], group=f"dlq-{uuid.uuid4().hex}")
    async with consumer:
        batch = await consumer.next_batch(max_wait=timedelta(milliseconds=100))
        return 0 if batch is None else len(batch)


async def test_a_batch_of_new_starts_reads_nothing_from_the_log(
    setup: tuple[CountingStore, InMemoryBus],
) -> None:
    store, bus = setup
    starts = [_start(str(uuid.uuid4())) for _ in range(20)]
    await _deliver(bus, _handler(store, bus), starts)
    assert store.loaded == []
    for start in starts:
        assert (await store.read(start.run_id))[0].type == "RunStarted"


async def test_a_start_delivered_again_to_a_fresh_scheduler_decides_nothing(
    setup: tuple[CountingStore, InMemoryBus],
) -> None:
    store, bus = setup
    started, new = _start(str(uuid.uuid4())), _start(str(uuid.uuid4()))
    await _deliver(bus, _handler(store, bus), [started])
    before = await store.read(started.run_id)
    # redelivered with a new start in the same batch, to a scheduler that never saw it
    await _deliver(bus, _handler(store, bus), [started, new])
    assert await store.read(started.run_id) == before
    assert (await store.read(new.run_id))[0].type == "RunStarted"
    assert store.loaded == [{started.run_id, new.run_id}]  # read once, after the conflict
    assert await _dead_letters(bus) == 0


async def test_a_repeated_start_whose_workflow_is_gone_is_checked_in_the_log_first(
    setup: tuple[CountingStore, InMemoryBus],
) -> None:
    """Presumed new, its workflow unknown: before the start is failed (and its parent
    told), the log is read, where the run started long ago."""
    store, bus = setup
    ghost = _start(str(uuid.uuid4()), workflow="one")
    await _deliver(bus, _handler(store, bus), [ghost])
    before = await store.read(ghost.run_id)
    await _deliver(bus, _handler(store, bus), [_start(ghost.run_id, workflow="gone")])
    assert await store.read(ghost.run_id) == before
    assert await _dead_letters(bus) == 0


async def test_a_commit_of_events_wakes_the_event_publisher(
    setup: tuple[CountingStore, InMemoryBus],
) -> None:
    store, bus = setup
    handler = _handler(store, bus)
    assert not handler.committed.is_set()
    await _deliver(bus, handler, [_start(str(uuid.uuid4()))])
    assert handler.committed.is_set()
    handler.committed.clear()
    # a StartRun delivered again decides nothing: no events, nothing to wake for
    again = _start(str(uuid.uuid4()))
    await _deliver(bus, _handler(store, bus), [again])
    await _deliver(bus, handler, [again])
    assert not handler.committed.is_set()
