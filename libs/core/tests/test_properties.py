"""Hypothesis properties of the state machine over random DAGs and random worker behaviour."""

import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tideflow.core import (
    CompensationStarted,
    RunStatus,
    StepResult,
    StepStatus,
    StepSucceeded,
    decide,
    fold,
)
from tideflow.core.testing import LocalRun

pytestmark = pytest.mark.unit

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    """Random DAGs of up to 50 nodes: workers, inline transforms, conditions, joins."""
    size = draw(st.integers(1, 50))
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for i in range(size):
        kind = draw(st.sampled_from(["function", "function", "transform", "condition"]))
        spec: dict[str, Any] = {"id": f"n{i}", "type": kind}
        if kind == "function":
            spec["config"] = {"name": f"f{i}"}
            spec["retry"] = {"maxAttempts": draw(st.integers(1, 3)), "initialInterval": "1s"}
            if draw(st.booleans()):
                spec["compensate"] = f"undo{i}"
                nodes.append({"id": f"undo{i}", "type": "function", "config": {"name": "undo"}})
        elif kind == "transform":
            spec["config"] = {"value": "{{ run.id }}"}
        else:
            spec["config"] = {"expr": f"size(run.id) > {draw(st.integers(0, 10))}"}
        spec["join"] = draw(st.sampled_from(["all", "any"]))
        parents = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        for p in sorted(parents):
            edge: dict[str, Any] = {"from": f"n{p}", "to": f"n{i}"}
            if nodes_by_id(nodes, f"n{p}")["type"] == "condition":
                edge["when"] = draw(st.sampled_from(["true", "false"]))
            edges.append(edge)
        nodes.append(spec)
    return {"metadata": {"name": "prop"}, "spec": {"nodes": nodes, "edges": edges}}


def nodes_by_id(nodes: list[dict[str, Any]], node_id: str) -> dict[str, Any]:
    return next(n for n in nodes if n["id"] == node_id)


def drive(run: LocalRun, rng: random.Random, fail_rate: float) -> None:
    """Play random workers and clock until the run ends (bounded)."""
    for _ in range(2000):
        if run.state.status.terminal:
            return
        tasks = run.tasks()
        if tasks:
            task = rng.choice(tasks)
            if rng.random() < fail_rate:
                run.fail(task.step, retryable=rng.random() < 0.7)
            else:
                run.complete(task.step, {"by": task.step})
        else:
            run.advance(timedelta(minutes=5))
    pytest.fail("run did not terminate")


@SETTINGS
@given(definition=dags(), seed=st.integers(0, 2**32), fail_rate=st.sampled_from([0, 0.1, 0.4]))
def test_random_dags_terminate_with_every_step_terminal(
    definition: dict[str, Any], seed: int, fail_rate: float
) -> None:
    run = LocalRun(definition)
    run.start()
    drive(run, random.Random(seed), fail_rate)
    assert run.state.status.terminal
    assert all(s.status.terminal for s in run.state.steps.values())
    assert run.state.timers == {}
    # (3) the fold of all events equals the state the decider worked with
    assert fold(run.events) == run.state


@SETTINGS
@given(definition=dags(), seed=st.integers(0, 2**32))
def test_fold_equals_decider_state_at_every_point(definition: dict[str, Any], seed: int) -> None:
    run = LocalRun(definition)
    rng = random.Random(seed)
    run.start()
    checkpoints = [(len(run.events), run.state)]
    for _ in range(200):
        if run.state.status.terminal:
            break
        tasks = run.tasks()
        if tasks:
            task = rng.choice(tasks)
            if rng.random() < 0.2:
                run.fail(task.step)
            else:
                run.complete(task.step, 1)
        else:
            run.advance(timedelta(minutes=5))
        checkpoints.append((len(run.events), run.state))
    for count, state in checkpoints:
        assert fold(run.events[:count]) == state


@SETTINGS
@given(definition=dags(), seed=st.integers(0, 2**32), data=st.data())
def test_duplicates_and_reordering_give_the_same_state(
    definition: dict[str, Any], seed: int, data: st.DataObject
) -> None:
    """(2) Redelivering every command, and delivering a batch of results in any order,
    ends in the same state as delivering each once in order."""
    run = LocalRun(definition)
    run.start()
    rng = random.Random(seed)
    for _ in range(200):
        if run.state.status.terminal:
            break
        tasks = run.tasks()
        if not tasks:
            run.advance(timedelta(minutes=5))
            continue
        results = [
            StepResult(
                command_id=run.next_id(), run_id=run.run_id, step=t.step, attempt=t.attempt,
                ok=True, output={"v": t.step},
            )
            for t in tasks
        ]  # fmt: skip
        order = data.draw(st.permutations(results))
        before = run.state
        in_order = before
        for command in results:
            decided = decide(in_order, command, run.now)
            assert fold(decided.events, in_order) == decided.state
            in_order = decided.state
        for command in order:
            run.send(command)
            if rng.random() < 0.5:
                assert run.send(command) == []
        assert _essence(run.state) == _essence(in_order)
        for command in run.commands[-len(order) :]:
            assert decide(run.state, command, run.now).events == ()


def _essence(state: Any) -> Any:
    """What must not depend on delivery order: statuses, outputs, attempts, run outcome."""
    return (
        state.status,
        {k: (s.status, s.output, s.attempt) for k, s in state.steps.items()},
        state.output,
        sorted(state.timers),
    )


@SETTINGS
@given(definition=dags(), seed=st.integers(0, 2**32))
def test_compensation_runs_in_reverse_completion_order(
    definition: dict[str, Any], seed: int
) -> None:
    run = LocalRun(definition)
    rng = random.Random(seed)
    run.start()
    completed: list[str] = []
    for _ in range(500):
        if run.state.status.terminal:
            break
        tasks = run.tasks()
        if not tasks:
            run.advance(timedelta(minutes=5))
            continue
        task = rng.choice(tasks)
        if task.step.endswith(".compensate") or rng.random() > 0.15:
            run.complete(task.step)
        else:
            run.fail(task.step, retryable=False)
    completed = [
        e.step
        for e in run.events
        if isinstance(e, StepSucceeded) and run.state.steps[e.step].role == "flow"
    ]
    started = [e for e in run.events if isinstance(e, CompensationStarted)]
    if not started:
        return
    expected = [
        s for s in reversed(completed)
        if nodes_by_id(definition["spec"]["nodes"], s).get("compensate")
    ]  # fmt: skip
    assert list(started[0].order) == expected
    ran = [
        e.step.removesuffix(".compensate")
        for e in run.events
        if isinstance(e, StepSucceeded) and e.step.endswith(".compensate")
    ]
    assert ran == expected
    assert run.state.status in {RunStatus.COMPENSATED, RunStatus.FAILED}
    assert all(run.state.steps[f"{s}.compensate"].status is StepStatus.SUCCEEDED for s in ran)
