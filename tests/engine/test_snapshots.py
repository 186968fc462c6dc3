"""The scheduler snapshots long runs, and a snapshot plus its tail rebuilds the exact state."""

from __future__ import annotations

import asyncio

import pytest

from tideflow.bus import InMemoryBus
from tideflow.core import event_from_record, fold
from tideflow.executor.app import run_executor
from tideflow.executor.settings import ExecutorSettings
from tideflow.scheduler.app import run_scheduler
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.scheduler.snapshots import restore, snapshot_due
from tideflow.sdk import TaskRegistry
from tideflow.store import APP_ROLE, PostgresEventStore

from ..harness import chain
from .conftest import Engine

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("before", "after", "every", "due"),
    [(0, 3, 10, False), (8, 12, 10, True), (10, 19, 10, False), (9, 31, 10, True)],
)
def test_one_snapshot_per_interval_however_events_are_batched(
    before: int, after: int, every: int, due: bool
) -> None:
    assert snapshot_due(before, after, every) is due


def test_a_run_with_many_steps_is_snapshotted_in_linear_total_work() -> None:
    """A 10,000-item foreach decided 100 items (200 events) at a time: the steps copied
    into snapshots stay a small multiple of the events (one snapshot per 100 events of a
    10,000-step state was quadratic: ~1,000,000 step copies)."""
    seq, steps, copied, snapshots = 1, 1, 0, 0
    while steps < 10_001:
        before, seq, steps = seq, seq + 200, steps + 100
        if snapshot_due(before, seq, 100, steps):
            copied += steps
            snapshots += 1
    assert snapshots >= 4  # still snapshotted as it grows
    assert copied <= 2 * seq


async def test_long_runs_are_snapshotted_and_restored(fresh_dsn: str) -> None:
    store = await PostgresEventStore.connect(fresh_dsn, max_size=8, role=APP_ROLE)
    bus = InMemoryBus()
    await bus.start()
    registry = TaskRegistry()
    registry.register("inc", lambda value: value + 1)
    stop = asyncio.Event()
    services = [
        asyncio.create_task(run_scheduler(settings=SchedulerSettings(snapshot_every=25),
                                          store=store, bus=bus, stop=stop, serve_health=False)),
        asyncio.create_task(run_executor(settings=ExecutorSettings(), bus=bus, stop=stop,
                                         registry=registry, serve_health=False)),
    ]  # fmt: skip
    try:
        engine = Engine(store=store, bus=bus, registry=registry)
        await engine.publish_workflow(chain("long", 30))
        run_id = await engine.start("long", 0)
        record = (await engine.wait([run_id]))[run_id]
        assert record.output == 30
        events = await store.read(run_id)
        snapshot = await store.latest_snapshot(run_id)
        assert snapshot is not None
        assert snapshot.seq // 25 == len(events) // 25
        full = fold(event_from_record(e.type, e.data) for e in events)
        assert await restore(store, run_id) == full
    finally:
        stop.set()
        await asyncio.gather(*services, return_exceptions=True)
        await bus.close()
        await store.close()


async def test_retention_removes_finished_runs_only(engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta

    from tideflow.scheduler.retention import RetentionLoop
    from tideflow.store import NotFound

    await engine.publish_workflow({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "short"},
        "spec": {"nodes": [{"id": "a", "type": "transform", "config": {"value": 1}}]},
    })  # fmt: skip
    await engine.publish_workflow({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "waits"},
        "spec": {"nodes": [{"id": "w", "type": "signal", "config": {"name": "never"}}]},
    })  # fmt: skip
    done = await engine.start("short")
    await engine.wait([done])
    waiting = await engine.start("waits")
    while True:
        try:
            if (await engine.store.get_run(waiting)).status == "waiting":
                break
        except NotFound:
            pass
        await asyncio.sleep(0.02)
    loop = RetentionLoop(store=engine.store, retention=timedelta(days=90),
                         every=timedelta(hours=1))  # fmt: skip
    assert await loop.purge_once() == 0  # nothing is 90 days old
    assert await loop.purge_once(now=datetime.now(UTC) + timedelta(days=91)) == 1
    with pytest.raises(NotFound):
        await engine.store.get_run(done)
    assert await engine.store.read(done) == []
    assert (await engine.store.get_run(waiting)).status == "waiting"  # unfinished: kept
