"""POST /runs/{id}/fail and `tide run fail` on a real scheduler and Postgres, with many
runs in flight at once: the failed ones compensate and end `ManuallyFailed`, the others
are untouched and finish normally; every fail is audited; ended runs are refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app as cli

from .conftest import admin_gateway, serving_platform

pytestmark = pytest.mark.integration

TOKEN = "manual-fail-token"
TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}
SAGA = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "saga"},
    "spec": {
        "nodes": [
            {"id": "book", "type": "transform", "config": {"value": "{{ input.n }}"},
             "compensate": "unbook"},
            {"id": "wait", "type": "signal", "config": {"name": "go"}},
            {"id": "unbook", "type": "log", "config": {"message": "unbook {{ input.n }}"}},
        ],
        "edges": [{"from": "book", "to": "wait"}],
    },
}  # fmt: skip
PLAIN = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "plain"},
    "spec": {"nodes": [{"id": "wait", "type": "signal", "config": {"name": "go"}}]},
}  # fmt: skip


@pytest.fixture
async def gateway(fresh_dsn: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with (
        serving_platform(fresh_dsn, gateway=admin_gateway(TOKEN)) as platform,
        platform.client(TOKEN) as client,
    ):
        yield client, platform.url


async def status_of(client: httpx.AsyncClient, run_id: str, wanted: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        run = (await client.get(f"/runs/{run_id}")).json()
        if run["status"] in wanted:
            return dict(run)
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.05)


async def test_failing_some_of_many_concurrent_runs(gateway):
    client, _ = gateway
    for document in (SAGA, PLAIN):
        assert (await client.post("/workflows", json=document)).status_code == 201
        name = document["metadata"]["name"]
        assert (await client.post(f"/workflows/{name}/publish")).status_code == 201
    starts = await asyncio.gather(*[
        client.post(f"/workflows/{name}/runs", json={"input": {"n": i}})
        for i in range(12) for name in ("saga", "plain")
    ])  # fmt: skip
    runs = [(r.json()["runId"], r.json()["workflowId"]) for r in starts]
    await asyncio.gather(*[status_of(client, run_id, {"waiting"}) for run_id, _ in runs])
    doomed = runs[::2]  # half of each workflow
    kept = runs[1::2]
    answers = await asyncio.gather(*[
        client.post(f"/runs/{run_id}/fail", json={"reason": f"operator gave up on {run_id}"})
        for run_id, _ in doomed
    ])  # fmt: skip
    assert {a.status_code for a in answers} == {202}
    # the other half goes on: signalled, they succeed
    await asyncio.gather(*[
        client.post(f"/runs/{run_id}/signals/go", json={"data": 1}) for run_id, _ in kept
    ])  # fmt: skip
    for run_id, workflow in doomed:
        run = await status_of(client, run_id, TERMINAL)
        assert run["status"] == ("compensated" if workflow == "saga" else "failed"), run
        assert run["error"]["type"] == "ManuallyFailed"
        assert run["error"]["message"].startswith("failed manually by ")
        assert run["error"]["message"].endswith(f": operator gave up on {run_id}")
        steps = {s["nodeId"]: s for s in run["steps"]}
        assert steps["wait"]["status"] == "cancelled"
        if workflow == "saga":  # the compensation of `book` ran
            assert steps["book.compensate"]["status"] == "succeeded", steps
    for run_id, _ in kept:
        assert (await status_of(client, run_id, TERMINAL))["status"] == "succeeded"
    # an ended run is refused; a reason is required
    ended = await client.post(f"/runs/{doomed[0][0]}/fail", json={"reason": "again"})
    assert (ended.status_code, ended.json()["error"]["code"]) == (409, "RUN_ALREADY_ENDED")
    assert (await client.post(f"/runs/{kept[0][0]}/fail", json={})).status_code == 422
    audit = (await client.get("/audit", params={"limit": 200})).json()["items"]
    failed = [a for a in audit if a["action"] == "run.fail"]
    assert {a["resource"] for a in failed} == {f"run/{run_id}" for run_id, _ in doomed}


async def test_tide_run_fail(gateway, monkeypatch):
    client, url = gateway
    assert (await client.post("/workflows", json=PLAIN)).status_code == 201
    assert (await client.post("/workflows/plain/publish")).status_code == 201
    run_id = (await client.post("/workflows/plain/runs", json={"input": {}})).json()["runId"]
    await status_of(client, run_id, {"waiting"})
    monkeypatch.setenv("TIDEFLOW_URL", url)
    monkeypatch.setenv("TIDEFLOW_TOKEN", TOKEN)
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["run", "fail", run_id, "--reason", "from the CLI"]
    )
    assert result.exit_code == 0, result.output
    assert f"fail requested for {run_id}" in result.output
    run = await status_of(client, run_id, TERMINAL)
    assert (run["status"], run["error"]["type"]) == ("failed", "ManuallyFailed")
    again = await asyncio.to_thread(
        CliRunner().invoke, cli, ["run", "fail", run_id, "--reason", "twice"]
    )
    assert again.exit_code != 0
    assert "RUN_ALREADY_ENDED" in again.output
