"""`tide serve approval` and `tide serve trigger` as their own processes on real Kafka and
Postgres: a signed webhook starts a run, it halts at an approval, the approval service
resumes it; both answer health and metrics and stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tideflow.core import parse_definition
from tideflow.store import APP_ROLE, PostgresEventStore, RunFilter
from tideflow.trigger.signatures import tideflow_headers

from .stack import TIDE, Service, stack_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TOKEN = "e2e-admin"
SECRET = "e2e-hook-secret"

WORKFLOW = {
    "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "signed-order"},
    "spec": {
        "triggers": [{"id": "new", "type": "webhook", "secret": "E2E_HOOK"}],
        "nodes": [
            {"id": "ok", "type": "approval",
             "config": {"title": "Order {{ input.order }}", "role": "approver"}},
            {"id": "done", "type": "transform", "config": {"value": "{{ input.order }}"}},
        ],
        "edges": [{"from": "ok", "to": "done"}],
        "output": {"order": "{{ nodes.done.output }}", "by": "{{ nodes.ok.output.by }}"},
    },
}  # fmt: skip


def tide(env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the `tide` CLI; it must exit with `code`."""
    done = subprocess.run(
        [TIDE, *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


async def until(probe, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_webhook_approval_round_trip_through_separate_processes(
    fresh_dsn: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = {
        **stack_env(fresh_dsn, kafka_bootstrap, f"e2e{uuid.uuid4().hex[:8]}"),
        "TIDEFLOW_ADMIN_TOKEN": TOKEN,
        "TIDEFLOW_SECRET_E2E_HOOK": SECRET,
        "TIDEFLOW_SECURITY_KEY_FILE": str(tmp_path / "kek.json"),
    }
    services = [Service(name, [], env, tmp_path) for name in ("scheduler", "approval", "trigger")]
    store = await PostgresEventStore.connect(fresh_dsn, max_size=2, role=APP_ROLE)
    try:
        parse_definition(WORKFLOW)
        await store.create_workflow("signed-order", "signed-order", WORKFLOW)
        await store.publish("signed-order")
        for service in services:
            service.start()
        for service in services:
            await service.healthy()
        _, approval, trigger = services
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(timeout=10) as http:
            hooks = f"http://127.0.0.1:{trigger.port}/hooks/signed-order/new"
            body = json.dumps({"order": 77}).encode()
            forged = tideflow_headers("wrong", body, int(time.time()))
            bad = await http.post(hooks, content=body, headers=forged)
            assert bad.status_code == 401
            headers = {
                **tideflow_headers(SECRET, body, int(time.time())),
                "X-Tideflow-Delivery": "order-77",
                "Content-Type": "application/json",
            }
            started = await http.post(hooks, content=body, headers=headers)
            assert started.status_code == 202, started.text
            run_id = started.json()["runId"]
            again = await http.post(hooks, content=body, headers=headers)
            assert again.json()["runId"] == run_id

            inbox = f"http://127.0.0.1:{approval.port}/approvals"

            async def pending() -> list[dict[str, object]]:
                found = await http.get(inbox, params={"runId": run_id}, headers=auth)
                return list(found.json()["items"])

            item = (await until(pending, "the approval"))[0]
            assert item["title"] == "Order 77"
            # the CLI, pointed at the approval service, lists and decides it
            cli = {"TIDEFLOW_APPROVAL_URL": f"http://127.0.0.1:{approval.port}",
                   "TIDEFLOW_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}  # fmt: skip
            listed = json.loads(tide(cli, "approval", "list", "-o", "json").stdout)
            assert [a["id"] for a in listed["items"]] == [item["id"]]
            assert "Order 77" in tide(cli, "approval", "show", item["id"]).stdout
            decided = tide(cli, "approval", "approve", item["id"], "--comment", "ship it")
            assert "decided (approve)" in decided.stdout
            again = tide(cli, "approval", "reject", item["id"], code=1)
            assert "APPROVAL_CLOSED" in again.stderr

            async def ended() -> object:
                record = await store.get_run(run_id)
                return record if record.status == "succeeded" else None

            record = await until(ended, "the run to succeed")
            assert record.output == {"order": 77, "by": "admin"}

            for service, metric in ((approval, "tideflow_approval_votes_total"),
                                    (trigger, "tideflow_trigger_runs_started_total")):  # fmt: skip
                base = f"http://127.0.0.1:{service.port}"
                assert (await http.get(f"{base}/readyz")).status_code == 200
                text = (await http.get(f"{base}/metrics")).text
                assert metric in text
        for service in (approval, trigger):
            assert service.stop() == 0, service.tail()
    finally:
        for service in services:
            service.stop()
        await store.close()


async def test_a_trigger_killed_mid_delivery_starts_each_delivery_once(
    fresh_dsn: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """SIGKILL the trigger service while deliveries are in flight; senders retry (as
    webhook senders do) until accepted: every delivery ends with exactly one run."""
    env = {
        **stack_env(fresh_dsn, kafka_bootstrap, f"e2e{uuid.uuid4().hex[:8]}"),
        "TIDEFLOW_ADMIN_TOKEN": TOKEN,
        "TIDEFLOW_SECRET_E2E_HOOK": SECRET,
        "TIDEFLOW_SECURITY_KEY_FILE": str(tmp_path / "kek.json"),
    }
    scheduler = Service("scheduler", [], env, tmp_path)
    trigger = Service("trigger", [], env, tmp_path)
    store = await PostgresEventStore.connect(fresh_dsn, max_size=2, role=APP_ROLE)
    document = {**WORKFLOW, "metadata": {"name": "burst"}}
    document["spec"] = {**WORKFLOW["spec"], "nodes": [WORKFLOW["spec"]["nodes"][1]],  # type: ignore[index]
                        "edges": [], "output": "{{ nodes.done.output }}"}  # fmt: skip
    deliveries = 20
    try:
        await store.create_workflow("burst", "burst", document)
        await store.publish("burst")
        scheduler.start()
        trigger.start()
        await scheduler.healthy()
        await trigger.healthy()
        answers: dict[int, str] = {}

        def deliver(client: httpx.AsyncClient, n: int) -> Any:
            return _deliver(client, trigger, n, answers)

        async with httpx.AsyncClient(timeout=5) as client:
            sending = asyncio.gather(*(deliver(client, n) for n in range(deliveries)))
            await until(lambda: _some(answers), "the first accepted delivery")
            trigger.kill()
            trigger.start()
            await trigger.healthy()
            await sending
            # every delivery again: the same run each time
            again = dict(answers)
            answers.clear()
            await asyncio.gather(*(deliver(client, n) for n in range(deliveries)))
            assert answers == again

        async def all_ended() -> bool:
            records = [await store.get_run(r) for r in answers.values()]
            return all(r.status == "succeeded" for r in records)

        await until(all_ended, "every run to succeed", timeout=90)
        page = await store.list_runs(RunFilter(workflow_id="burst"), limit=1000)
        assert len(page.runs) == deliveries
        assert sorted(r.output for r in page.runs) == list(range(deliveries))
    finally:
        trigger.stop()
        scheduler.stop()
        await store.close()


async def _some(answers: dict[int, str]) -> bool:
    return bool(answers)


async def _deliver(
    client: httpx.AsyncClient, trigger: Service, n: int, answers: dict[int, str]
) -> None:
    """Send delivery `n` until the trigger service accepts it, as a webhook sender retries."""
    body = json.dumps({"order": n}).encode()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        headers = {
            **tideflow_headers(SECRET, body, int(time.time())),
            "X-Tideflow-Delivery": f"burst-{n}",
            "Content-Type": "application/json",
        }
        url = f"http://127.0.0.1:{trigger.port}/hooks/burst/new"
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError:
            await asyncio.sleep(0.2)
            continue
        if response.status_code == 202:
            answers[n] = response.json()["runId"]
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"delivery {n} was never accepted")
