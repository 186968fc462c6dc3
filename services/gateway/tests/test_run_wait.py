"""`GET /runs/{id}?wait=`: the answer comes when the run ends, not at the next poll.

The scheduler is simulated (the `scheduler` fixture): a flush that turns a run terminal
commits its row, whose trigger NOTIFYs the gateway's listener at commit.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from tideflow.gateway import ErrorCode

from .test_runs import finished_run, published_workflow

pytestmark = pytest.mark.integration


async def test_a_waiting_request_answers_when_its_run_ends(gateway, kit, scheduler):
    name = await published_workflow(gateway, kit)
    run = scheduler.run(kit.definition(name))
    run.start({"n": 1})
    await scheduler.flush(run)
    waiting = asyncio.create_task(gateway.client.get(f"/runs/{run.run_id}", params={"wait": 30}))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # still running: the request waits
    run.complete("fetch", {"value": 2})
    await scheduler.flush(run)
    response = await asyncio.wait_for(waiting, 10)
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"


async def test_many_waiters_each_wake_for_their_own_run(gateway, kit, scheduler):
    name = await published_workflow(gateway, kit)
    runs = [scheduler.run(kit.definition(name)) for _ in range(30)]
    for i, run in enumerate(runs):
        run.start({"n": i})
        await scheduler.flush(run)

    async def wait(run_id: str) -> tuple[str, float, str]:
        response = await gateway.client.get(f"/runs/{run_id}", params={"wait": 30}, timeout=40)
        assert response.status_code == 200
        return run_id, time.monotonic(), response.json()["status"]

    waiters = [asyncio.create_task(wait(r.run_id)) for r in runs]
    await asyncio.sleep(0.3)
    ending_at: dict[str, float] = {}
    order = random.Random(7).sample(runs, len(runs))
    unfinished = order[len(order) // 2 :]
    for run in order[: len(order) // 2]:
        run.complete("fetch", {"value": 1})
        ending_at[run.run_id] = time.monotonic()  # its waiter may wake before flush returns
        await scheduler.flush(run)
    by_run = {run.run_id: task for run, task in zip(runs, waiters, strict=True)}
    # the ended runs' waiters answer (a deadline, not a bound on how soon: a loaded machine
    # once needed more than the 10 s every waiter was given) ...
    done, late = await asyncio.wait([by_run[r] for r in ending_at], timeout=60)
    assert not late, f"{len(late)} ended runs' waiters never answered"
    answered = {t.result()[0]: t.result() for t in done}
    # ... each after its own end, as succeeded; the others' waiters go on waiting
    for run_id, at, status in answered.values():
        assert status == "succeeded"
        assert at >= ending_at[run_id]
    still = [by_run[run.run_id] for run in unfinished]
    woken, pending = await asyncio.wait(still, timeout=1)
    assert not woken, [t.result() for t in woken]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def test_a_finished_run_answers_at_once_and_a_wait_ends_with_the_run_as_is(
    gateway, kit, scheduler
):
    run = await finished_run(gateway, kit, scheduler)
    response = await gateway.client.get(f"/runs/{run.run_id}", params={"wait": 60})
    assert response.json()["status"] == "succeeded"
    name = await published_workflow(gateway, kit)
    running = scheduler.run(kit.definition(name))
    running.start({"n": 1})
    await scheduler.flush(running)
    began = time.monotonic()
    response = await gateway.client.get(f"/runs/{running.run_id}", params={"wait": 0.3})
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    assert time.monotonic() - began >= 0.3


async def test_wait_is_bounded_and_checks_access_first(gateway, kit, scheduler):
    for bad in (-1, 61, "soon"):
        response = await gateway.client.get("/runs/whatever", params={"wait": bad})
        kit.assert_error(response, 422, ErrorCode.VALIDATION_FAILED)
    run = await finished_run(gateway, kit, scheduler)
    other = {"Authorization": "Bearer other-tenant"}
    response = await gateway.client.get(f"/runs/{run.run_id}", params={"wait": 5}, headers=other)
    kit.assert_error(response, 404, ErrorCode.RUN_NOT_FOUND)
    response = await gateway.client.get("/runs/nope", params={"wait": 5})
    kit.assert_error(response, 404, ErrorCode.RUN_NOT_FOUND)
