"""Many runs of one workflow whose steps all wait on durable timers, started together.

Every run of `timers-mix` has the same node ids, so the core gives their timers the same
ids (`pause/delay/1`, `flaky/retry/1`, `slow/step_timeout/1`, ...): exactly the situation in
which timers keyed by id alone overwrote each other and most runs hung. Each run goes
through a delay, a retry backoff (a function that fails its first call), a step timeout
(a function whose first call outlives its timeout) and then either a signal wait or an
approval wait with a timeout. The run's `mode` decides how it ends:

- `signal`: the test sends the signal, the run succeeds;
- `signal-timeout`: nobody signals, the signal step times out and the run fails there;
- `approval-timeout`: nobody decides, the approval times out and the run fails there.

The engine test (in-process bus) and the e2e test (Kafka, separate processes) share this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tideflow.core import Signal, ids
from tideflow.wire import command_envelope

from .harness import Client

NAME = "timers-mix"
MODES = ("signal", "signal-timeout", "approval-timeout")
SLOW_FIRST_CALL = 5.0
"""Seconds the first call of `slow_once` would take: far beyond the step's 400 ms timeout."""


def workflow() -> dict[str, Any]:
    retry = {"maxAttempts": 5, "initialInterval": "50ms", "maxInterval": "100ms"}
    # `slow` gets more attempts: on a loaded machine a quick attempt may still miss the
    # timeout now and then, and the test is about timers, not about that.
    slow_retry = {**retry, "maxAttempts": 10}
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": NAME},
        "spec": {
            "nodes": [
                {"id": "pause", "type": "delay", "config": {"duration": "{{ input.delay }}"}},
                {"id": "flaky", "type": "function", "retry": retry,
                 "config": {"name": "flaky_once", "input": "{{ run.id }}"}},
                {"id": "slow", "type": "function", "retry": slow_retry, "timeout": "400ms",
                 "config": {"name": "slow_once", "input": "{{ run.id }}"}},
                {"id": "route", "type": "condition",
                 "config": {"expr": "input.mode != 'approval-timeout'"}},
                {"id": "sig", "type": "signal", "config": {"name": "go", "timeout": "250ms"}},
                {"id": "appr", "type": "approval", "config": {"timeout": "250ms"}},
            ],
            "edges": [
                {"from": "pause", "to": "flaky"}, {"from": "flaky", "to": "slow"},
                {"from": "slow", "to": "route"},
                {"from": "route", "to": "sig", "when": "true"},
                {"from": "route", "to": "appr", "when": "false"},
            ],
        },
    }  # fmt: skip


def flaky_once() -> Callable[[str], str]:
    """A task that fails the first call for each run (a retry backoff follows)."""
    seen: set[str] = set()

    def flaky(run_id: str) -> str:
        if run_id not in seen:
            seen.add(run_id)
            raise RuntimeError("first call fails")
        return run_id

    return flaky


def slow_once() -> Callable[[str], Awaitable[str]]:
    """A task whose first call per run outlives the step timeout (a retry follows)."""
    seen: set[str] = set()

    async def slow(run_id: str) -> str:
        if run_id not in seen:
            seen.add(run_id)
            await asyncio.sleep(SLOW_FIRST_CALL)
        return run_id

    return slow


def mode_of(index: int) -> str:
    return MODES[index % len(MODES)]


async def start_all(client: Client, count: int) -> dict[str, str]:
    """Start `count` runs at once (delays of 50-150 ms); signal the `signal` ones."""
    await client.publish_workflow(workflow())

    async def start(index: int) -> tuple[str, str]:
        mode = mode_of(index)
        run_input = {"mode": mode, "delay": f"{50 + index % 11 * 10}ms"}
        run_id = await client.start(NAME, run_input)
        if mode == "signal":
            # Sent right away: the run buffers it until its signal step waits.
            signal = Signal(
                command_id=f"{run_id}:go", run_id=run_id, name="go", data={"run": run_id}
            )
            await client.bus.publish(
                client.bus.topics.runs, run_id, command_envelope(signal, tenant_id="default")
            )
        return run_id, mode

    return dict(await asyncio.gather(*(start(i) for i in range(count))))


async def check_all(client: Client, modes: dict[str, str], timeout: float) -> None:
    """Every run ends, each as its mode says, having waited on each kind of timer."""
    records = await client.wait(list(modes), timeout=timeout)
    wrong: list[str] = []
    for run_id, mode in modes.items():
        record = records[run_id]
        error = record.error or {}
        outcome = (record.status, error.get("step"), error.get("type"))
        expected = {
            "signal": ("succeeded", None, None),
            "signal-timeout": ("failed", "sig", "Timeout"),
            "approval-timeout": ("failed", "appr", "Timeout"),
        }[mode]
        if outcome != expected:
            wrong.append(f"{run_id} ({mode}): {outcome}")
    assert not wrong, f"{len(wrong)} of {len(modes)} runs ended wrongly:\n" + "\n".join(wrong)
    for run_id in list(modes)[:30]:
        await check_history(client, run_id, modes[run_id])


async def check_history(client: Client, run_id: str, mode: str) -> None:
    """The run's own timers fired: delay, retry backoff, step timeout, wait timeout."""
    events = await client.store.read(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    fired = {e.data["timerId"] for e in events if e.type == "TimerFired"}
    scheduled = {e.data["timerId"] for e in events if e.type == "TimerScheduled"}
    assert ids.timer_id("pause", "delay", 1) in fired
    assert ids.timer_id("flaky", "retry", 1) in fired
    # The first attempt of `slow` times out: the scheduler's timer fires, or the executor,
    # which enforces the same deadline, reports the timeout first and the timer is
    # cancelled. Either way a retry follows on its own backoff timer.
    assert ids.timer_id("slow", "step_timeout", 1) in scheduled
    assert ids.timer_id("slow", "retry", 1) in fired
    retries = [e for e in events if e.type == "StepRetryScheduled" and e.data["step"] == "slow"]
    assert retries[0].data["attempt"] == 1
    assert retries[0].data["error"]["type"] in {"Timeout", "StepTimeout"}
    if mode == "signal-timeout":
        assert any(t.startswith("sig/step_timeout/") for t in fired)
    if mode == "approval-timeout":
        assert any(t.startswith("appr/step_timeout/") for t in fired)
    steps = {s.node_id: s for s in await client.store.get_steps(run_id)}
    assert steps["flaky"].attempt == 2
    assert steps["slow"].attempt >= 2
