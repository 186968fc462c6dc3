"""Does one run's expression hold up other runs? `.venv/bin/python bench/expression_stall.py`

The scheduler decides inline nodes (transform, condition, ...) on its event loop, so an
expensive expression delays every command behind it. This starts `--noisy` runs whose
transform is the one from the report (`l.map(a, l.map(b, l.map(c, input.s)))` over a
20-item list and a `--string-kb` string), then at once a run with a trivial transform,
and measures how long that quick run takes from publish to `succeeded`, against the same
measurement with no noisy runs. The scheduler runs in-process on the in-memory store and
bus (no Postgres or Kafka in the way), with the default limits; `--unbounded` raises the
expression limits out of reach to show what the budget prevents (keep `--string-kb` small
with it: without the budget each noisy run copies 8,000 x the string).

`--foreach N` makes each noisy run a foreach of N inline items instead (the scheduler
starts a bounded share of items per decision, so the quick run waits for one share, not
for all N).

Prints the median, p90 and max of the quick run's latency for each case, and what the
noisy runs ended with.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

from tideflow.bus import InMemoryBus
from tideflow.core import StartRun, parse_definition
from tideflow.scheduler.app import run_scheduler
from tideflow.scheduler.settings import SchedulerSettings
from tideflow.settings import LimitsSettings
from tideflow.store import InMemoryEventStore, NotFound
from tideflow.wire import command_envelope

NOISY = "{{ input.l.map(a, input.l.map(b, input.l.map(c, input.s))) }}"


def foreach_workflow(name: str) -> dict[str, Any]:
    child = {"type": "transform", "config": {"value": "{{ item * 2 }}"}}
    config = {"items": "{{ input.items }}", "concurrency": 1000, "node": child}
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {"nodes": [{"id": "each", "type": "foreach", "config": config}]},
    }  # fmt: skip


def workflow(name: str, value: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {"nodes": [{"id": "t", "type": "transform", "config": {"value": value}}]},
    }  # fmt: skip


async def start(store: InMemoryEventStore, bus: InMemoryBus, name: str, data: Any) -> str:
    run_id = str(uuid.uuid4())
    version = await store.get_version(name)
    command = StartRun(
        command_id=f"{run_id}:start", run_id=run_id, workflow=name, version=version.version,
        definition=parse_definition(version.definition), input=data,
    )  # fmt: skip
    await bus.publish(bus.topics.runs, run_id, command_envelope(command, tenant_id="default"))
    return run_id


async def ended(store: InMemoryEventStore, run_id: str, within: float = 120) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            record = await store.get_run(run_id)
        except NotFound:
            record = None
        if record is not None and record.status in {"succeeded", "failed"}:
            error = record.error["type"] if isinstance(record.error, dict) else ""
            return f"{record.status} {error}".strip()
        await asyncio.sleep(0.001)
    raise TimeoutError(run_id)


async def measure(args: argparse.Namespace) -> None:
    limits = LimitsSettings()
    if args.unbounded:
        limits = LimitsSettings(expression_bytes=2**40, expression_work_bytes=2**50)
    store, bus, stop = InMemoryEventStore(), InMemoryBus(), asyncio.Event()
    await bus.start()
    noisy_doc = foreach_workflow("noisy") if args.foreach else workflow("noisy", NOISY)
    for name, document in (("noisy", noisy_doc), ("quick", workflow("quick", 1))):
        await store.create_workflow(name, name, document)
        await store.publish(name)
    settings = SchedulerSettings(limits=limits)
    scheduler = asyncio.create_task(
        run_scheduler(settings=settings, store=store, bus=bus, stop=stop, serve_health=False)
    )
    noisy_input: dict[str, Any] = {"l": list(range(20)), "s": "x" * (args.string_kb * 1024)}
    if args.foreach:
        noisy_input = {"items": list(range(args.foreach))}
    outcomes: dict[str, int] = {}
    try:
        await ended(store, await start(store, bus, "quick", None))  # warm up
        for noisy_count in sorted({0, 1, args.noisy}):
            latencies = []
            for _ in range(args.rounds):
                noisy = [await start(store, bus, "noisy", noisy_input) for _ in range(noisy_count)]
                began = time.perf_counter()
                await ended(store, await start(store, bus, "quick", None))
                latencies.append((time.perf_counter() - began) * 1000)
                for run_id in noisy:
                    outcome = await ended(store, run_id)
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
            latencies.sort()
            p90 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.9))]
            print(
                f"quick run behind {noisy_count:>2} noisy runs: median "
                f"{statistics.median(latencies):7.1f} ms  p90 {p90:7.1f} ms  "
                f"max {latencies[-1]:7.1f} ms  ({args.rounds} rounds)"
            )
    finally:
        stop.set()
        await scheduler
        await bus.close()
    print(f"noisy runs ended: {outcomes}")
    print(f"limits: expression_bytes={int(limits.expression_bytes):,} "
          f"expression_work_bytes={int(limits.expression_work_bytes):,}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noisy", type=int, default=5, help="noisy runs started first (also 0, 1)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--string-kb", type=int, default=100)
    parser.add_argument("--unbounded", action="store_true", help="no expression budget")
    parser.add_argument("--foreach", type=int, default=0, help="noisy runs: a foreach of N items")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
