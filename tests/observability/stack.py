"""A traced, scraped stack: gateway, scheduler and executor on the real Kafka, a real
Prometheus scraping them, and a few runs of every kind (succeeded with a retry and a child
run, failed), plus one poison message. Shared by the trace and dashboard tests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tideflow.bus import KafkaBus, RawOutgoing

from ..e2e.stack import Service, free_port, stack_env, topics

HERE = Path(__file__).parent
TOKEN = "obs-admin-token"
OK_RUNS = 3
FAILED_RUNS = 2
RULES = HERE.parents[1] / "deploy/prometheus/tideflow-rules.yml"


def workflow(name: str, nodes: list[dict[str, Any]], output: str | None = None) -> dict[str, Any]:
    edges = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(nodes)]
    spec: dict[str, Any] = {"nodes": nodes, "edges": edges}
    if output:
        spec["output"] = output
    return {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": spec}  # fmt: skip


FAST_RETRY = {"maxAttempts": 3, "initialInterval": "100ms", "backoffCoefficient": 1}
WORKFLOWS = [
    workflow("obs-child", [{"id": "c", "type": "function",
                            "config": {"name": "obs.ok", "input": "{{ input }}"}}]),
    workflow(
        "obs-ok",
        [
            {"id": "a", "type": "function", "config": {"name": "obs.ok", "input": "{{ input }}"}},
            {"id": "b", "type": "function", "retry": FAST_RETRY,
             "config": {"name": "obs.flaky", "input": "{{ nodes.a.output }}"}},
            {"id": "child", "type": "subworkflow",
             "config": {"workflow": "obs-child", "input": "{{ nodes.b.output }}"}},
        ],
        output="{{ nodes.child.output }}",
    ),
    workflow("obs-fail", [{"id": "f", "type": "function", "retry": {"maxAttempts": 1},
                           "config": {"name": "obs.fail", "input": "{{ input }}"}}]),
]  # fmt: skip


@dataclass
class Prometheus:
    """A real Prometheus (Debian package) scraping the stack every two seconds."""

    folder: Path
    targets: dict[str, int]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "tideflow-rules.yml").write_bytes(RULES.read_bytes())
        jobs = [
            {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for name, port in self.targets.items()
        ]
        config = {
            # a scrape may take a while on a loaded machine: the timeout is the interval
            "global": {
                "scrape_interval": "2s",
                "scrape_timeout": "2s",
                "evaluation_interval": "2s",
            },
            "rule_files": ["tideflow-rules.yml"],
            "scrape_configs": jobs,
        }
        (self.folder / "prometheus.yml").write_text(json.dumps(config))
        log = (self.folder / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={self.folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                assert self.process.poll() is None, self.tail()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"prometheus never became ready:\n{self.tail()}")

    async def query(self, expr: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get("/api/v1/query", params={"query": expr})
        body = response.json()
        assert body.get("status") == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def label_values(self, label: str, metric: str) -> list[str]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get(f"/api/v1/label/{label}/values", params={"match[]": metric})
        values: list[str] = response.json()["data"]
        return values

    async def until(self, expr: str, check: Any, timeout: float = 60) -> None:
        """Poll an expression until `check(result)` holds."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = await self.query(expr)
            if check(result):
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"{expr} never satisfied the check; last {result}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self) -> str:
        path = self.folder / "prometheus.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@dataclass
class ObservedStack:
    gateway: Service
    scheduler: Service
    executor: Service
    prometheus: Prometheus
    spans_file: Path
    logs: Path
    ok_runs: list[str]
    failed_runs: list[str]
    prefix: str

    def services(self) -> list[Service]:
        return [self.gateway, self.scheduler, self.executor]


def stack_services(dsn: str, bootstrap: str, folder: Path) -> tuple[dict[str, str], str]:
    prefix = f"obs{uuid.uuid4().hex[:8]}"
    env = stack_env(dsn, bootstrap, prefix) | {
        "TIDEFLOW_ADMIN_TOKEN": TOKEN,
        "TIDEFLOW_LOG_JSON": "true",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent / "e2e")]),
        "OTEL_TRACES_EXPORTER": "jsonl",
        "TIDEFLOW_TRACES_FILE": str(folder / "spans.jsonl"),
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "TIDEFLOW_SCHEDULER_BACKLOG_EVERY": "1s",
    }
    return env, prefix


async def start_runs(url: str) -> tuple[list[str], list[str]]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        for definition in WORKFLOWS:
            created = await http.post("/workflows", json=definition)
            assert created.status_code == 201, created.text
            name = definition["metadata"]["name"]
            published = await http.post(f"/workflows/{name}/publish")
            assert published.status_code == 201, published.text
        ok = [await _start(http, "obs-ok", n) for n in range(OK_RUNS)]
        failed = [await _start(http, "obs-fail", 100 + n) for n in range(FAILED_RUNS)]
        await _until_ended(http, ok + failed)
        for run_id in ok:
            assert (await http.get(f"/runs/{run_id}")).json()["status"] == "succeeded"
        for run_id in failed:
            assert (await http.get(f"/runs/{run_id}")).json()["status"] == "failed"
    return ok, failed


async def _start(http: httpx.AsyncClient, workflow_id: str, value: int) -> str:
    response = await http.post(f"/workflows/{workflow_id}/runs", json={"input": value})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["runId"]
    return run_id


async def _until_ended(http: httpx.AsyncClient, run_ids: list[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    waiting = set(run_ids)
    while waiting:
        assert time.monotonic() < deadline, f"runs not ended: {sorted(waiting)}"
        for run_id in sorted(waiting):
            status = (await http.get(f"/runs/{run_id}")).json()["status"]
            if status in {"succeeded", "failed", "cancelled", "compensated"}:
                waiting.discard(run_id)
        await asyncio.sleep(0.2)


async def send_poison(bootstrap: str, prefix: str) -> None:
    """Bytes that are no envelope: the scheduler dead-letters them."""
    bus = KafkaBus(bootstrap_servers=bootstrap, topics=topics(prefix))
    await bus.start()
    try:
        await bus.publish_raw_batch([RawOutgoing(bus.topics.runs, b"poison", b"not protobuf")])
    finally:
        await bus.close()
