"""Contract suite of the `Backlogs` port: what the backlog gauges and alerts are made of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    ACTIVE_RUN_STATUSES,
    CommitBatch,
    EventStore,
    OutboxMessage,
    RunRecord,
    Timer,
)

pytestmark = pytest.mark.contract

IDLE = timedelta(hours=1)


async def test_an_empty_store_has_no_backlog(store: EventStore) -> None:
    backlog = await store.backlog(now=datetime.now(UTC), idle_after=IDLE)
    assert backlog.outbox_messages == 0
    assert backlog.outbox_oldest_seconds == 0
    assert backlog.timers_pending == backlog.timers_overdue == 0
    assert backlog.runs_active == dict.fromkeys(ACTIVE_RUN_STATUSES, 0)
    assert backlog.runs_idle == dict.fromkeys(ACTIVE_RUN_STATUSES, 0)


async def test_outbox_timers_and_unfinished_runs_are_counted(store: EventStore) -> None:
    now = datetime.now(UTC)
    runs = [
        RunRecord(run_id=f"r{i}", workflow_id="wf", version=1, status=status)
        for i, status in enumerate(["pending", "running", "running", "waiting", "succeeded"])
    ]
    await store.commit_batch(
        CommitBatch(
            runs=runs,
            outbox=[OutboxMessage("tideflow.runs", b"m", key=b"r1") for _ in range(3)],
            timers=[
                Timer(timer_id="t/1", run_id="r1", fire_at=now - timedelta(minutes=5), kind="x"),
                Timer(timer_id="t/2", run_id="r1", fire_at=now + timedelta(hours=1), kind="x"),
            ],
        )
    )
    backlog = await store.backlog(now=now + timedelta(seconds=1), idle_after=IDLE)
    assert backlog.outbox_messages == 3
    assert backlog.outbox_oldest_seconds >= 0
    assert (backlog.timers_pending, backlog.timers_overdue) == (2, 1)
    assert backlog.runs_active == {"pending": 1, "running": 2, "waiting": 1}
    assert backlog.runs_idle == {"pending": 0, "running": 0, "waiting": 0}
    # two hours later nothing has changed: every unfinished run is idle, both timers overdue
    later = await store.backlog(now=now + timedelta(hours=2), idle_after=IDLE)
    assert later.runs_idle == {"pending": 1, "running": 2, "waiting": 1}
    assert later.timers_overdue == 2
    assert later.outbox_oldest_seconds >= 7000
