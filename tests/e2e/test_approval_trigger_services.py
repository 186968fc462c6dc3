"""`tide serve approval` and `tide serve trigger` as their own processes on real Kafka and
Postgres: a signed webhook starts a run, it halts at an approval, the approval service
resumes it; both answer health and metrics and stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tideflow.core import parse_definition
from tideflow.store import APP_ROLE, PostgresEventStore
from tideflow.trigger.signatures import tideflow_headers

from .stack import Service, stack_env

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
            decided = await http.post(f"{inbox}/{item['id']}/decision",
                                      json={"decision": "approve"}, headers=auth)  # fmt: skip
            assert decided.status_code == 200, decided.text

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
