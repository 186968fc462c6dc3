"""A cancel, fail or signal that reaches the scheduler before the run's StartRun (a StartRun
waiting in the gateway's outbox while the cancel went straight out) is decided, not
dropped: the run ends cancelled without running a step whichever order the two arrive in,
across a restart and a redelivery. A command for a run nobody recorded is still
dead-lettered (`scheduler.unknown_run`)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tideflow.bus import InMemoryBus
from tideflow.core import Cancel, Command, Signal, StartRun, ids, parse_definition
from tideflow.scheduler.definitions import Definitions
from tideflow.scheduler.handlers import CommandHandler
from tideflow.scheduler.states import RunStates
from tideflow.store import CommitBatch, InMemoryEventStore, RunRecord
from tideflow.wire import command_envelope

pytestmark = pytest.mark.unit

WORKFLOW = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "early"},
    "spec": {
        "nodes": [{"id": "wait", "type": "signal", "config": {"name": "go"}},
                  {"id": "work", "type": "function", "config": {"name": "f"}}],
        "edges": [{"from": "wait", "to": "work"}],
    },
}  # fmt: skip


@pytest.fixture
async def setup() -> tuple[InMemoryEventStore, InMemoryBus]:
    store, bus = InMemoryEventStore(), InMemoryBus()
    await bus.start()
    await store.create_workflow("early", "early", WORKFLOW)
    await store.publish("early")
    yield store, bus
    await bus.close()


async def _recorded_run(store: InMemoryEventStore) -> StartRun:
    """A run as the gateway records it: a `pending` row, its StartRun not yet decided."""
    run_id = str(uuid.uuid4())
    row = RunRecord(run_id=run_id, workflow_id="early", version=1, status="pending", input=7)
    await store.commit_batch(CommitBatch(runs=[row]))
    return StartRun(command_id=ids.start_command_id(run_id), run_id=run_id, workflow="early",
                    version=1, definition=parse_definition(WORKFLOW), input=7)  # fmt: skip


def _handler(store: InMemoryEventStore, bus: InMemoryBus) -> CommandHandler:
    """A fresh scheduler (nothing cached: a restart, or another replica)."""
    return CommandHandler(store=store, bus=bus, states=RunStates(store=store),
                          definitions=Definitions(store=store))  # fmt: skip


async def _deliver(bus: InMemoryBus, handler: CommandHandler, *commands: Command) -> None:
    """Publish `commands` in this order and let `handler` decide them (one batch or more)."""
    for command in commands:
        envelope = command_envelope(command, tenant_id="default")
        await bus.publish(bus.topics.runs, command.run_id, envelope)
    async with bus.consumer([bus.topics.runs], group="scheduler-test") as consumer:
        seen = 0
        while seen < len(commands):
            batch = await consumer.next_batch(max_wait=timedelta(seconds=1))
            assert batch is not None
            seen += len(batch)
            await handler(batch)
            await batch.commit()
    await handler.drain()


async def _count(bus: InMemoryBus, topic: str) -> int:
    found = 0
    async with bus.consumer([topic], group=f"count-{uuid.uuid4().hex}") as consumer:
        while (batch := await consumer.next_batch(max_wait=timedelta(milliseconds=50))) is not None:
            found += len(batch)
            await batch.commit()
    return found


def _cancel(start: StartRun, **extra: object) -> Cancel:
    return Cancel(command_id=f"{start.run_id}:cancel:k", run_id=start.run_id, reason="stop",
                  **extra)  # fmt: skip


@pytest.mark.parametrize("same_batch", [False, True])
async def test_a_cancel_ahead_of_the_start_ends_the_run_cancelled_without_a_step(
    setup: tuple[InMemoryEventStore, InMemoryBus], same_batch: bool
) -> None:
    store, bus = setup
    start = await _recorded_run(store)
    if same_batch:
        await _deliver(bus, _handler(store, bus), _cancel(start), start)
    else:
        await _deliver(bus, _handler(store, bus), _cancel(start))
        # the scheduler restarts; the cancel is delivered again, then the start arrives
        await _deliver(bus, _handler(store, bus), _cancel(start), start)
    assert [e.type for e in await store.read(start.run_id)] == ["RunCancelled"]
    row = await store.get_run(start.run_id)
    assert (row.status, row.workflow_id, row.version, row.input) == ("cancelled", "early", 1, 7)
    assert row.ended_at is not None
    assert await store.get_steps(start.run_id) == []
    assert await _count(bus, bus.topics.tasks()) == 0
    assert await _count(bus, bus.topics.dlq) == 0


async def test_a_fail_ahead_of_the_start_ends_the_run_failed(
    setup: tuple[InMemoryEventStore, InMemoryBus],
) -> None:
    store, bus = setup
    start = await _recorded_run(store)
    await _deliver(bus, _handler(store, bus), _cancel(start, fail=True, by="ops"))
    await _deliver(bus, _handler(store, bus), start)
    assert [e.type for e in await store.read(start.run_id)] == ["RunFailed"]
    row = await store.get_run(start.run_id)
    assert (row.status, row.error["type"]) == ("failed", "ManuallyFailed")


async def test_a_signal_ahead_of_the_start_is_buffered_for_its_step(
    setup: tuple[InMemoryEventStore, InMemoryBus],
) -> None:
    store, bus = setup
    start = await _recorded_run(store)
    signal = Signal(command_id="s-1", run_id=start.run_id, name="go", data={"ok": True})
    await _deliver(bus, _handler(store, bus), signal)
    row = await store.get_run(start.run_id)
    assert (row.status, row.workflow_id, row.input, row.last_seq) == ("pending", "early", 7, 1)
    await _deliver(bus, _handler(store, bus), start)  # a fresh scheduler: read from the log
    types = [e.type for e in await store.read(start.run_id)]
    assert types[:2] == ["SignalReceived", "RunStarted"]
    steps = {s.node_id: s for s in await store.get_steps(start.run_id)}
    assert steps["wait"].output == {"ok": True}  # consumed the early signal
    assert steps["work"].status == "scheduled"
    assert (await store.get_run(start.run_id)).status == "running"


async def test_a_command_for_a_run_nobody_recorded_is_dead_lettered(
    setup: tuple[InMemoryEventStore, InMemoryBus],
) -> None:
    store, bus = setup
    orphan = str(uuid.uuid4())
    await _deliver(bus, _handler(store, bus), Cancel(command_id="c", run_id=orphan))
    assert await store.read(orphan) == []
    assert await _count(bus, bus.topics.dlq) == 1
