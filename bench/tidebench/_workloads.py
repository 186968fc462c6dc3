"""The four standard workloads of issue 6, with trivial steps (`bench_inc`: input + 1).

- W1_chain10: 200 runs of a 10-step chain, submitted as fast as the client can;
- W2_fanout50: 20 runs at once of one step, 50 parallel steps, and a join summing them;
- W3_latency1: 50 runs of a single step, one after another;
- W4_sustained: chain10 at a steady arrival rate, stepped up until p99 exceeds 1 s.
Every step is a `function` node, so each one is a durable task dispatched to the executor
and its result a command back to the scheduler: the figures are orchestration overhead.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tidebench._client import ApiClient, BenchError, Ended, Submitted, Tracker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

CHAIN = "bench-chain10"
FANOUT = "bench-fanout50"
SINGLE = "bench-latency1"
CHAIN_LENGTH = 10
FAN_WIDTH = 50
RUN_TIMEOUT = 600.0
W4_P99_LIMIT_S = 1.0


def _step(node_id: str, value: str) -> dict[str, Any]:
    return {"id": node_id, "type": "function", "config": {"name": "bench_inc", "input": value}}


def _document(name: str, nodes: list[dict[str, Any]], edges: list[dict[str, str]],
              output: str) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"nodes": nodes, "edges": edges, "output": output},
    }


def chain_document(name: str = CHAIN, length: int = CHAIN_LENGTH) -> dict[str, Any]:
    nodes = [_step(f"s{i}", "{{ input }}" if i == 0 else f"{{{{ nodes.s{i - 1}.output }}}}")
             for i in range(length)]  # fmt: skip
    edges = [{"from": f"s{i}", "to": f"s{i + 1}"} for i in range(length - 1)]
    return _document(name, nodes, edges, f"{{{{ nodes.s{length - 1}.output }}}}")


def fanout_document(name: str = FANOUT, width: int = FAN_WIDTH) -> dict[str, Any]:
    """start (input + 1) -> width branches (each start + 1) -> join: sum of the branches."""
    nodes = [_step("start", "{{ input }}")]
    nodes += [_step(f"b{i}", "{{ nodes.start.output }}") for i in range(width)]
    branches = ", ".join(f"nodes.b{i}.output" for i in range(width))
    nodes.append({"id": "join", "type": "function",
                  "config": {"name": "bench_sum", "input": f"{{{{ [{branches}] }}}}"}})  # fmt: skip
    edges = [{"from": "start", "to": f"b{i}"} for i in range(width)]
    edges += [{"from": f"b{i}", "to": "join"} for i in range(width)]
    return _document(name, nodes, edges, "{{ nodes.join.output }}")


def single_document(name: str = SINGLE) -> dict[str, Any]:
    return _document(name, [_step("s0", "{{ input }}")], [], "{{ nodes.s0.output }}")


DOCUMENTS = (chain_document(), fanout_document(), single_document())


@dataclass
class Sample:
    """One repetition of a workload."""

    runs: int
    steps: int
    wall_s: float
    latencies_s: list[float]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sizes:
    """Run counts of the workloads; `scaled` shrinks them for smoke tests."""

    w1_runs: int = 200
    w2_runs: int = 20
    w3_runs: int = 50
    w4_step_s: float = 60.0
    w4_rates: tuple[float, ...] = (10, 15, 25, 40, 60, 90, 135, 200, 300)

    def scaled(self, factor: float) -> Sizes:
        def n(value: int) -> int:
            return max(1, round(value * factor))

        return Sizes(n(self.w1_runs), n(self.w2_runs), n(self.w3_runs), self.w4_step_s,
                     self.w4_rates)  # fmt: skip


async def _submit_all(client: ApiClient, tracker: Tracker, workflow: str,
                      inputs: list[Any]) -> list[Submitted]:  # fmt: skip
    async def one(value: Any) -> Submitted:
        submitted = await client.submit(workflow, value)
        tracker.add(submitted)
        return submitted

    return list(await asyncio.gather(*(one(v) for v in inputs)))


async def _check_outputs(client: ApiClient, expected: list[tuple[str, Any]]) -> None:
    for run_id, want in expected[:5]:
        run = await client.get_run(run_id)
        if run["output"] != want:
            raise BenchError(f"run {run_id} returned {run['output']!r}, expected {want!r}")


def _finish(tracker: Tracker, submitted: list[Submitted], began: datetime) -> Sample:
    failed = tracker.failed()
    if failed:
        raise BenchError(f"{len(failed)} runs did not succeed, e.g. {failed[0].run_id}")
    ended = [tracker.ended[s.run_id] for s in submitted]
    wall = (max(e.ended_at for e in ended) - began).total_seconds()
    return Sample(len(ended), 0, wall, [e.latency_s for e in ended])


async def w1_chain10(client: ApiClient, runs: int) -> Sample:
    tracker = Tracker(client, CHAIN)
    began = datetime.now(UTC)
    submitted = await _submit_all(client, tracker, CHAIN, list(range(runs)))
    await tracker.wait_all(within=RUN_TIMEOUT)
    sample = _finish(tracker, submitted, began)
    sample.steps = runs * CHAIN_LENGTH
    await _check_outputs(client, [(s.run_id, i + CHAIN_LENGTH) for i, s in enumerate(submitted)])
    return sample


async def w2_fanout50(client: ApiClient, runs: int) -> Sample:
    tracker = Tracker(client, FANOUT)
    began = datetime.now(UTC)
    submitted = await _submit_all(client, tracker, FANOUT, [0] * runs)
    await tracker.wait_all(within=RUN_TIMEOUT)
    sample = _finish(tracker, submitted, began)
    sample.steps = runs * (FAN_WIDTH + 2)
    await _check_outputs(client, [(s.run_id, FAN_WIDTH * 2) for s in submitted])
    return sample


async def w3_latency1(client: ApiClient, runs: int) -> Sample:
    began = time.monotonic()
    latencies: list[float] = []
    expected: list[tuple[str, Any]] = []
    for i in range(runs):
        submitted = await client.submit(SINGLE, i)
        ended: Ended = await client.wait_one(submitted, within=60)
        if ended.status != "succeeded":
            raise BenchError(f"run {ended.run_id} ended {ended.status}")
        latencies.append(ended.latency_s)
        expected.append((submitted.run_id, i + 1))
    sample = Sample(runs, runs, time.monotonic() - began, latencies)
    await _check_outputs(client, expected)
    return sample


async def w4_step(client: ApiClient, rate: float, seconds: float) -> Sample:
    """chain10 arriving every 1/rate seconds (open loop: arrivals never wait on results)."""
    tracker = Tracker(client, CHAIN)
    total = max(1, round(rate * seconds))
    began_wall, began = datetime.now(UTC), time.monotonic()
    submitted: list[Submitted] = []
    submits: set[asyncio.Task[None]] = set()

    async def arrive(value: int) -> None:
        item = await client.submit(CHAIN, value)
        submitted.append(item)
        tracker.add(item)

    async def follow() -> None:
        while True:
            await asyncio.sleep(tracker.poll)
            await tracker.poll_once()

    follower = asyncio.create_task(follow())
    try:
        for i in range(total):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(arrive(i))
            submits.add(task)
            task.add_done_callback(submits.discard)
        if submits:
            await asyncio.gather(*submits)
        offered_s = time.monotonic() - began
    finally:
        follower.cancel()
    await tracker.wait_all(within=max(60.0, seconds))
    sample = _finish(tracker, submitted, began_wall)
    sample.steps = total * CHAIN_LENGTH
    sample.extra = {"rate": rate, "offered_rate": round(total / offered_s, 2)}
    return sample


def runners() -> dict[str, tuple[Callable[[ApiClient, int], Awaitable[Sample]], str]]:
    """Name -> (one repetition, which attribute of Sizes gives its run count)."""
    return {
        "W1_chain10": (w1_chain10, "w1_runs"),
        "W2_fanout50": (w2_fanout50, "w2_runs"),
        "W3_latency1": (w3_latency1, "w3_runs"),
    }
