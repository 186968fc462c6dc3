"""Contract suite of the event log, run against every `EventStore` implementation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    AlreadyExists,
    CommitBatch,
    ConcurrencyConflict,
    EventStore,
    NewEvent,
    NotFound,
    OutboxMessage,
    ProcessedCommand,
    RunAppend,
    RunRecord,
    Snapshot,
    StepRecord,
    StoreError,
    Timer,
    TimerKey,
)

pytestmark = pytest.mark.contract


def events(*types: str) -> list[NewEvent]:
    return [NewEvent(t, {"type": t, "n": i}) for i, t in enumerate(types)]


async def test_append_assigns_consecutive_seqs_and_reads_them_back(store: EventStore) -> None:
    first = await store.append("r1", 0, events("RunStarted", "StepScheduled"))
    second = await store.append("r1", 2, events("StepSucceeded"))
    assert [e.seq for e in first + second] == [1, 2, 3]
    assert [e.type for e in await store.read("r1")] == [
        "RunStarted",
        "StepScheduled",
        "StepSucceeded",
    ]
    assert await store.read("r1") == first + second
    assert [e.seq for e in await store.read("r1", after_seq=1)] == [2, 3]
    assert [e.seq for e in await store.read("r1", after_seq=0, limit=2)] == [1, 2]
    assert await store.read("unknown") == []


async def test_read_many_returns_each_runs_log_in_seq_order(store: EventStore) -> None:
    a = await store.append("many-a", 0, events("RunStarted", "StepScheduled"))
    b = await store.append("many-b", 0, events("RunStarted"))
    a += await store.append("many-a", 2, events("StepSucceeded"))
    found = await store.read_many({"many-a", "many-b", "many-none"})
    assert found == {"many-a": a, "many-b": b, "many-none": []}
    assert await store.read_many(set()) == {}


async def test_load_runs_gives_latest_snapshot_and_the_events_after_it(store: EventStore) -> None:
    log = await store.append("load-a", 0, events("RunStarted", "StepScheduled", "StepSucceeded"))
    await store.commit_batch(CommitBatch(snapshots=[Snapshot("load-a", 1, {"at": 1}),
                                                    Snapshot("load-a", 2, {"at": 2})]))  # fmt: skip
    plain = await store.append("load-b", 0, events("RunStarted"))
    loaded = await store.load_runs(["load-a", "load-b", "load-none"])
    snapshot, tail = loaded["load-a"]
    assert snapshot is not None
    assert (snapshot.seq, snapshot.state) == (2, {"at": 2})
    assert tail == log[2:]
    assert loaded["load-b"] == (None, plain)
    assert loaded["load-none"] == (None, [])
    assert await store.load_runs([]) == {}


async def test_stored_events_carry_data_tenant_and_time(store: EventStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    [stored] = await store.append(
        "r1", 0, [NewEvent("RunStarted", {"nested": {"list": [1, "x", None]}})], tenant_id="acme"
    )
    assert stored.data == {"nested": {"list": [1, "x", None]}}
    assert stored.tenant_id == "acme"
    assert stored.recorded_at > before
    assert stored.position > 0


async def test_returned_data_is_a_copy(store: EventStore) -> None:
    data = {"items": [1]}
    await store.append("r1", 0, [NewEvent("RunStarted", data)])
    data["items"].append(2)
    [read] = await store.read("r1")
    read.data["items"].append(3)
    assert (await store.read("r1"))[0].data == {"items": [1]}


@pytest.mark.parametrize("expected", [1, 2, 5])
async def test_append_behind_or_ahead_of_the_log_conflicts(
    store: EventStore, expected: int
) -> None:
    await store.append("r1", 0, events("a", "b"))
    if expected == 2:
        await store.append("r1", 2, events("c"))
    with pytest.raises(ConcurrencyConflict) as caught:
        await store.append("r1", expected, events("x"))
    assert caught.value.run_ids == {"r1"}
    [conflict] = caught.value.conflicts
    assert conflict.expected_seq == expected
    assert conflict.actual_seq == (3 if expected == 2 else 2)
    assert len(await store.read("r1")) == conflict.actual_seq


async def test_a_new_run_must_start_at_zero(store: EventStore) -> None:
    with pytest.raises(ConcurrencyConflict):
        await store.append("fresh", 3, events("a"))
    assert await store.read("fresh") == []


async def test_concurrent_first_appends_have_exactly_one_winner(store: EventStore) -> None:
    async def attempt(i: int) -> bool:
        try:
            await store.append("race", 0, [NewEvent("RunStarted", {"writer": i})])
        except ConcurrencyConflict:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(i) for i in range(16)))
    assert outcomes.count(True) == 1
    [winner] = await store.read("race")
    assert outcomes[winner.data["writer"]]


async def test_concurrent_appenders_with_retries_leave_a_gapless_log(store: EventStore) -> None:
    """Writers that lose retry from the new tail: every seq is taken exactly once."""
    writers, appends_each, batch = 8, 5, 3
    conflicts = 0

    async def writer(w: int) -> None:
        nonlocal conflicts
        done = 0
        while done < appends_each:
            last = await store.read("busy")
            expected = last[-1].seq if last else 0
            try:
                await store.append(
                    "busy",
                    expected,
                    [NewEvent("E", {"w": w, "i": done, "k": k}) for k in range(batch)],
                )
            except ConcurrencyConflict:
                conflicts += 1
                continue
            done += 1

    await asyncio.gather(*(writer(w) for w in range(writers)))
    log = await store.read("busy")
    assert [e.seq for e in log] == list(range(1, writers * appends_each * batch + 1))
    # Each append landed as one contiguous block, in the writer's own order.
    blocks = [log[i : i + batch] for i in range(0, len(log), batch)]
    for block in blocks:
        assert len({(e.data["w"], e.data["i"]) for e in block}) == 1
        assert [e.data["k"] for e in block] == list(range(batch))
    positions = [e.position for e in log]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)


async def test_read_all_follows_every_run_in_position_order(store: EventStore) -> None:
    start = await store.last_position()
    await store.append("a", 0, events("a1", "a2"))
    await store.append("b", 0, events("b1"))
    await store.append("a", 2, events("a3"))
    log = await store.read_all(after_position=start)
    assert [e.type for e in log] == ["a1", "a2", "b1", "a3"]
    assert [e.position for e in log] == sorted(e.position for e in log)
    assert await store.last_position() == log[-1].position
    assert [e.type for e in await store.read_all(after_position=log[1].position, limit=1)] == ["b1"]
    assert await store.read_all(after_position=log[-1].position) == []


async def test_a_follower_sees_every_event_while_writers_commit(store: EventStore) -> None:
    """Positions become visible in commit order, so polling `after_position` never skips."""
    runs, appends_each = 6, 8
    done = asyncio.Event()
    seen: list[tuple[str, int]] = []

    async def writer(r: int) -> None:
        for i in range(appends_each):
            await store.append(f"run-{r}", i, [NewEvent("E", {"i": i})])

    async def follower() -> None:
        position = 0
        while True:
            finished = done.is_set()
            batch = await store.read_all(after_position=position, limit=7)
            seen.extend((e.run_id, e.seq) for e in batch)
            position = batch[-1].position if batch else position
            if finished and not batch:
                return
            await asyncio.sleep(0)

    follow = asyncio.create_task(follower())
    await asyncio.gather(*(writer(r) for r in range(runs)))
    done.set()
    await asyncio.wait_for(follow, timeout=30)
    expected = {(f"run-{r}", s) for r in range(runs) for s in range(1, appends_each + 1)}
    assert len(seen) == len(expected)
    assert set(seen) == expected


async def test_snapshots_latest_wins(store: EventStore) -> None:
    assert await store.latest_snapshot("r1") is None
    await store.commit_batch(
        CommitBatch(snapshots=[Snapshot("r1", 10, {"at": 10}), Snapshot("r1", 20, {"at": 20})])
    )
    await store.commit_batch(CommitBatch(snapshots=[Snapshot("r1", 15, {"at": 15})]))
    latest = await store.latest_snapshot("r1")
    assert latest is not None
    assert (latest.seq, latest.state) == (20, {"at": 20})


def full_batch(run_id: str, expected_seq: int, *, now: datetime) -> CommitBatch:
    return CommitBatch(
        appends=[RunAppend(run_id, expected_seq, events("RunStarted", "StepScheduled"))],
        runs=[RunRecord(run_id, "wf", 1, "running", input={"x": 1}, started_at=now)],
        steps=[StepRecord(run_id, "fetch", "scheduled", started_at=now)],
        snapshots=[Snapshot(run_id, 2, {"state": run_id})],
        outbox=[OutboxMessage("tideflow.tasks.default", b"task-" + run_id.encode(), key=b"k")],
        timers=[Timer(f"t-{run_id}", run_id, now - timedelta(seconds=1), "step_timeout")],
        processed=[ProcessedCommand(f"cmd-{run_id}", run_id)],
    )


async def test_commit_batch_writes_everything_for_many_runs(store: EventStore) -> None:
    now = datetime.now(UTC)
    a, b = full_batch("a", 0, now=now), full_batch("b", 0, now=now)
    batch = CommitBatch(
        appends=[*a.appends, *b.appends],
        runs=[*a.runs, *b.runs],
        steps=[*a.steps, *b.steps],
        snapshots=[*a.snapshots, *b.snapshots],
        outbox=[*a.outbox, *b.outbox],
        timers=[*a.timers, *b.timers],
        processed=[*a.processed, *b.processed],
    )
    result = await store.commit_batch(batch)
    assert {run: [e.seq for e in evs] for run, evs in result.events.items()} == {
        "a": [1, 2],
        "b": [1, 2],
    }
    assert len(result.outbox_ids) == 2
    run = await store.get_run("a")
    assert (run.status, run.last_seq, run.input) == ("running", 2, {"x": 1})
    assert [s.node_id for s in await store.get_steps("b")] == ["fetch"]
    assert await store.is_processed(["cmd-a", "cmd-b", "cmd-c"]) == {"cmd-a", "cmd-b"}
    claimed = await store.claim_outbox(10)
    assert [m.id for m in claimed] == result.outbox_ids
    assert {t.timer_id for t in await store.claim_due_timers(now, 10, timedelta(seconds=30))} == {
        "t-a",
        "t-b",
    }


async def test_a_conflict_in_one_run_rolls_back_the_whole_batch(store: EventStore) -> None:
    now = datetime.now(UTC)
    await store.append("b", 0, events("RunStarted"))
    a, b = full_batch("a", 0, now=now), full_batch("b", 0, now=now)
    batch = CommitBatch(
        appends=[*a.appends, *b.appends],
        runs=[*a.runs, *b.runs],
        steps=[*a.steps, *b.steps],
        snapshots=[*a.snapshots, *b.snapshots],
        outbox=[*a.outbox, *b.outbox],
        timers=[*a.timers, *b.timers],
        processed=[*a.processed, *b.processed],
        cancel_timers=[TimerKey("a", "keep-me")],
    )
    await store.schedule_timers([Timer("keep-me", "a", now - timedelta(seconds=1), "delay")])
    with pytest.raises(ConcurrencyConflict) as caught:
        await store.commit_batch(batch)
    assert caught.value.run_ids == {"b"}
    assert await store.read("a") == []
    assert len(await store.read("b")) == 1
    with pytest.raises(NotFound):
        await store.get_run("a")
    assert await store.get_steps("a") == []
    assert await store.latest_snapshot("a") is None
    assert await store.is_processed(["cmd-a", "cmd-b"]) == set()
    assert await store.claim_outbox(10) == []
    due = await store.claim_due_timers(now, 10, timedelta(seconds=30))
    assert [t.timer_id for t in due] == ["keep-me"]


async def test_a_batch_reports_every_conflicting_run(store: EventStore) -> None:
    await store.append("x", 0, events("a"))
    await store.append("y", 0, events("a"))
    batch = CommitBatch(
        appends=[
            RunAppend("x", 0, events("b")),
            RunAppend("y", 0, events("b")),
            RunAppend("z", 0, events("b")),
        ]
    )
    with pytest.raises(ConcurrencyConflict) as caught:
        await store.commit_batch(batch)
    assert caught.value.run_ids == {"x", "y"}
    assert await store.read("z") == []


async def test_an_empty_append_checks_the_expected_seq_only(store: EventStore) -> None:
    await store.append("r", 0, events("a"))
    assert await store.append("r", 1, []) == []
    with pytest.raises(ConcurrencyConflict):
        await store.append("r", 0, [])


async def test_a_run_twice_in_one_batch_is_refused(store: EventStore) -> None:
    batch = CommitBatch(appends=[RunAppend("r", 0, events("a")), RunAppend("r", 1, events("b"))])
    with pytest.raises(StoreError):
        await store.commit_batch(batch)
    assert await store.read("r") == []


async def test_processed_commands_are_idempotent(store: EventStore) -> None:
    await store.commit_batch(CommitBatch(processed=[ProcessedCommand("c1", "r")]))
    await store.commit_batch(CommitBatch(processed=[ProcessedCommand("c1", "r")]))
    assert await store.is_processed(["c1"]) == {"c1"}
    assert await store.is_processed([]) == set()


async def test_duplicate_idempotency_key_rolls_back_the_batch(store: EventStore) -> None:
    await store.commit_batch(
        CommitBatch(runs=[RunRecord("r1", "wf", 1, "running", idempotency_key="k")])
    )
    batch = CommitBatch(
        appends=[RunAppend("r2", 0, events("RunStarted"))],
        runs=[RunRecord("r2", "wf", 1, "running", idempotency_key="k")],
    )
    with pytest.raises(AlreadyExists):
        await store.commit_batch(batch)
    assert await store.read("r2") == []
    found = await store.find_run_by_idempotency_key("wf", "k")
    assert found is not None
    assert found.run_id == "r1"
    assert await store.find_run_by_idempotency_key("wf", "other") is None
    # The same key is free in another workflow and another tenant.
    await store.commit_batch(
        CommitBatch(
            runs=[
                RunRecord("r3", "wf2", 1, "running", idempotency_key="k"),
                RunRecord("r4", "wf", 1, "running", idempotency_key="k", tenant_id="acme"),
            ]
        )
    )
