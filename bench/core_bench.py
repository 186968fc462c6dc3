"""decide + evolve throughput for a 100-node workflow: `.venv/bin/python bench/core_bench.py`.

The workflow has ten layers of ten nodes (worker functions and inline transforms, each
layer fanning in from the previous one). Every run is driven to the end with all worker
results succeeding; the time counted is only `decide` and `evolve`.
"""

import time
from datetime import UTC, datetime
from typing import Any

from tideflow.core import (
    RunState,
    StartRun,
    StepResult,
    StepStatus,
    decide,
    evolve,
    parse_definition,
)
from tideflow.core.nodes import Execution

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def definition() -> dict[str, Any]:
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


def run_once(defn: Any, run_id: str) -> tuple[int, float]:
    state = RunState()
    events = 0
    elapsed = 0.0
    counter = 0
    command: Any = StartRun(
        command_id=f"{run_id}-0", run_id=run_id, workflow="bench", definition=defn
    )
    pending: list[Any] = [command]
    while pending:
        command = pending.pop()
        began = time.perf_counter()
        new = decide(state, command, NOW)
        for event in new:
            state = evolve(state, event)
        elapsed += time.perf_counter() - began
        events += len(new)
        for step in state.steps.values():
            if step.execution is Execution.DISPATCH and step.status is StepStatus.SCHEDULED:
                counter += 1
                pending.append(
                    StepResult(command_id=f"{run_id}-{counter}", run_id=run_id, step=step.step,
                               attempt=step.attempt, ok=True, output={"ok": True})
                )  # fmt: skip
        pending = list({c.step: c for c in pending if isinstance(c, StepResult)}.values())
    if not state.status.terminal:
        raise SystemExit(f"run ended {state.status}")
    return events, elapsed


def main() -> None:
    defn = parse_definition(definition())
    run_once(defn, "warmup")
    total_events = 0
    total_time = 0.0
    runs = 20
    for n in range(runs):
        events, elapsed = run_once(defn, f"run-{n}")
        total_events += events
        total_time += elapsed
    print(
        f"100-node workflow: {runs} runs, {total_events // runs} events/run, "
        f"{total_events / total_time:,.0f} events/s (decide+evolve), "
        f"{total_time / runs * 1000:.1f} ms/run"
    )


if __name__ == "__main__":
    main()
