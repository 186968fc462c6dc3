"""A manual fail (`Cancel(fail=True)`, POST /runs/{id}/fail): stop, compensate as the
definition says, end failed (or compensated) with `ManuallyFailed` and the reason."""

from __future__ import annotations

import pytest

from tideflow.core import Cancel, fold
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit


def definition(*, compensate: bool) -> dict[str, object]:
    book = {"id": "book", "type": "http", "config": {"url": "http://x/book"}}
    if compensate:
        book["compensate"] = "unbook"
    nodes = [
        book,
        {"id": "wait", "type": "signal", "config": {"name": "go"}},
        {"id": "unbook", "type": "http", "config": {"url": "http://x/unbook"}},
    ]
    edges = [{"from": "book", "to": "wait"}]
    if not compensate:
        nodes.pop()
    return {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "m"},
            "spec": {"nodes": nodes, "edges": edges}}  # fmt: skip


def fail(run: LocalRun, reason: str | None = "stuck on a partner outage") -> list[str]:
    command = Cancel(
        command_id=run.next_id(), run_id=run.run_id, reason=reason, by="ops@acme", fail=True
    )
    return run.event_types(run.send(command))


def test_fail_compensates_succeeded_steps_then_ends_compensated() -> None:
    run = LocalRun(definition(compensate=True))
    run.start()
    run.complete("book")
    assert run.state.steps["wait"].status == "waiting"
    events = fail(run)
    assert "CompensationStarted" in events
    assert run.state.steps["wait"].status == "cancelled"
    run.complete("book.compensate")
    assert run.state.status == "compensated"
    assert run.state.error is not None
    assert run.state.error.type == "ManuallyFailed"
    assert run.state.error.message == "failed manually by ops@acme: stuck on a partner outage"


def test_fail_without_compensations_ends_failed_and_cancels_running_steps() -> None:
    run = LocalRun(definition(compensate=False))
    run.start()
    assert run.state.steps["book"].status == "scheduled"
    events = fail(run, None)
    assert events[-1] == "RunFailed"
    assert run.state.status == "failed"
    assert run.state.steps["book"].status == "cancelled"
    assert run.state.error is not None
    assert run.state.error.message.endswith("no reason given")
    # a late result of the cancelled step changes nothing
    assert run.complete("book") == []


def test_fail_during_a_cancels_compensation_ends_the_run_failed() -> None:
    # it used to decide nothing: the operator got 202 and the run ended `cancelled`
    run = LocalRun(definition(compensate=True))
    run.start()
    run.complete("book")
    run.cancel("operator")
    assert run.state.unwinding is not None
    assert fail(run) == ["UnwindingOutcomeChanged"]
    assert run.state.steps["book.compensate"].status == "scheduled"  # compensating goes on
    assert fail(run) == []  # already failing
    assert run.event_types(run.cancel("again")) == []  # a cancel does not undo the fail
    run.complete("book.compensate")
    assert run.state.status == "compensated"
    assert run.state.error is not None
    assert run.state.error.type == "ManuallyFailed"
    assert fold(run.events) == run.state
    assert fail(run) == []  # ended


def test_fail_during_a_cancel_whose_compensation_fails_ends_failed() -> None:
    run = LocalRun(definition(compensate=True))
    run.start()
    run.complete("book")
    run.cancel("operator")
    fail(run)
    run.fail("book.compensate", retryable=False)
    assert run.state.status == "failed"
    assert run.state.error is not None
    assert run.state.error.type == "ManuallyFailed"


def test_fail_or_cancel_during_a_failures_compensation_changes_nothing() -> None:
    run = LocalRun(definition(compensate=True))
    run.start()
    run.complete("book")
    fail(run, "first")
    assert fail(run, "second") == []
    assert run.cancel("late") == []
    run.complete("book.compensate")
    assert run.state.status == "compensated"
    assert run.state.error is not None
    assert run.state.error.message.endswith(": first")
