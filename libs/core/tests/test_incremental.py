"""The incremental hot path keeps exactly what a full recount would give, and snapshots
restore exactly the state they were taken of.

`evolve` keeps step tallies and open-input counts, and the decider re-checks only the
successors of changed steps and caches run-constant expressions; these tests pin that
the shortcuts never disagree with computing from scratch.
"""

import json
import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tideflow.core import (
    Event,
    PinnedDefinition,
    RunContext,
    RunState,
    StartRun,
    WorkflowDefinition,
    decide,
    evaluate_expression,
    evolve,
    fold,
    parse_definition,
    state_from_snapshot,
    state_to_record,
    state_to_snapshot,
)
from tideflow.core._cel import Context, is_run_constant, node_references
from tideflow.core._state import count_open_inputs, count_steps, tally_of
from tideflow.core.testing import EPOCH, LocalRun

pytestmark = pytest.mark.unit

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def workflows(draw: st.DrawFn) -> dict[str, Any]:
    """Random DAGs mixing worker, inline, branching, waiting and foreach nodes."""
    size = draw(st.integers(1, 25))
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    kinds: dict[str, str] = {}
    for i in range(size):
        kind = draw(st.sampled_from(["function", "function", "transform", "condition", "delay",
                                     "foreach", "signal"]))  # fmt: skip
        spec: dict[str, Any] = {"id": f"n{i}", "type": kind,
                                "join": draw(st.sampled_from(["all", "any"]))}  # fmt: skip
        if kind == "function":
            spec["config"] = {"name": "f", "input": "{{ run.id }}"}
            spec["retry"] = {"maxAttempts": draw(st.integers(1, 3)), "initialInterval": "1s"}
            if draw(st.booleans()):
                spec["compensate"] = f"undo{i}"
                nodes.append({"id": f"undo{i}", "type": "function", "config": {"name": "undo"}})
        elif kind == "transform":
            source = f"{{{{ nodes.n{i - 1}.output }}}}" if i else "{{ size(run.id) }}"
            spec["config"] = {"value": source}
        elif kind == "condition":
            spec["config"] = {"expr": f"size(run.id) > {draw(st.integers(0, 10))}"}
        elif kind == "delay":
            spec["config"] = {"duration": "1m"}
        elif kind == "signal":
            spec["config"] = {"name": "go", "timeout": "10m"}
        else:
            spec["config"] = {"items": "{{ [1, 2, 3] }}", "concurrency": 2,
                              "node": {"type": "function", "config": {"name": "each"}}}  # fmt: skip
        kinds[f"n{i}"] = kind
        for p in sorted(draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()):
            edge: dict[str, Any] = {"from": f"n{p}", "to": f"n{i}"}
            if kinds[f"n{p}"] == "condition":
                edge["when"] = draw(st.sampled_from(["true", "false"]))
            edges.append(edge)
        nodes.append(spec)
    return {"metadata": {"name": "incremental"}, "spec": {"nodes": nodes, "edges": edges}}


def play(
    definition: dict[str, Any] | WorkflowDefinition, seed: int, run_id: str = "run-1"
) -> LocalRun:
    """Random workers, signals, cancels and clock moves until the run ends (bounded)."""
    run = LocalRun(definition, run_id=run_id)
    rng = random.Random(seed)
    run.start({"n": seed % 7})
    for _ in range(300):
        if run.state.status.terminal:
            break
        roll = rng.random()
        tasks = run.tasks()
        if roll < 0.05:
            run.signal("go", {"at": rng.random()})
        elif roll < 0.07:
            run.cancel("enough")
        elif tasks and roll < 0.9:
            task = rng.choice(tasks)
            if rng.random() < 0.2:
                run.fail(task.step, retryable=rng.random() < 0.5)
            else:
                run.complete(task.step, {"by": task.step})
        else:
            run.advance(timedelta(minutes=5))
    return run


@SETTINGS
@given(definition=workflows(), seed=st.integers(0, 2**32))
def test_kept_counts_equal_a_recount_after_every_event(
    definition: dict[str, Any], seed: int
) -> None:
    run = play(definition, seed)
    graph = PinnedDefinition.of(run.definition).graph
    state = fold([])
    for event in run.events:
        state = fold([event], state, run.context)
        assert state.tally == count_steps(state.steps.values())
        assert state.open_inputs == count_open_inputs(graph, state.steps)
    assert state == run.state
    # The decider's own states kept the very same counts.
    assert run.state.open_inputs == count_open_inputs(graph, run.state.steps)


