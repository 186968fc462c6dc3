"""Contract suite: timers of different runs never touch each other.

Timer ids are made by the core from the step, the kind and the attempt, so every run of a
workflow uses the same ids (`pause/delay/1`, `slow/step_timeout/1`, ...). These tests give
two runs exactly the ids the core derives for each kind of timer (delay, retry backoff, step
timeout, signal timeout, approval timeout) and check that scheduling, re-scheduling,
claiming, completing and cancelling one run's timers leave the other run's alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tideflow.core import TimerKind, ids
from tideflow.store import CommitBatch, EventStore, Timer, TimerKey

pytestmark = pytest.mark.contract

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=30)

# (step, kind): a delay node, a retried step, a step with a timeout, a signal with a
# timeout and an approval with a timeout, all on attempt 1 as in every fresh run.
SHARED = [
    ("pause", TimerKind.DELAY),
    ("flaky", TimerKind.RETRY),
    ("slow", TimerKind.STEP_TIMEOUT),
    ("sig", TimerKind.STEP_TIMEOUT),
    ("approve", TimerKind.STEP_TIMEOUT),
]
TIMER_IDS = [ids.timer_id(step, kind, 1) for step, kind in SHARED]


def timers_of(run_id: str, fire_at: datetime) -> list[Timer]:
    return [
        Timer(ids.timer_id(step, kind, 1), run_id, fire_at, str(kind), {"run": run_id})
        for step, kind in SHARED
    ]


def keys(timers: list[Timer]) -> set[TimerKey]:
    return {t.key for t in timers}


async def schedule_both(store: EventStore) -> None:
    """Both runs' timers in two batches, as two scheduler decisions write them."""
    await store.commit_batch(CommitBatch(timers=timers_of("a", NOW - timedelta(seconds=2))))
    await store.commit_batch(CommitBatch(timers=timers_of("b", NOW + timedelta(seconds=5))))


async def test_runs_sharing_node_ids_keep_their_own_timers(store: EventStore) -> None:
    await schedule_both(store)
    due = await store.claim_due_timers(NOW, 100, LEASE)
    assert keys(due) == {TimerKey("a", t) for t in TIMER_IDS}
    assert {t.payload["run"] for t in due} == {"a"}
    later = NOW + timedelta(seconds=5)
    due_b = await store.claim_due_timers(later, 100, LEASE)
    assert keys(due_b) == {TimerKey("b", t) for t in TIMER_IDS}
    assert {(t.fire_at, t.payload["run"]) for t in due_b} == {(later, "b")}


async def test_rescheduling_one_runs_timer_leaves_the_other_in_place(store: EventStore) -> None:
    await schedule_both(store)
    # Run b schedules the same ids again (a later attempt replacing its own timers).
    await store.commit_batch(CommitBatch(timers=timers_of("b", NOW + timedelta(hours=1))))
    due = await store.claim_due_timers(NOW, 100, LEASE)
    assert keys(due) == {TimerKey("a", t) for t in TIMER_IDS}
    assert {t.fire_at for t in due} == {NOW - timedelta(seconds=2)}
    await store.complete_timers([t.key for t in due])
    assert await store.claim_due_timers(NOW + timedelta(seconds=10), 100, LEASE) == []
    due_b = await store.claim_due_timers(NOW + timedelta(hours=1), 100, LEASE)
    assert keys(due_b) == {TimerKey("b", t) for t in TIMER_IDS}


async def test_cancelling_one_runs_timers_keeps_the_others(store: EventStore) -> None:
    await schedule_both(store)
    await store.commit_batch(CommitBatch(cancel_timers=[TimerKey("b", t) for t in TIMER_IDS]))
    due = await store.claim_due_timers(NOW + timedelta(hours=1), 100, LEASE)
    assert keys(due) == {TimerKey("a", t) for t in TIMER_IDS}


async def test_completing_one_runs_timers_keeps_the_others(store: EventStore) -> None:
    await schedule_both(store)
    due = await store.claim_due_timers(NOW, 100, LEASE)
    assert {t.run_id for t in due} == {"a"}
    await store.complete_timers([t.key for t in due])
    # b's timers with the very same ids are still there, and a's are gone for good.
    due_b = await store.claim_due_timers(NOW + timedelta(hours=1), 100, LEASE)
    assert keys(due_b) == {TimerKey("b", t) for t in TIMER_IDS}
    await store.complete_timers([t.key for t in due_b])
    assert await store.claim_due_timers(NOW + timedelta(days=1), 100, LEASE) == []


async def test_a_claim_of_one_run_does_not_hide_the_same_id_of_another(
    store: EventStore,
) -> None:
    await store.commit_batch(CommitBatch(timers=[*timers_of("a", NOW), *timers_of("b", NOW)]))
    first = await store.claim_due_timers(NOW, 5, LEASE)
    second = await store.claim_due_timers(NOW, 5, LEASE)
    assert len(first) == len(second) == 5
    assert keys(first) | keys(second) == {TimerKey(run, t) for run in ("a", "b") for t in TIMER_IDS}
    assert await store.claim_due_timers(NOW, 5, LEASE) == []
