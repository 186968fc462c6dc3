"""Contract suite of the `Retention` port: bulk removal of old finished runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    CommitBatch,
    EventStore,
    LogLine,
    NewEvent,
    NotFound,
    ProcessedCommand,
    RunAppend,
    RunRecord,
    Snapshot,
    StepRecord,
    Timer,
)

pytestmark = pytest.mark.contract

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def finished_run(run_id: str, ended: datetime | None) -> CommitBatch:
    return CommitBatch(
        appends=[RunAppend(run_id, 0, [NewEvent("RunStarted", {}), NewEvent("RunSucceeded", {})])],
        runs=[
            RunRecord(
                run_id,
                "wf",
                1,
                "running" if ended is None else "succeeded",
                started_at=NOW - timedelta(days=200),
                ended_at=ended,
            )
        ],
        steps=[StepRecord(run_id, "a", "succeeded")],
        snapshots=[Snapshot(run_id, 2, {"done": True})],
        timers=[Timer(f"timer-{run_id}", run_id, NOW, "delay")],
        processed=[ProcessedCommand(f"cmd-{run_id}", run_id)],
    )


async def test_retention_purges_old_finished_runs_only(store: EventStore) -> None:
    old = [f"old-{i}" for i in range(7)]
    for run_id in old:
        await store.commit_batch(finished_run(run_id, NOW - timedelta(days=100)))
    await store.commit_batch(finished_run("recent", NOW - timedelta(days=10)))
    await store.commit_batch(finished_run("in-flight", None))
    await store.append_logs([LogLine(r, "a", "info", "x") for r in [*old, "recent"]])

    purged = await store.purge_runs_older_than(NOW - timedelta(days=90), batch_size=3)

    assert purged == len(old)
    for run_id in old:
        with pytest.raises(NotFound):
            await store.get_run(run_id)
        assert await store.read(run_id) == []
        assert await store.get_steps(run_id) == []
        assert await store.latest_snapshot(run_id) is None
        assert await store.read_logs(run_id) == []
    assert await store.is_processed([f"cmd-{r}" for r in old]) == set()
    for kept in ["recent", "in-flight"]:
        assert len(await store.read(kept)) == 2
        assert (await store.get_run(kept)).run_id == kept
    due = await store.claim_due_timers(NOW, 100, LEASE)
    assert sorted(t.timer_id for t in due) == ["timer-in-flight", "timer-recent"]
    assert await store.purge_runs_older_than(NOW - timedelta(days=90)) == 0
