"""Contract suite of log followers (`follow`), run against every `EventStore`."""

from __future__ import annotations

import pytest

from tideflow.store import CommitBatch, EventStore, NewEvent, RunRecord

pytestmark = pytest.mark.contract


class RefusedError(Exception):
    """What a publisher's failed Kafka send looks like from the store's side."""


async def some_log(store: EventStore) -> None:
    """Run `a` has a runs row (as scheduler batches write it), run `b` only events."""
    await store.commit_batch(CommitBatch(runs=[RunRecord("a", "wf-a", 3, "running")]))
    await store.append("a", 0, [NewEvent("RunStarted", {}), NewEvent("StepScheduled", {})])
    await store.append("b", 0, [NewEvent("RunStarted", {})])
    await store.append("a", 2, [NewEvent("StepSucceeded", {})])


async def advance_then_fail(store: EventStore, position: int) -> None:
    async with store.follow("f", limit=2) as claim:
        assert claim is not None
        claim.advance(position)
        raise RefusedError


async def test_a_new_follower_reads_the_log_from_the_start_with_each_runs_workflow(
    store: EventStore,
) -> None:
    await some_log(store)
    async with store.follow("f", limit=10) as claim:
        assert claim is not None
        assert claim.position == 0
        got = [(f.event.run_id, f.event.seq, f.workflow_id, f.version) for f in claim.events]
    assert got == [("a", 1, "wf-a", 3), ("a", 2, "wf-a", 3), ("b", 1, "", 0), ("a", 3, "wf-a", 3)]
    positions = [f.event.position for f in claim.events]
    assert positions == sorted(positions)


async def test_the_position_moves_only_when_advanced_and_the_block_succeeds(
    store: EventStore,
) -> None:
    await some_log(store)
    async with store.follow("f", limit=2) as claim:
        assert claim is not None
        first = claim.events
    assert await store.follower_position("f") == 0  # not advanced: read again
    with pytest.raises(RefusedError):
        await advance_then_fail(store, first[-1].event.position)
    assert await store.follower_position("f") == 0
    async with store.follow("f", limit=2) as claim:
        assert claim is not None
        assert claim.events == first
        claim.advance(first[-1].event.position)
    assert await store.follower_position("f") == first[-1].event.position
    async with store.follow("f", limit=10) as claim:
        assert claim is not None
        assert [(f.event.run_id, f.event.seq) for f in claim.events] == [("b", 1), ("a", 3)]
        with pytest.raises(ValueError, match="back"):
            claim.advance(0)
        claim.advance(claim.events[-1].event.position)
    async with store.follow("f", limit=10) as claim:
        assert claim is not None
        assert claim.events == []


async def test_one_holder_at_a_time_per_name(store: EventStore) -> None:
    await some_log(store)
    async with store.follow("f") as held:
        assert held is not None
        async with store.follow("f") as other:
            assert other is None
        async with store.follow("g") as independent:
            assert independent is not None
            assert len(independent.events) == 4
    async with store.follow("f") as again:
        assert again is not None