def test_a_hand_made_state_is_recounted() -> None:
    """States built without `evolve` (snapshots, tests) have no kept counts yet."""
    run = LocalRun({"metadata": {"name": "t"}, "spec": {"nodes": [
        {"id": "a", "type": "function", "config": {"name": "f"}},
        {"id": "b", "type": "function", "config": {"name": "f"}},
    ], "edges": [{"from": "a", "to": "b"}]}})  # fmt: skip
    run.start()
    bare = type(run.state)(**{
        name: getattr(run.state, name)
        for name in ("run_id", "workflow", "version", "status", "definition", "input", "vars",
                     "steps", "timers", "completed", "started_at", "applied", "last_seq")
    })  # fmt: skip
    assert bare.tally is None
    assert bare.open_inputs is None
    run.state = bare
    run.complete("a")
    run.complete("b")
    assert run.state.status == "succeeded"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("nodes.a.output", frozenset({"a"})),
        ("nodes.a.output + nodes.b_2.output", frozenset({"a", "b_2"})),
        ("has(nodes.a)", frozenset({"a"})),
        ("nodes . a .output", frozenset({"a"})),
        ("nodes.a.output.map(x, x)", frozenset({"a"})),
        ("run.id", frozenset()),
        ("nodes['a'].output", None),
        ("nodes.map(k, k)", None),
        ("nodes.all(k, true)", None),
        ("size(nodes)", None),
        ("input.nodes", None),
        ("'nodes' + nodes.a.output", None),
        ("mynodes.a + nodes[x]", None),
        ("nodes // a comment\n.a", None),
    ],
)
def test_node_references(source: str, expected: frozenset[str] | None) -> None:
    assert node_references(source) == expected


@pytest.mark.parametrize(
    ("source", "constant"),
    [
        ("run.id", True),
        ("input.x + string(run.version)", True),
        ("[1, 2].map(x, x * 2)", True),
        ("nodes.a.output", False),
        ("vars.x", False),
        ("item", False),
        ("'nodes' + run.id", True),
        ("input.map(nodes, nodes)", False),  # conservative: the name alone rules it out
    ],
)
def test_run_constant_expressions(source: str, constant: bool) -> None:
    assert is_run_constant(source) is constant


def test_trimmed_nodes_give_the_same_results() -> None:
    nodes = {f"n{i}": {"output": {"v": i}, "status": "succeeded"} for i in range(30)}
    context = {"input": None, "vars": {}, "nodes": nodes, "run": {"id": "r"}}
    for source in ("nodes.n3.output.v + nodes.n7.output.v", "size(nodes)",
                   "has(nodes.n99)", "nodes.n1.status"):  # fmt: skip
        trimmed = evaluate_expression(source, context)
        full = evaluate_expression(source, {**context, "nodes": dict(nodes)})
        assert trimmed == full


def test_run_constants_are_cached_only_when_scalar() -> None:
    constants: dict[Any, Any] = {}
    context = Context({"input": {"a": [1]}, "run": {"id": "r"}}, constants)
    assert evaluate_expression("run.id + '!'", context) == "r!"
    assert evaluate_expression("input.a", context) == [1]
    assert constants == {"run.id + '!'": "r!"}
    # A cached value is what the expression would give again.
    assert evaluate_expression("run.id + '!'", context) == "r!"


def test_validated_definitions_are_reused_but_inputs_are_always_checked() -> None:
    definition = parse_definition({"metadata": {"name": "t"}, "spec": {
        "input": {"type": "object", "required": ["x"]},
        "nodes": [{"id": "a", "type": "transform", "config": {"value": "{{ input.x }}"}}],
    }})  # fmt: skip

    def start(run_id: str, value: Any) -> list[str]:
        command = StartRun(
            command_id=run_id, run_id=run_id, workflow="t", definition=definition, input=value
        )
        return [e.type for e in decide(RunState(), command, EPOCH).events]

    assert start("r1", {"x": 1})[-1] == "RunSucceeded"
    assert start("r2", {}) == ["RunStarted", "RunFailed"]
    assert start("r3", {"x": 2})[-1] == "RunSucceeded"


def _through_json(snapshot: dict[str, Any]) -> dict[str, Any]:
    """What a JSON store gives back; sorted keys stand in for `jsonb`, which reorders them."""
    return json.loads(json.dumps(snapshot, sort_keys=True))


