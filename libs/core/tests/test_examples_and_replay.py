"""Examples validate; time travel and fork; records round-trip; effects are derived."""

from datetime import timedelta
from pathlib import Path

import pytest

from tideflow.core import (
    DispatchTask,
    NotifyParent,
    ParentLink,
    RunStatus,
    ScheduleTimer,
    StepStatus,
    command_from_record,
    command_to_record,
    effects,
    event_from_record,
    event_to_record,
    fork,
    parse_definition,
    state_at,
    validate_definition,
)
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_valid(path: Path) -> None:
    assert validate_definition(path.read_text()) == []


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 5


def saga_run() -> LocalRun:
    path = next(p for p in EXAMPLES if p.name == "saga.yaml")
    return LocalRun(path.read_text())


def test_state_at_and_fork_continue_from_a_point() -> None:
    run = saga_run()
    run.start({"trip": "T"})
    run.complete("flight", {"id": "F"})
    seq = len(run.events)
    run.complete("hotel", {"id": "H"})
    assert state_at(run.events, seq).steps["hotel"].status is StepStatus.SCHEDULED
    assert state_at(run.events, 0).status is RunStatus.PENDING

    start = fork(run.events, seq, run_id="run-2", command_id="fork-1")
    assert start.replay_of is not None
    assert start.replay_of.seq == seq
    forked = LocalRun(start.definition, run_id="run-2")
    forked.send(start)
    assert forked.state.steps["flight"].restored
    assert forked.state.steps["flight"].output == {"id": "F"}
    assert [t.step for t in forked.tasks()] == ["hotel"]


def test_records_round_trip() -> None:
    run = saga_run()
    run.start({"trip": "T"})
    run.fail("flight")
    for event in run.events:
        assert event_from_record(*event_to_record(event)) == event
    for command in run.commands:
        assert command_from_record(*command_to_record(command)) == command


def test_effects_of_dispatch_retry_and_child_result() -> None:
    run = saga_run()
    events = run.start({"trip": "T"})
    dispatched = [e for e in effects(run.state, events) if isinstance(e, DispatchTask)]
    assert [(d.step, d.attempt, d.queue, d.config) for d in dispatched] == [
        ("flight", 1, "default", {"name": "book_flight", "input": {"trip": "T"}})
    ]
    events = run.fail("flight")
    timers = [e for e in effects(run.state, events) if isinstance(e, ScheduleTimer)]
    assert len(timers) == 1
    assert timers[0].fire_at - run.now <= timedelta(seconds=1)

    child = LocalRun(
        {"metadata": {"name": "c"}, "spec": {"nodes": [
            {"id": "x", "type": "transform", "config": {"value": 7}}]}},
        run_id="child",
    )  # fmt: skip
    events = child.start(parent=ParentLink(run_id="parent", step="sub", attempt=2))
    notify = [e for e in effects(child.state, events) if isinstance(e, NotifyParent)]
    assert [(n.parent_run_id, n.step, n.attempt, n.ok, n.output) for n in notify] == [
        ("parent", "sub", 2, True, {"x": 7})
    ]


def test_invalid_input_fails_the_run_at_start() -> None:
    path = next(p for p in EXAMPLES if p.name == "hello.yaml")
    run = LocalRun(parse_definition(path.read_text()))
    run.start({"nom": "x"})
    assert run.state.status is RunStatus.FAILED
    assert run.state.error is not None
    assert run.state.error.type == "InvalidInput"
