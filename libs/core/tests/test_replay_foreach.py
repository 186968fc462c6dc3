"""Replaying from an event inside a foreach keeps the items that had succeeded by then.

`fork` used to restore only flow steps: a foreach still going at the chosen event ran
every item again in the replay, the succeeded ones included (their outside calls twice).
Now an item that had succeeded keeps its output (`ItemRestored`, no task) when the
replay's foreach has the same item at that index; the others run.
"""

from __future__ import annotations

from typing import Any

import pytest

from tideflow.core import (
    StepScheduled,
    fold,
    fork,
    state_from_snapshot,
    state_to_snapshot,
)
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit

WORKFLOW: dict[str, Any] = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "w"},
    "spec": {
        "nodes": [
            {"id": "each", "type": "foreach", "config": {
                "items": "{{ input.items }}", "concurrency": 4,
                "node": {"type": "function", "config": {"name": "charge", "input": "{{ item }}"}},
            }},
            {"id": "after", "type": "function", "config": {"name": "after"}},
        ],
        "edges": [{"from": "each", "to": "after"}],
    },
}  # fmt: skip


def dispatched_items(run: LocalRun) -> list[int]:
    return [e.index for e in run.events if isinstance(e, StepScheduled) and e.role == "item"]  # type: ignore[misc]


def half_done() -> tuple[LocalRun, int]:
    """Items 0 and 2 of four succeeded, 1 and 3 are still running; the seq after that."""
    run = LocalRun(WORKFLOW)
    run.start({"items": [10, 11, 12, 13]})
    run.complete("each[0]", "c10")
    run.complete("each[2]", "c12")
    seq = len(run.events)
    run.complete("each[1]", "c11")
    run.complete("each[3]", "c13")
    run.complete("after")
    assert run.state.status == "succeeded"
    return run, seq


def replayed(source: LocalRun, seq: int, **extra: Any) -> LocalRun:
    run = LocalRun(WORKFLOW, run_id="replay-1")
    run.send(fork(source.events, seq, run_id="replay-1", command_id="r-1", **extra))
    return run


def test_a_replay_inside_a_foreach_runs_only_the_items_that_had_not_succeeded() -> None:
    source, seq = half_done()
    run = replayed(source, seq)
    assert dispatched_items(run) == [1, 3]
    assert [e.type for e in run.events].count("ItemRestored") == 2
    run.complete("each[1]", "new11")
    run.complete("each[3]", "new13")
    assert run.state.steps["each"].output == ["c10", "new11", "c12", "new13"]
    run.complete("after")
    assert run.state.status == "succeeded"
    assert fold(run.events) == run.state
    assert state_from_snapshot(state_to_snapshot(run.state)) == run.state


def test_a_replay_with_other_items_runs_the_items_that_changed() -> None:
    source, seq = half_done()
    run = replayed(source, seq, input={"items": [10, 99, 77, 13]})
    assert dispatched_items(run) == [1, 2, 3]  # item 2 is another item now
    assert run.state.steps["each[0]"].output == "c10"


def test_a_replay_before_any_item_succeeded_runs_them_all() -> None:
    source, _ = half_done()
    run = replayed(source, 1)  # after RunStarted
    assert dispatched_items(run) == [0, 1, 2, 3]