@SETTINGS
@given(definition=workflows(), seed=st.integers(0, 2**32))
def test_snapshots_restore_the_state_at_every_seq(definition: dict[str, Any], seed: int) -> None:
    run = play(definition, seed)
    state = RunState()
    states = [state]
    for event in run.events:
        state = evolve(state, event, run.context)
        states.append(state)
    for seq, expected in enumerate(states):
        restored = state_from_snapshot(_through_json(state_to_snapshot(expected)))
        assert restored == expected, f"snapshot at seq {seq} differs"
        assert list(restored.steps) == list(expected.steps)
        assert list(restored.timers) == list(expected.timers)
        assert restored.tally == tally_of(expected)
        if expected.definition is not None:
            graph = PinnedDefinition.of(expected.definition).graph
            assert restored.open_inputs == count_open_inputs(graph, expected.steps)
        # Resuming from the snapshot folds the tail to the same final state.
        assert fold(run.events[seq:], restored) == run.state


@SETTINGS
@given(definition=workflows(), seed=st.integers(0, 2**32), data=st.data())
def test_a_resumed_run_decides_what_the_original_decides(
    definition: dict[str, Any], seed: int, data: st.DataObject
) -> None:
    """Deciding against a restored snapshot gives the same events as against the original."""
    run = play(definition, seed)
    seq = data.draw(st.integers(0, len(run.events)))
    original = fold(run.events[:seq])
    restored = state_from_snapshot(_through_json(state_to_snapshot(original)))
    for now, command in run.history:
        assert decide(restored, command, now) == decide(original, command, now)


def test_snapshot_format_is_checked() -> None:
    snapshot = state_to_snapshot(RunState())
    assert state_from_snapshot(snapshot) == RunState()
    with pytest.raises(ValueError, match="snapshot format"):
        state_from_snapshot({**snapshot, "format": 0})


def test_record_view_is_unchanged_by_snapshots() -> None:
    """`state_to_record` keeps its shape (golden files pin it); snapshots are separate."""
    run = play({"metadata": {"name": "t"}, "spec": {"nodes": [
        {"id": "a", "type": "function", "config": {"name": "f", "input": "{{ input }}"}},
    ]}}, 3)  # fmt: skip
    record = state_to_record(run.state)
    assert "definition" not in record
    assert "applied" not in record
    snapshot = state_to_snapshot(run.state)
    assert snapshot["steps"][0]["config"] == {"name": "f", "input": {"n": 3}}


# ---- a pure decider ---------------------------------------------------------------------


@SETTINGS
@given(definition=workflows(), seed=st.integers(0, 2**32))
def test_decided_state_is_the_fold_of_the_decided_events(
    definition: dict[str, Any], seed: int
) -> None:
    """`decide` returns the state its events fold to, and its context only memoizes:
    deciding with a fresh context (or none) gives exactly the same decision."""
    run = play(definition, seed)
    context = RunContext(PinnedDefinition.published(run.definition))
    state = RunState()
    for now, command in run.history:
        decided = decide(state, command, now, context)
        assert fold(decided.events, state) == decided.state
        assert decide(state, command, now) == decided
        assert decide(state, command, now, RunContext.of(run.definition)) == decided
        state = decided.state
    assert state == run.state
    assert fold(run.events) == run.state


@SETTINGS
@given(
    definition=workflows(),
    seeds=st.lists(st.integers(0, 2**32), min_size=2, max_size=4),
    order=st.randoms(use_true_random=False),
)
def test_interleaved_runs_each_get_the_history_they_get_alone(
    definition: dict[str, Any], seeds: list[int], order: random.Random
) -> None:
    """Runs of one definition decided in any interleaving (as one scheduler decides many
    runs, sharing the parsed definition) each get exactly the events they get alone."""
    parsed = parse_definition(definition)
    alone = [play(parsed, seed, run_id=f"run-{i}") for i, seed in enumerate(seeds)]
    pinned = PinnedDefinition.published(parsed)
    contexts = [RunContext(pinned) for _ in alone]
    states = [RunState() for _ in alone]
    events: list[list[Event]] = [[] for _ in alone]
    cursor = [0 for _ in alone]
    while True:
        pending = [i for i, run in enumerate(alone) if cursor[i] < len(run.history)]
        if not pending:
            break
        i = order.choice(pending)
        now, command = alone[i].history[cursor[i]]
        cursor[i] += 1
        decided = decide(states[i], command, now, contexts[i])
        states[i] = decided.state
        events[i].extend(decided.events)
    for i, run in enumerate(alone):
        assert events[i] == run.events, f"run {i} decided differently when interleaved"
        assert states[i] == run.state
