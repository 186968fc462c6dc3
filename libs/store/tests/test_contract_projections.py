"""Contract suite of the `RunQueries` port: the runs and steps projections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    TRUNCATED,
    CommitBatch,
    EventStore,
    NewEvent,
    NotFound,
    RunAppend,
    RunFilter,
    RunRecord,
    StepRecord,
)

pytestmark = pytest.mark.contract

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def seed_runs(store: EventStore) -> None:
    runs = [
        RunRecord(
            f"r{i:02}",
            "wf-a" if i % 2 else "wf-b",
            1,
            "succeeded" if i % 3 else "running",
            started_at=T0 + timedelta(minutes=i),
        )
        for i in range(10)
    ]
    runs.append(RunRecord("other-tenant", "wf-a", 1, "running", tenant_id="acme", started_at=T0))
    runs.append(
        RunRecord(
            "child", "wf-a", 1, "running", parent_run_id="r01", started_at=T0 - timedelta(days=1)
        )
    )
    await store.commit_batch(CommitBatch(runs=runs))


async def test_run_upsert_keeps_start_and_tracks_last_seq(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(
            appends=[RunAppend("r", 0, [NewEvent("RunStarted", {})])],
            runs=[RunRecord("r", "wf", 3, "running", input={"a": 1}, started_at=T0)],
        )
    )
    await store.commit_batch(
        CommitBatch(
            appends=[RunAppend("r", 1, [NewEvent("RunSucceeded", {}), NewEvent("X", {})])],
            runs=[
                RunRecord(
                    "r",
                    "wf",
                    3,
                    "succeeded",
                    input={"a": 1},
                    output=[1, 2],
                    ended_at=T0 + timedelta(hours=1),
                )
            ],
        )
    )
    run = await store.get_run("r")
    assert run.started_at == T0
    assert run.ended_at == T0 + timedelta(hours=1)
    assert (run.status, run.version, run.output, run.last_seq) == ("succeeded", 3, [1, 2], 3)
    assert run.updated_at is not None


async def test_a_run_keeps_the_start_time_it_was_first_recorded_with(store: EventStore) -> None:
    """The gateway records a run (and answers with it) before the scheduler starts it:
    the scheduler's later start time does not move the run's `started_at`."""
    await store.commit_batch(CommitBatch(runs=[RunRecord("r", "wf", 1, "pending", started_at=T0)]))
    later = T0 + timedelta(milliseconds=30)
    await store.commit_batch(
        CommitBatch(
            appends=[RunAppend("r", 0, [NewEvent("RunStarted", {})])],
            runs=[
                RunRecord("r", "wf", 1, "running", started_at=later),
                RunRecord("r", "wf", 1, "running", started_at=later + timedelta(seconds=1)),
            ],
        )
    )
    assert (await store.get_run("r")).started_at == T0


async def test_large_values_come_back_as_markers_when_asked(store: EventStore) -> None:
    big = "x" * 1000
    await store.commit_batch(
        CommitBatch(
            appends=[RunAppend("big", 0, [NewEvent("RunStarted", {})])],
            runs=[RunRecord("big", "wf", 1, "running", input=big, output=[1, 2])],
            steps=[StepRecord("big", "fetch", "succeeded", 1, output=big, error=None)],
        )
    )
    marker = {TRUNCATED: {"bytes": 1002, "preview": '"' + "x" * 511}}
    run = await store.get_run("big", preview_over=1001)
    assert (run.input, run.output, run.error) == (marker, [1, 2], None)
    assert (await store.get_run("big", preview_over=1002)).input == big
    assert (await store.get_run("big")).input == big
    [step] = await store.get_steps("big", preview_over=100)
    assert (step.output, step.error) == (marker, None)
    [step] = await store.get_steps("big")
    assert step.output == big


async def test_get_run_of_an_unknown_run_is_not_found(store: EventStore) -> None:
    with pytest.raises(NotFound):
        await store.get_run("nope")


async def test_list_runs_filters(store: EventStore) -> None:
    await seed_runs(store)

    async def ids(run_filter: RunFilter) -> list[str]:
        return [r.run_id for r in (await store.list_runs(run_filter, limit=100)).runs]

    assert await ids(RunFilter(workflow_id="wf-b")) == ["r08", "r06", "r04", "r02", "r00"]
    assert await ids(RunFilter(statuses=("running",))) == ["r09", "r06", "r03", "r00", "child"]
    assert await ids(RunFilter(started_after=T0 + timedelta(minutes=7))) == ["r09", "r08", "r07"]
    assert await ids(RunFilter(started_before=T0 + timedelta(minutes=1))) == ["r00", "child"]
    assert await ids(RunFilter(tenant_id="acme")) == ["other-tenant"]
    assert await ids(RunFilter(parent_run_id="r01")) == ["child"]
    assert len(await ids(RunFilter(tenant_id=None))) == 12


async def test_list_runs_keyset_pagination_visits_every_run_once(store: EventStore) -> None:
    await seed_runs(store)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.list_runs(RunFilter(), limit=3, after=cursor)
        seen += [r.run_id for r in page.runs]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"r{i:02}" for i in reversed(range(10))] + ["child"]
    assert pages == 4


async def test_steps_are_upserted_per_node(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(
            steps=[
                StepRecord("r", "b", "running", started_at=T0 + timedelta(seconds=2)),
                StepRecord("r", "a", "running", started_at=T0),
                StepRecord("r", "c", "pending"),
                StepRecord("other", "a", "running"),
            ]
        )
    )
    await store.commit_batch(
        CommitBatch(
            steps=[
                StepRecord("r", "a", "failed", attempt=2, started_at=T0, error={"type": "Boom"}),
            ]
        )
    )
    steps = await store.get_steps("r")
    assert [s.node_id for s in steps] == ["a", "b", "c"]
    assert (steps[0].status, steps[0].attempt, steps[0].error) == ("failed", 2, {"type": "Boom"})


async def test_steps_keep_their_child_run(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(steps=[StepRecord("p", "call", "waiting", child_run_id="p:call:1")])
    )
    await store.commit_batch(CommitBatch(steps=[StepRecord("p", "call", "succeeded")]))
    await store.commit_batch(
        CommitBatch(steps=[StepRecord("q", "call", "waiting", child_run_id="q:call:1")])
    )
    assert [s.child_run_id for s in await store.get_steps("q")] == ["q:call:1"]
    assert [s.child_run_id for s in await store.get_steps("p")] == [None]
