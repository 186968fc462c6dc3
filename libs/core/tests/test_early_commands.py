"""Commands that reach a run before its StartRun: the outcome does not depend on the order.

A cancel or fail used to decide nothing for a run not started yet (and the scheduler
dead-lettered it), so a run whose cancel was answered 202 started and ran anyway; a
signal sent that early was lost.
"""

from __future__ import annotations

import pytest

from tideflow.core import Cancel, StepResult, fold, state_from_snapshot, state_to_snapshot
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit

DEFINITION = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "early"},
    "spec": {
        "nodes": [{"id": "book", "type": "http", "config": {"url": "http://x/book"}},
                  {"id": "go", "type": "signal", "config": {"name": "go"}}],
        "edges": [{"from": "book", "to": "go"}],
    },
}  # fmt: skip


def test_a_cancel_before_the_start_ends_the_run_and_the_start_decides_nothing() -> None:
    run = LocalRun(DEFINITION)
    assert run.event_types(run.cancel("changed my mind")) == ["RunCancelled"]
    assert run.state.status == "cancelled"
    assert run.start() == []  # the late StartRun: no RunStarted, no step scheduled
    assert run.state.steps == {}
    assert run.event_types() == ["RunCancelled"]
    [cancelled] = run.events
    assert cancelled.reason == "changed my mind"  # type: ignore[attr-defined]
    assert fold(run.events) == run.state


def test_a_fail_before_the_start_ends_the_run_failed() -> None:
    run = LocalRun(DEFINITION)
    command = Cancel(command_id="f-1", run_id=run.run_id, reason="bad input", by="ops", fail=True)
    assert run.event_types(run.send(command)) == ["RunFailed"]
    assert run.start() == []
    assert run.state.status == "failed"
    assert run.state.error is not None
    assert run.state.error.type == "ManuallyFailed"
    assert run.state.error.message == "failed manually by ops: bad input"


def test_a_redelivered_early_cancel_decides_nothing_again() -> None:
    run = LocalRun(DEFINITION)
    command = Cancel(command_id="c-1", run_id=run.run_id, reason="stop")
    run.send(command)
    assert run.send(command) == []
    assert run.start() == []
    assert run.event_types() == ["RunCancelled"]


def test_a_signal_before_the_start_is_buffered_for_the_step_that_waits() -> None:
    run = LocalRun(DEFINITION)
    assert run.event_types(run.signal("go", {"paid": True})) == ["SignalReceived"]
    assert run.state.status == "pending"
    assert state_from_snapshot(state_to_snapshot(run.state)) == run.state
    run.start()
    assert run.state.status == "running"
    run.complete("book")
    assert run.state.steps["go"].output == {"paid": True}
    assert run.state.status == "succeeded"
    assert fold(run.events) == run.state


def test_a_cancel_after_an_early_signal_still_ends_the_run_before_it_starts() -> None:
    run = LocalRun(DEFINITION)
    run.signal("go", 1)
    run.cancel("no")
    assert run.start() == []
    assert run.event_types() == ["SignalReceived", "RunCancelled"]
    assert run.state.status == "cancelled"


def test_other_commands_before_the_start_decide_nothing() -> None:
    run = LocalRun(DEFINITION)
    result = StepResult(command_id="r", run_id=run.run_id, step="book", attempt=1, ok=True)
    assert run.send(result) == []
    assert run.state.last_seq == 0
