"""Contract suite of the outbox, durable timers, step logs and retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    CommitBatch,
    EventStore,
    LogLine,
    NewEvent,
    NotFound,
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

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def test_outbox_claim_publish_delete(store: EventStore) -> None:
    messages = [
        OutboxMessage("tideflow.runs", f"m{i}".encode(), key=b"run", headers=(("h", b"v"),))
        for i in range(5)
    ]
    result = await store.commit_batch(CommitBatch(outbox=messages))
    first = await store.claim_outbox(3)
    assert [m.payload for m in first] == [b"m0", b"m1", b"m2"]
    assert first[0].headers == (("h", b"v"),)
    assert first[0].key == b"run"
    assert first[0].topic == "tideflow.runs"
    second = await store.claim_outbox(10)
    assert [m.payload for m in second] == [b"m3", b"m4"]
    assert await store.claim_outbox(10) == []
    await store.delete_outbox([m.id for m in first + second])
    await store.delete_outbox([])
    assert sorted(m.id for m in first + second) == result.outbox_ids


async def test_expired_outbox_claims_are_handed_out_again(store: EventStore) -> None:
    await store.commit_batch(CommitBatch(outbox=[OutboxMessage("t", b"x")]))
    [claimed] = await store.claim_outbox(10, lease=timedelta(0))
    [again] = await store.claim_outbox(10)
    assert again.id == claimed.id


async def test_outbox_rows_claimed_by_the_committer_wait_for_their_lease(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(outbox=[OutboxMessage("t", b"mine")], outbox_claimed_for=timedelta(minutes=5))
    )
    await store.commit_batch(CommitBatch(outbox=[OutboxMessage("t", b"orphan")]))
    assert [m.payload for m in await store.claim_outbox(10)] == [b"orphan"]


async def test_concurrent_relays_never_share_an_outbox_row(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(outbox=[OutboxMessage("t", str(i).encode()) for i in range(120)])
    )

    async def relay() -> list[int]:
        mine: list[int] = []
        while batch := await store.claim_outbox(7):
            mine += [m.id for m in batch]
        return mine

    claimed = await asyncio.gather(*(relay() for _ in range(4)))
    every = [i for ids in claimed for i in ids]
    assert len(every) == 120
    assert len(set(every)) == 120


def timer(i: int, *, due: datetime, run: str = "r") -> Timer:
    return Timer(f"t{i:03}", run, due, "retry", {"i": i})


async def test_due_timers_are_claimed_in_fire_order_and_completed(store: EventStore) -> None:
    await store.schedule_timers(
        [
            timer(1, due=NOW - timedelta(seconds=5)),
            timer(2, due=NOW - timedelta(seconds=10)),
            timer(3, due=NOW + timedelta(seconds=10)),
        ]
    )
    due = await store.claim_due_timers(NOW, 10, LEASE)
    assert [(t.timer_id, t.payload) for t in due] == [("t002", {"i": 2}), ("t001", {"i": 1})]
    assert due[0].fire_at == NOW - timedelta(seconds=10)
    # Claimed timers stay out of reach until their lease runs out...
    assert await store.claim_due_timers(NOW + timedelta(seconds=5), 10, LEASE) == []
    # ...then a crashed claimer's timers come back, along with newly due ones.
    later = NOW + LEASE + timedelta(seconds=1)
    assert [t.timer_id for t in await store.claim_due_timers(later, 10, LEASE)] == [
        "t002",
        "t001",
        "t003",
    ]
    await store.complete_timers([TimerKey("r", f"t00{i}") for i in (1, 2, 3)])
    await store.complete_timers([])
    assert await store.claim_due_timers(later + timedelta(hours=1), 10, LEASE) == []


async def test_rescheduling_a_timer_replaces_it_and_cancel_removes_it(store: EventStore) -> None:
    await store.schedule_timers([timer(1, due=NOW), timer(2, due=NOW)])
    await store.claim_due_timers(NOW, 10, LEASE)
    await store.commit_batch(
        CommitBatch(
            timers=[Timer("t001", "r", NOW + timedelta(seconds=1), "delay", {"new": True})],
            cancel_timers=[TimerKey("r", "t002")],
        )
    )
    [replaced] = await store.claim_due_timers(NOW + timedelta(seconds=1), 10, LEASE)
    assert (replaced.timer_id, replaced.kind, replaced.payload) == ("t001", "delay", {"new": True})


async def test_concurrent_claimers_never_get_the_same_timer(store: EventStore) -> None:
    await store.schedule_timers([timer(i, due=NOW - timedelta(seconds=i)) for i in range(150)])

    async def claimer() -> list[str]:
        mine: list[str] = []
        while batch := await store.claim_due_timers(NOW, 6, LEASE):
            mine += [t.timer_id for t in batch]
        return mine

    claimed = await asyncio.gather(*(claimer() for _ in range(5)))
    every = [t for ids in claimed for t in ids]
    assert len(every) == 150
    assert len(set(every)) == 150


async def test_logs_are_appended_and_followed(store: EventStore) -> None:
    stored = await store.append_logs(
        [
            LogLine("r", "a", "info", "starting"),
            LogLine("r", "b", "warning", "slow", attempt=2, ts=NOW),
            LogLine("other", "a", "info", "elsewhere"),
        ]
    )
    assert [line.id for line in stored] == sorted(line.id for line in stored)
    assert stored[1].ts == NOW
    assert [line.message for line in await store.read_logs("r")] == ["starting", "slow"]
    assert [line.message for line in await store.read_logs("r", node_id="b")] == ["slow"]
    assert [line.message for line in await store.read_logs("r", after_id=stored[0].id)] == ["slow"]
    assert [line.message for line in await store.read_logs("r", limit=1)] == ["starting"]
    assert await store.append_logs([]) == []


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
