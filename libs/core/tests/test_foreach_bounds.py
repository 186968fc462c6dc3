"""A big foreach shares the scheduler with other runs and stops as soon as its combined
output outgrows its limit; folding or deciding it costs time linear in its events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from tideflow.core import (
    FireTimer,
    Limits,
    ScheduleTimer,
    StepScheduled,
    effects,
    fold,
    state_from_snapshot,
    state_to_snapshot,
)
from tideflow.core._decider._foreach import ITEMS_PER_DECISION
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit


def foreach(child: dict[str, Any], *, concurrency: int = 1000) -> LocalRun:
    node = {
        "id": "each",
        "type": "foreach",
        "config": {"items": "{{ input.items }}", "concurrency": concurrency, "node": child},
    }
    return LocalRun({"apiVersion": "tideflow.io/v1", "kind": "Workflow",
                     "metadata": {"name": "w"}, "spec": {"nodes": [node]}})  # fmt: skip


INLINE = {"type": "transform", "config": {"value": "{{ item * 2 }}"}}
DISPATCHED = {"type": "function", "config": {"name": "f", "input": "{{ item }}"}}


def items_started(events: list[Any]) -> int:
    return sum(1 for e in events if isinstance(e, StepScheduled) and e.role == "item")


def test_one_decision_starts_a_bounded_share_of_inline_items() -> None:
    run = foreach(INLINE)
    first = run.start({"items": list(range(1_000))})
    assert items_started(first) == ITEMS_PER_DECISION
    (resume,) = [e for e in effects(run.state, first) if isinstance(e, ScheduleTimer)]
    assert (resume.kind, resume.fire_at) == ("foreach_continue", run.now)  # due at once
    shares = [first]
    while run.state.timers:
        (timer,) = run.state.timers
        shares.append(run.send(FireTimer(command_id=run.next_id(), run_id=run.run_id,
                                         timer_id=timer)))  # fmt: skip
    shares_needed = 1_000 // ITEMS_PER_DECISION
    assert [items_started(e) for e in shares] == [ITEMS_PER_DECISION] * shares_needed
    assert run.state.status == "succeeded"
    assert run.state.steps["each"].output == [2 * i for i in range(1_000)]


def test_dispatched_items_are_started_in_shares_up_to_the_concurrency() -> None:
    run = foreach(DISPATCHED, concurrency=500)
    first = run.start({"items": list(range(600))})
    assert items_started(first) == ITEMS_PER_DECISION
    run.advance(timedelta(0))
    assert len(run.tasks()) == 500  # the concurrency, reached over several decisions
    for task in run.tasks()[:50]:
        run.complete(task.step, task.step)
    run.advance(timedelta(0))
    assert len(run.tasks()) == 500
    while run.tasks():
        for task in run.tasks():
            run.complete(task.step, 1)
        run.advance(timedelta(0))
    assert run.state.status == "succeeded"
    assert len(run.state.steps["each"].output) == 600


def test_a_foreach_fails_at_the_item_that_outgrows_its_output_limit() -> None:
    run = foreach(DISPATCHED, concurrency=20)
    run.start({"items": list(range(100))}, limits=Limits(foreach_output_bytes=1_000))
    completed = 0
    while run.state.status == "running":
        task = run.tasks()[0]
        run.complete(task.step, "y" * 98)  # 100 bytes as JSON, 101 with its separator
        completed += 1
    assert completed == 10  # 10 * 101 + 1 > 1,000: failed right there, not after 100
    each = run.state.steps["each"]
    assert (each.status, each.error and each.error.type) == ("failed", "ForeachOutputTooLarge")
    assert run.state.status == "failed"
    assert run.tasks() == []  # the other active items were cancelled
    started = sum(1 for s in run.state.steps.values() if s.parent_step == "each")
    assert started < 100  # items never started stay unstarted


def test_the_running_output_total_matches_the_combined_output() -> None:
    run = foreach({"type": "transform", "config": {"value": "{{ {'k': item, 's': 'é'} }}"}})
    run.start({"items": list(range(50))})
    each = run.state.steps["each"]
    assert each.status == "succeeded"
    assert each.item_output_bytes + 1 == len(orjson.dumps(each.output))


def test_folding_and_snapshots_recount_the_output_total() -> None:
    run = foreach(DISPATCHED, concurrency=10)
    run.start({"items": list(range(30))})
    for task in run.tasks()[:7]:
        run.complete(task.step, {"v": task.step})
    expected = run.state.steps["each"].item_output_bytes
    assert expected > 0
    assert fold(run.events).steps["each"].item_output_bytes == expected
    restored = state_from_snapshot(state_to_snapshot(run.state), run.context)
    assert restored.steps["each"].item_output_bytes == expected


def test_a_decision_never_changes_the_state_it_started_from() -> None:
    # the decider updates the steps map it copied in place; the caller's state is shared
    # (the scheduler's cache, the projection diff) and must stay exactly as it was
    run = foreach(DISPATCHED, concurrency=100)
    run.start({"items": list(range(300))})
    before = run.state
    kept = dict(before.steps)
    for task in run.tasks()[:30]:
        run.complete(task.step, 1)
    assert before.steps == kept
    assert before.steps is not run.state.steps


def test_folding_a_big_foreach_gives_the_decided_state() -> None:
    run = foreach(INLINE)
    run.start({"items": list(range(2_000))})
    run.advance(timedelta(0))
    folded = fold(run.events)
    assert folded.steps == run.state.steps
    assert folded.status == run.state.status == "succeeded"
