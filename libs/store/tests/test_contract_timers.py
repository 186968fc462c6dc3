"""Contract suite of the `TimerStore` port: durable timers claimed under a lease."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    CommitBatch,
    EventStore,
    Timer,
    TimerKey,
)

pytestmark = pytest.mark.contract

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=30)


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


async def test_a_timer_given_twice_in_one_call_is_set_as_the_last_says(store: EventStore) -> None:
    now = datetime.now(UTC)
    await store.schedule_timers(
        [
            Timer("t", "r", now + timedelta(hours=1), "delay", {"n": 1}),
            Timer("u", "r", now - timedelta(seconds=2), "delay"),
            Timer("t", "r", now - timedelta(seconds=1), "step_timeout", {"n": 2}),
        ]
    )
    due = await store.claim_due_timers(now, 10, timedelta(seconds=30))
    assert [(t.timer_id, t.kind, t.payload) for t in due] == [
        ("u", "delay", {}),
        ("t", "step_timeout", {"n": 2}),
    ]
