"""What a commit batch does besides the log: `watch_run_end` is set when a run's row turns
terminal, by a commit, and only then; audit entries commit with their batch."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tideflow.store import (
    APP_ROLE,
    AuditEntry,
    CommitBatch,
    ConcurrencyConflict,
    EventStore,
    NewEvent,
    PostgresEventStore,
    RunAppend,
    RunRecord,
)

pytestmark = pytest.mark.integration


def _row(run_id: str, status: str) -> RunRecord:
    return RunRecord(run_id, "wf", 1, status)


async def _ended_soon(event: asyncio.Event, within: float = 5.0) -> bool:
    try:
        async with asyncio.timeout(within):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def test_only_a_committed_end_of_that_run_wakes_its_watchers(store: EventStore) -> None:
    await store.commit_batch(CommitBatch(runs=[_row("a", "running"), _row("b", "running")]))
    async with store.watch_run_end("a") as a_ended, store.watch_run_end("b") as b_ended:
        await store.commit_batch(CommitBatch(runs=[_row("a", "waiting")]))  # not an end
        await store.commit_batch(CommitBatch(runs=[_row("b", "failed")]))
        assert await _ended_soon(b_ended)
        assert not await _ended_soon(a_ended, within=0.3)
        # a batch that rolls back (its append conflicts) ends nothing
        rejected = CommitBatch(
            appends=[RunAppend("a", 5, [NewEvent("RunSucceeded", {})])],
            runs=[_row("a", "succeeded")],
        )
        with pytest.raises(ConcurrencyConflict):
            await store.commit_batch(rejected)
        assert not await _ended_soon(a_ended, within=0.3)
        await store.commit_batch(CommitBatch(runs=[_row("a", "succeeded")]))
        assert await _ended_soon(a_ended)


async def test_ends_written_by_another_process_wake_watchers(dsn: str) -> None:
    """Two stores with their own pools, as the gateway and the scheduler are."""
    reader = await PostgresEventStore.connect(dsn, max_size=2, role=APP_ROLE)
    writer = await PostgresEventStore.connect(dsn, max_size=2, role=APP_ROLE)
    try:
        ids = [f"run-{i}" for i in range(40)]
        await writer.commit_batch(CommitBatch(runs=[_row(r, "running") for r in ids]))
        async with contextlib.AsyncExitStack() as stack:
            events = {r: await stack.enter_async_context(reader.watch_run_end(r)) for r in ids}
            ending = ids[::2]
            await writer.commit_batch(CommitBatch(runs=[_row(r, "succeeded") for r in ending]))
            for r in ending:
                assert await _ended_soon(events[r]), r
            await asyncio.sleep(0.2)
            assert not any(events[r].is_set() for r in ids[1::2])
    finally:
        await reader.close()
        await writer.close()


async def test_audit_entries_commit_with_their_batch_or_not_at_all(store: EventStore) -> None:
    """A run start records its run, outbox row and audit entry in one transaction."""
    entry = AuditEntry("default", "ann", "run.start", "run/x", "127.0.0.1", details={"v": 1})
    await store.commit_batch(CommitBatch(runs=[_row("x", "pending")], audit=[entry]))
    records = await store.list_audit(tenant_id="default")
    assert [(r.entry.action, r.entry.resource, r.entry.details) for r in records] == [
        ("run.start", "run/x", {"v": 1})
    ]
    await store.commit_batch(CommitBatch(appends=[RunAppend("x", 0, [NewEvent("A", {})])]))
    failing = CommitBatch(
        appends=[RunAppend("x", 0, [NewEvent("A", {})])],  # stale: the batch rolls back
        audit=[AuditEntry("default", "ann", "run.start", "run/y")],
    )
    with pytest.raises(ConcurrencyConflict):
        await store.commit_batch(failing)
    assert [r.entry.resource for r in await store.list_audit(tenant_id="default")] == ["run/x"]
