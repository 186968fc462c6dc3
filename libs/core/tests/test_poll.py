"""Attempts that hand back a long outside job: a durable timer, then the next attempt
with the handed-back state; polls never count as retries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tideflow.core import (
    DispatchTask,
    RunStatus,
    StepPollScheduled,
    StepScheduled,
    StepStatus,
    effects,
    fold,
)
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit


def workflow(retry: dict[str, object] | None = None) -> dict[str, object]:
    node: dict[str, object] = {"id": "job", "type": "function", "config": {"name": "f"}}
    if retry:
        node["retry"] = retry
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "p"},
        "spec": {"nodes": [node], "edges": []},
    }  # fmt: skip


def test_a_poll_waits_on_a_timer_then_dispatches_with_the_state() -> None:
    run = LocalRun(workflow())
    run.start()
    events = run.poll("job", timedelta(seconds=5), {"jobId": "j-1"})
    assert run.event_types(events) == ["StepPollScheduled", "TimerScheduled"]
    [pending] = [e for e in events if isinstance(e, StepPollScheduled)]
    assert pending.state == {"jobId": "j-1"}
    assert not any(isinstance(e, DispatchTask) for e in effects(run.state, events))
    step = run.state.steps["job"]
    assert (step.status, step.polls, run.state.status) == (
        StepStatus.BACKOFF, 1, RunStatus.WAITING,
    )  # fmt: skip
    assert run.advance(timedelta(seconds=4)) == []
    fired = run.advance(timedelta(seconds=1))
    [scheduled] = [e for e in fired if isinstance(e, StepScheduled)]
    assert (scheduled.attempt, scheduled.poll_state) == (2, {"jobId": "j-1"})
    [dispatch] = [e for e in effects(run.state, fired) if isinstance(e, DispatchTask)]
    assert dispatch.poll_state == {"jobId": "j-1"}
    run.complete("job", {"text": "done"})
    assert run.state.status is RunStatus.SUCCEEDED
    assert fold(run.events).steps["job"] == run.state.steps["job"]


def test_polls_do_not_use_up_retries_and_a_retry_starts_over() -> None:
    run = LocalRun(workflow({"maxAttempts": 2, "initialInterval": "1s"}))
    run.start()
    for n in range(3):
        run.poll("job", timedelta(seconds=1), {"n": n})
        run.advance(timedelta(seconds=1))
    assert run.state.steps["job"].attempt == 4
    run.fail("job", "Throttled")
    assert run.state.steps["job"].status is StepStatus.BACKOFF  # retried: 1 real failure of 2
    fired = run.advance(timedelta(seconds=2))
    [scheduled] = [e for e in fired if isinstance(e, StepScheduled)]
    assert scheduled.poll_state is None  # a retry starts the outside job again
    run.fail("job", "Throttled")
    assert run.state.status is RunStatus.FAILED


def test_a_late_poll_of_an_old_attempt_is_ignored_and_polls_have_a_floor() -> None:
    run = LocalRun(workflow())
    run.start()
    events = run.poll("job", timedelta(0), {"jobId": "x"})
    [pending] = [e for e in events if isinstance(e, StepPollScheduled)]
    assert pending.fire_at - pending.at == timedelta(seconds=1)
    assert run.poll("job", timedelta(seconds=3)) == []  # the attempt already ended
