"""What a commit batch writes when rows repeat or hold any JSON, on every store.

The Postgres store writes a batch as one statement, whose sub-statements may not touch a
row twice and whose array parameters would read a JSON list as one more dimension: these
pin the answers a sequence of single-row writes gave.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    CommitBatch,
    EventStore,
    NewEvent,
    OutboxMessage,
    ProcessedCommand,
    RunAppend,
    RunRecord,
    Snapshot,
    StepRecord,
    Timer,
    TimerKey,
)

pytestmark = pytest.mark.contract


async def test_rows_repeated_in_a_batch_keep_the_last_one(store: EventStore) -> None:
    now = datetime.now(UTC)
    started = now - timedelta(minutes=1)
    await store.schedule_timers([Timer("t", "r", now + timedelta(hours=1), "delay")])
    batch = CommitBatch(
        appends=[RunAppend("r", 0, [NewEvent("RunStarted", {})])],
        runs=[
            RunRecord("r", "wf", 1, "pending", idempotency_key="k", started_at=started),
            RunRecord("r", "wf", 1, "running", input={"x": 1}),
        ],
        steps=[StepRecord("r", "s", "scheduled"), StepRecord("r", "s", "running", attempt=2)],
        snapshots=[Snapshot("r", 1, {"v": 1}), Snapshot("r", 1, {"v": 2})],
        cancel_timers=[TimerKey("r", "t"), TimerKey("r", "t"), TimerKey("r", "gone")],
        timers=[
            Timer("t", "r", now + timedelta(hours=2), "delay"),
            Timer("t", "r", now - timedelta(seconds=1), "step_timeout"),
        ],
        processed=[ProcessedCommand("c", "r"), ProcessedCommand("c", "r")],
    )
    await store.commit_batch(batch)
    run = await store.get_run("r")
    assert (run.status, run.input, run.last_seq) == ("running", {"x": 1}, 1)
    # what a later record leaves empty, an earlier one of the batch gave
    assert run.idempotency_key == "k"
    assert run.started_at == started
    assert [(s.status, s.attempt) for s in await store.get_steps("r")] == [("running", 2)]
    snapshot = await store.latest_snapshot("r")
    assert snapshot is not None
    assert snapshot.state == {"v": 2}
    # cancelled and set in one batch: set, as the last of the batch's timers says
    due = await store.claim_due_timers(now, 10, timedelta(seconds=30))
    assert [(t.timer_id, t.kind) for t in due] == [("t", "step_timeout")]
    assert await store.is_processed(["c"]) == {"c"}


@pytest.mark.parametrize(
    "value", [[1, "two", {"three": 3}], [], "text", 0, 1.5, True, {"a": [1, [2]]}, [[1, 2], [3]]]
)
async def test_any_json_value_round_trips_through_the_projections(
    store: EventStore, value: object
) -> None:
    batch = CommitBatch(
        runs=[RunRecord("r", "wf", 1, "failed", input=value, output=value, error=value)],
        steps=[StepRecord("r", "s", "failed", output=value, error=value)],
    )
    await store.commit_batch(batch)
    run = await store.get_run("r")
    assert (run.input, run.output, run.error) == (value, value, value)
    (step,) = await store.get_steps("r")
    assert (step.output, step.error) == (value, value)


async def test_outbox_rows_keep_their_order_and_headers(store: EventStore) -> None:
    messages = [
        OutboxMessage(
            "topic",
            f"m{i}".encode(),
            key=None if i % 2 else b"k",
            headers=tuple((f"h{j}", bytes([j, 0, 255])) for j in range(i)),
        )
        for i in range(5)
    ]
    result = await store.commit_batch(CommitBatch(outbox=messages))
    assert result.outbox_ids == sorted(result.outbox_ids)
    claimed = await store.claim_outbox(10)
    assert [m.id for m in claimed] == result.outbox_ids
    assert [(m.payload, m.key, m.headers) for m in claimed] == [
        (m.payload, m.key, m.headers) for m in messages
    ]


async def test_stored_events_are_what_a_read_returns(store: EventStore) -> None:
    result = await store.commit_batch(
        CommitBatch(
            appends=[
                RunAppend("a", 0, [NewEvent("RunStarted", {"n": 1}), NewEvent("X", {"l": [1]})]),
                RunAppend("b", 0, [NewEvent("RunStarted", {"n": 2})]),
                RunAppend("c", 0, []),
            ]
        )
    )
    assert result.events["c"] == []
    for run_id in ("a", "b"):
        assert result.events[run_id] == await store.read(run_id)
    positions = [e.position for run in ("a", "b") for e in result.events[run]]
    assert len(set(positions)) == 3
