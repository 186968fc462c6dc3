"""Replaying across a compensation: a step whose effects were undone runs again.

`fork` restores the outputs of steps that had succeeded at the chosen seq. If a
compensation undid a step's effects in the source run (after that seq, or before it),
"succeeded" no longer holds in the world: the replay must run the step again, and every
step after it in the graph (they used its output and ran after it). A compensation that
failed for good undid nothing as far as anyone knows: that step alone is no reason to
run anything again.
"""

from typing import Any

import pytest

from tideflow.core import RunStatus, StepStatus, compensated_steps, fork
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit

ORDER: dict[str, Any] = {
    "metadata": {"name": "order"},
    "spec": {
        "nodes": [
            {"id": "quote", "type": "function", "config": {"name": "quote"}},
            {"id": "reserve", "type": "function", "config": {"name": "reserve"},
             "compensate": "release"},
            {"id": "charge", "type": "function", "config": {"name": "charge"},
             "compensate": "refund"},
            {"id": "ship", "type": "function", "retry": {"maxAttempts": 1},
             "config": {"name": "ship"}},
            {"id": "release", "type": "function", "config": {"name": "release"}},
            {"id": "refund", "type": "function", "retry": {"maxAttempts": 1},
             "config": {"name": "refund"}},
        ],
        "edges": [{"from": "quote", "to": "reserve"}, {"from": "reserve", "to": "charge"},
                  {"from": "charge", "to": "ship"}],
    },
}  # fmt: skip


def failed_order(*, refund_fails: bool = False) -> tuple[LocalRun, int]:
    """quote, reserve and charge succeed, ship fails for good, the saga unwinds.

    Returns the run and the seq right after `charge` succeeded (before the unwinding).
    """
    run = LocalRun(ORDER)
    run.start()
    run.complete("quote", {"price": 10})
    run.complete("reserve", {"slot": "A"})
    run.complete("charge", {"tx": "T1"})
    before_unwinding = len(run.events)
    run.fail("ship", "Broken", retryable=False)
    if refund_fails:
        run.fail("charge.compensate", "Gateway", retryable=False)
    else:
        run.complete("charge.compensate", {"refunded": "T1"})
    run.complete("reserve.compensate", {"released": "A"})
    return run, before_unwinding


def replayed(run: LocalRun, seq: int) -> LocalRun:
    start = fork(run.events, seq, run_id="replay-1", command_id="replay-1:start")
    replay = LocalRun(start.definition, run_id="replay-1")
    replay.send(start)
    return replay


def test_a_replay_before_a_compensation_runs_the_compensated_steps_again() -> None:
    run, seq = failed_order()
    assert run.state.status is RunStatus.COMPENSATED
    assert compensated_steps(run.events) == {"reserve", "charge"}
    start = fork(run.events, seq, run_id="replay-1", command_id="replay-1:start")
    assert start.restored is not None
    # quote has no compensation: its "succeeded" still holds and it is not run again.
    assert start.restored.outputs == {"quote": {"price": 10}}
    assert start.restored.order == ("quote",)

    replay = replayed(run, seq)
    assert replay.state.steps["quote"].restored
    assert replay.state.steps["reserve"].status is StepStatus.SCHEDULED
    assert [t.step for t in replay.tasks()] == ["reserve"]
    replay.complete("reserve", {"slot": "B"})
    replay.complete("charge", {"tx": "T2"})
    replay.complete("ship", {"parcel": 1})
    assert replay.state.status is RunStatus.SUCCEEDED
    assert replay.state.steps["charge"].output == {"tx": "T2"}


def test_a_replay_from_after_the_unwinding_also_runs_them_again() -> None:
    run, _ = failed_order()
    start = fork(run.events, len(run.events), run_id="replay-1", command_id="replay-1:start")
    assert start.restored is not None
    assert set(start.restored.outputs) == {"quote"}


def test_steps_after_a_compensated_step_run_again_after_it() -> None:
    """charge's refund failed, but charge comes after reserve, which runs again: charge
    consumed reserve's output and ran after it, so it runs again too, after reserve."""
    run, seq = failed_order(refund_fails=True)
    assert run.state.status is RunStatus.FAILED
    assert compensated_steps(run.events) == {"reserve"}
    start = fork(run.events, seq, run_id="replay-1", command_id="replay-1:start")
    assert start.restored is not None
    assert start.restored.outputs == {"quote": {"price": 10}}
    replay = replayed(run, seq)
    assert [t.step for t in replay.tasks()] == ["reserve"]
    replay.complete("reserve", {"slot": "B"})
    assert [t.step for t in replay.tasks()] == ["charge"]


def test_a_compensation_that_failed_for_good_keeps_its_step() -> None:
    """With nothing before it running again, a step whose compensation failed keeps its
    output: its effect still holds, and running it again would do it twice."""
    run = LocalRun(ORDER)
    run.start()
    run.complete("quote", {"price": 10})
    run.complete("reserve", {"slot": "A"})
    run.complete("charge", {"tx": "T1"})
    seq = len(run.events)
    run.fail("ship", "Broken", retryable=False)
    run.fail("charge.compensate", "Gateway", retryable=False)
    run.fail("reserve.compensate", "Locked", retryable=False)
    assert run.state.status is RunStatus.FAILED
    assert compensated_steps(run.events) == frozenset()
    start = fork(run.events, seq, run_id="replay-1", command_id="replay-1:start")
    assert start.restored is not None
    assert set(start.restored.outputs) == {"quote", "reserve", "charge"}
    assert [t.step for t in replayed(run, seq).tasks()] == ["ship"]


def test_a_compensation_under_way_counts_as_undoing() -> None:
    run = LocalRun(ORDER)
    run.start()
    run.complete("quote", {"price": 10})
    run.complete("reserve", {"slot": "A"})
    run.complete("charge", {"tx": "T1"})
    seq = len(run.events)
    run.fail("ship", "Broken", retryable=False)
    assert [t.step for t in run.tasks()] == ["charge.compensate"]
    assert compensated_steps(run.events) == {"charge"}
    start = fork(run.events, seq, run_id="replay-1", command_id="replay-1:start")
    assert start.restored is not None
    assert set(start.restored.outputs) == {"quote", "reserve"}
    assert [t.step for t in replayed(run, seq).tasks()] == ["charge"]


def test_without_compensation_a_replay_keeps_every_succeeded_step() -> None:
    run = LocalRun(ORDER)
    run.start()
    run.complete("quote", {"price": 10})
    run.complete("reserve", {"slot": "A"})
    seq = len(run.events)
    run.complete("charge", {"tx": "T1"})
    run.complete("ship", {"parcel": 1})
    assert run.state.status is RunStatus.SUCCEEDED
    assert compensated_steps(run.events) == frozenset()
    start = fork(run.events, seq, run_id="replay-1", command_id="replay-1:start")
    assert start.restored is not None
    assert set(start.restored.outputs) == {"quote", "reserve"}
