"""Snapshots: a run's folded state every N events, so reloading a long run stays cheap.

A scheduler that takes over a partition (or restarts) must rebuild the state of every run
it decides. Folding the whole log is linear in the run's length; with a snapshot every N
events it is at most N events plus one JSON decode, whatever the run's age.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.core import (
    RunState,
    event_from_record,
    fold,
    state_from_snapshot,
    state_to_snapshot,
)
from tideflow.store import Snapshot

if TYPE_CHECKING:
    from tideflow.store import RunLog, StoredEvent


def snapshot_due(before_seq: int, after_seq: int, every: int, steps: int = 0) -> bool:
    """Whether a decision that moved a run from `before_seq` to `after_seq` crossed a multiple
    of the snapshot interval (so each run gets one snapshot per interval, however its events
    are batched).

    The interval is `every` events; for a run of more than `4 * every` steps it is the
    number of steps rounded up to a power of two: a snapshot costs time linear in the
    steps, so a run with many steps (a 10,000-item foreach) is snapshotted less often and
    its snapshots cost O(1) per event amortised, where one every 100 events made the run
    quadratic. (Powers of two keep the interval still while the run grows, so crossings
    stay one per interval.)"""
    interval = every if steps <= 4 * every else 1 << (steps - 1).bit_length()
    return after_seq // interval > before_seq // interval


def snapshot_of(state: RunState, *, tenant_id: str) -> Snapshot:
    return Snapshot(
        run_id=state.run_id, seq=state.last_seq, state=state_to_snapshot(state), tenant_id=tenant_id
    )


def fold_from(base: RunState | None, events: list[StoredEvent]) -> RunState | None:
    """`base` (or an empty run) with the stored events folded on; None when nothing is there."""
    if base is None and not events:
        return None
    return fold((event_from_record(e.type, e.data) for e in events), base or RunState())


def restored(snapshot: Snapshot | None) -> RunState | None:
    """The state a snapshot holds; None when there is none or its format is not ours."""
    if snapshot is None:
        return None
    try:
        return state_from_snapshot(snapshot.state)
    except ValueError:
        return None


async def restore(store: RunLog, run_id: str) -> RunState | None:
    """The run's current state from its latest snapshot and the events after it."""
    snapshot, events = (await store.load_runs([run_id]))[run_id]
    base = restored(snapshot)
    if base is None and snapshot is not None:  # an old format: fold the whole log instead
        events = await store.read(run_id)
    return fold_from(base, events)
