"""CPU per step of the engine's own hot path: `.venv/bin/python bench/hot_path.py`.

The scheduler and the executor run in this process on the in-memory bus and the
in-memory store, so every CPU second counted is Tideflow's Python (decoding, deciding,
building rows and messages, encoding, the consumer loops), none of it Postgres', Kafka's
or a client's. Runs are started the way the gateway starts them (a StartRun on
`tideflow.runs`) and followed to the end through the store. The figure is this process's
CPU time (user + system) per step, which other load on a shared machine moves far less
than wall-clock throughput; `--profile FILE` writes a cProfile of the measured rounds and
prints the hottest functions.

Workloads: `chain10` (W1's chain of ten `function` steps) and `fanout50` (W2's one step,
fifty parallel steps and a join).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
import uuid
from typing import Any

from tideflow.bus import InMemoryBus
from tideflow.core import StartRun, ids, parse_definition
from tideflow.executor.app import run_executor
from tideflow.executor.settings import ExecutorSettings
from tideflow.runtime import tune_collector
from tideflow.scheduler.app import run_scheduler
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.sdk import TaskRegistry
from tideflow.settings import ObservabilitySettings
from tideflow.store import InMemoryEventStore, NotFound
from tideflow.wire import command_envelope

TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}


def _document(name: str, nodes: list[dict[str, Any]], edges: list[dict[str, str]],
              output: str) -> dict[str, Any]:  # fmt: skip
    return {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"nodes": nodes, "edges": edges, "output": output}}  # fmt: skip


def _step(node_id: str, value: str, name: str = "inc") -> dict[str, Any]:
    return {"id": node_id, "type": "function", "config": {"name": name, "input": value}}


def chain10() -> dict[str, Any]:
    nodes = [_step(f"s{i}", "{{ input }}" if i == 0 else f"{{{{ nodes.s{i - 1}.output }}}}")
             for i in range(10)]  # fmt: skip
    edges = [{"from": f"s{i}", "to": f"s{i + 1}"} for i in range(9)]
    return _document("chain10", nodes, edges, "{{ nodes.s9.output }}")


def fanout50() -> dict[str, Any]:
    nodes = [_step("start", "{{ input }}")]
    nodes += [_step(f"b{i}", "{{ nodes.start.output }}") for i in range(50)]
    branches = ", ".join(f"nodes.b{i}.output" for i in range(50))
    nodes.append(_step("join", f"{{{{ [{branches}] }}}}", name="sum"))
    edges = [{"from": "start", "to": f"b{i}"} for i in range(50)]
    edges += [{"from": f"b{i}", "to": "join"} for i in range(50)]
    return _document("fanout50", nodes, edges, "{{ nodes.join.output }}")


WORKLOADS = {"chain10": (chain10, 10), "fanout50": (fanout50, 52)}


async def _start(store: InMemoryEventStore, bus: InMemoryBus, workflow: str, value: Any) -> str:
    run_id = str(uuid.uuid4())
    version = await store.get_version(workflow)
    command = StartRun(
        command_id=ids.start_command_id(run_id), run_id=run_id, workflow=workflow,
        version=version.version, definition=parse_definition(version.definition), input=value,
    )  # fmt: skip
    await bus.publish(bus.topics.runs, run_id, command_envelope(command, tenant_id="default"))
    return run_id


async def _wait(store: InMemoryEventStore, run_ids: list[str], within: float = 300) -> None:
    deadline = time.monotonic() + within
    pending = set(run_ids)
    while pending:
        for run_id in list(pending):
            try:
                record = await store.get_run(run_id)
            except NotFound:  # not started yet
                continue
            if record.status in TERMINAL:
                if record.status != "succeeded":
                    raise SystemExit(f"run {run_id} ended {record.status}")
                pending.discard(run_id)
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(pending)} runs did not end within {within} s")
        await asyncio.sleep(0.05)


async def measure(workload: str, runs: int, rounds: int, profile: str | None) -> None:
    store, bus = InMemoryEventStore(), InMemoryBus()
    await bus.start()
    registry = TaskRegistry()
    registry.register("inc", lambda value: value + 1)
    registry.register("sum", sum)
    document, steps_per_run = WORKLOADS[workload][0](), WORKLOADS[workload][1]
    name = document["metadata"]["name"]
    await store.create_workflow(name, name, document)
    await store.publish(name)
    stop = asyncio.Event()
    services = [
        asyncio.create_task(run_scheduler(settings=SchedulerSettings(), store=store, bus=bus,
                                          stop=stop, serve_health=False)),
        asyncio.create_task(run_executor(settings=ExecutorSettings(), bus=bus, stop=stop,
                                         registry=registry, serve_health=False)),
    ]  # fmt: skip
    try:
        await _wait(store, [await _start(store, bus, name, 0) for _ in range(max(1, runs // 10))])
        profiler = cProfile.Profile() if profile else None
        figures = []
        for _ in range(rounds):
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            run_ids = [await _start(store, bus, name, i) for i in range(runs)]
            await _wait(store, run_ids)
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            figures.append((cpu * 1000 / (runs * steps_per_run), runs * steps_per_run / wall))
        best_cpu = min(f[0] for f in figures)
        print(f"{workload}: {runs} runs x {rounds} rounds; CPU ms/step best {best_cpu:.3f}, "
              f"each {[round(f[0], 3) for f in figures]}; "
              f"steps/s (wall, noisy) {[round(f[1]) for f in figures]}")  # fmt: skip
        if profiler and profile:
            profiler.dump_stats(profile)
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    finally:
        stop.set()
        await asyncio.gather(*services, return_exceptions=True)
        await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="chain10,fanout50")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default=None, help="write a cProfile here (one workload)")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's collector thresholds (services tune them)",
    )
    args = parser.parse_args()
    if not args.default_gc:  # as `tide serve` and `tide dev` do at start
        tune_collector(ObservabilitySettings().gc_thresholds)
    for workload in args.workloads.split(","):
        asyncio.run(measure(workload, args.runs, args.rounds, args.profile))


if __name__ == "__main__":
    main()
