"""`decide` throughput of the pure core: `.venv/bin/python bench/core_bench.py`.

Three workflows, each driven to the end with every worker result succeeding; the time
counted is only `decide` (which returns the state after its events, as the scheduler
keeps it), never the driver's bookkeeping. Every run gets its own `RunContext` sharing
one `PinnedDefinition`, as runs of one published version do in the scheduler:

- `100-node`: ten layers of ten nodes (worker functions and inline transforms, each
  layer fanning in from the previous one);
- `chain-10`: the platform benchmark W1, ten `function` nodes in sequence, each reading
  the previous output, each result fed back as a StepResult;
- `fanout-50`: one function fanning out to 50 functions that join into one.

`--runs N` sets the number of timed runs per round and `--rounds R` the rounds; the best
round is reported (as `timeit` does), so other load on the machine skews it least.
`--clock cpu` times with this process's CPU time instead of the wall clock: on a machine
shared with other work the wall clock varies by 2-3x between runs, CPU time far less.
"""

import argparse
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tideflow.core import (
    PinnedDefinition,
    RunContext,
    RunState,
    StartRun,
    StepResult,
    StepScheduled,
    decide,
    parse_definition,
)
from tideflow.core.nodes import Execution

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def layered() -> dict[str, Any]:
    """Ten layers of ten nodes, every node joining two nodes of the layer before."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    for layer in range(10):
        for i in range(10):
            node_id = f"n{layer}_{i}"
            if i % 2:
                nodes.append(
                    {"id": node_id, "type": "transform", "config": {"value": "{{ run.id }}"}}
                )
            else:
                nodes.append(
                    {"id": node_id, "type": "function",
                     "config": {"name": "work", "input": {"layer": layer, "run": "{{ run.id }}"}}}
                )  # fmt: skip
            if layer:
                edges.append({"from": f"n{layer - 1}_{i}", "to": node_id})
                edges.append({"from": f"n{layer - 1}_{(i + 1) % 10}", "to": node_id})
    return {"metadata": {"name": "bench"}, "spec": {"nodes": nodes, "edges": edges}}


def chain() -> dict[str, Any]:
    """W1: ten functions in sequence, each passed the output of the one before."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []
    for i in range(10):
        source = "{{ input }}" if i == 0 else f"{{{{ nodes.s{i - 1}.output }}}}"
        config = {"name": "work", "input": source}
        nodes.append({"id": f"s{i}", "type": "function", "config": config})
        if i:
            edges.append({"from": f"s{i - 1}", "to": f"s{i}"})
    return {"metadata": {"name": "chain"}, "spec": {"nodes": nodes, "edges": edges}}


def fanout() -> dict[str, Any]:
    """1 -> 50 -> 1: a split, fifty parallel functions, and a join reading two of them."""
    nodes: list[dict[str, Any]] = [
        {"id": "split", "type": "function", "config": {"name": "split", "input": "{{ input }}"}}
    ]
    edges: list[dict[str, str]] = []
    for i in range(50):
        nodes.append(
            {"id": f"w{i}", "type": "function",
             "config": {"name": "work", "input": {"part": i, "of": "{{ nodes.split.output }}"}}}
        )  # fmt: skip
        edges.append({"from": "split", "to": f"w{i}"})
        edges.append({"from": f"w{i}", "to": "join"})
    nodes.append(
        {"id": "join", "type": "function",
         "config": {"name": "join", "input": ["{{ nodes.w0.output }}", "{{ nodes.w49.output }}"]}}
    )  # fmt: skip
    return {"metadata": {"name": "fanout"}, "spec": {"nodes": nodes, "edges": edges}}


@dataclass
class Totals:
    """What the timed runs of one workflow added up to."""

    runs: int = 0
    events: int = 0
    commands: int = 0
    seconds: float = 0.0


Clock = Callable[[], float]
CLOCKS: dict[str, Clock] = {"wall": time.perf_counter, "cpu": time.process_time}


def run_once(pinned: PinnedDefinition, run_id: str, totals: Totals, clock: Clock) -> None:
    """Drive one run to its end, timing `decide` of every command."""
    defn = pinned.definition
    context = RunContext(pinned)
    state = RunState()
    counter = 0
    pending: deque[Any] = deque(
        [StartRun(command_id=f"{run_id}-0", run_id=run_id, workflow="bench", definition=defn)]
    )
    while pending:
        command = pending.popleft()
        began = clock()
        decided = decide(state, command, NOW, context)
        state = decided.state
        new = decided.events
        totals.seconds += clock() - began
        totals.events += len(new)
        totals.commands += 1
        for event in new:
            if isinstance(event, StepScheduled) and event.execution is Execution.DISPATCH:
                counter += 1
                pending.append(
                    StepResult(command_id=f"{run_id}-{counter}", run_id=run_id, step=event.step,
                               attempt=event.attempt, ok=True, output={"ok": event.step})
                )  # fmt: skip
    if not state.status.terminal:
        raise SystemExit(f"run ended {state.status}")
    totals.runs += 1


def measure(
    name: str,
    build: Callable[[], dict[str, Any]],
    runs: int,
    rounds: int,
    steps: int,
    *,
    clock: Clock = time.perf_counter,
) -> None:
    """Warm up once, time `rounds` rounds of `runs` runs, print the best round."""
    defn = PinnedDefinition.published(parse_definition(build()))
    run_once(defn, "warmup", Totals(), clock)
    rounds_timed: list[Totals] = []
    for r in range(max(rounds, 1)):
        rounds_timed.append(Totals())
        for n in range(runs):
            run_once(defn, f"run-{r}-{n}", rounds_timed[-1], clock)
    totals = min(rounds_timed, key=lambda t: t.seconds)
    per_run = totals.seconds / totals.runs
    print(
        f"{name:>9}: {totals.runs} runs, {totals.events // totals.runs} events/run, "
        f"{totals.events / totals.seconds:>9,.0f} events/s, {per_run * 1000:7.3f} ms/run, "
        f"{per_run / steps * 1e6:6.1f} us/step (decide)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    print(f"clock: {args.clock}")
    measure("100-node", layered, max(args.runs // 10, 1), args.rounds, 100, clock=clock)
    measure("chain-10", chain, args.runs, args.rounds, 10, clock=clock)
    measure("fanout-50", fanout, max(args.runs // 5, 1), args.rounds, 52, clock=clock)


if __name__ == "__main__":
    main()
