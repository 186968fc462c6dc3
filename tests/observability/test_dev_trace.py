"""`tide dev` traces a run the same way over its in-process bus: one connected trace.

The in-process bus carries the same envelopes (with their `trace` field) as Kafka, so a
run started on the API of `tide dev` gives one trace from the request span through the
scheduler's decisions and the executor's attempts, all in one process (`tideflow-dev`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from ..e2e.stack import TIDE, free_port

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
TOKEN = "dev-trace-token"
WORKFLOW = """
apiVersion: tideflow.io/v1
kind: Workflow
metadata: {name: traced}
spec:
  nodes:
    - {id: a, type: function, config: {name: obs.ok, input: "{{ input }}"}}
    - id: b
      type: function
      retry: {maxAttempts: 3, initialInterval: 100ms, backoffCoefficient: 1}
      config: {name: obs.flaky, input: "{{ nodes.a.output }}"}
  edges:
    - {from: a, to: b}
"""


def test_a_run_under_tide_dev_is_one_connected_trace(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "traced.yaml").write_text(WORKFLOW)
    (examples / "example_tasks.py").write_text((HERE / "obs_tasks.py").read_text())
    spans_file = tmp_path / "spans.jsonl"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TIDEFLOW_DATABASE_URL"}
    env |= {
        "TIDEFLOW_ADMIN_TOKEN": TOKEN,
        "OTEL_TRACES_EXPORTER": "jsonl",
        "TIDEFLOW_TRACES_FILE": str(spans_file),
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    log = (tmp_path / "dev.log").open("wb")
    process = subprocess.Popen(
        [TIDE, "dev", "--port", str(port), "--data-dir", str(tmp_path / "data"),
         "--examples", str(examples)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: _get(f"{url}/healthz") == 200, process, tmp_path, timeout=180)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        started = httpx.post(f"{url}/workflows/traced/runs", json={"input": 7},
                             headers=headers, timeout=30)  # fmt: skip
        assert started.status_code == 201, started.text
        run_id = started.json()["runId"]

        def succeeded() -> bool:
            run = httpx.get(f"{url}/runs/{run_id}", headers=headers, timeout=10).json()
            assert run["status"] not in {"failed", "cancelled"}, run
            return bool(run["status"] == "succeeded")

        wait(succeeded, process, tmp_path, timeout=90)

        def spans() -> list[dict]:
            if not spans_file.exists():
                return []
            return [json.loads(line) for line in spans_file.read_text().splitlines()]

        def run_ended() -> bool:
            return any(
                s["attributes"].get("tideflow.run_id") == run_id
                and s["attributes"].get("tideflow.run.status") == "succeeded"
                for s in spans()
            )

        wait(run_ended, process, tmp_path, timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=90)
    everything = spans()
    mine = [s for s in everything if s["attributes"].get("tideflow.run_id") == run_id]
    (trace,) = {s["context"]["trace_id"] for s in mine}
    members = [s for s in everything if s["context"]["trace_id"] == trace]
    ids = {s["context"]["span_id"] for s in members}
    roots = [s for s in members if s["parent_id"] is None]
    assert [r["name"] for r in roots] == ["POST /workflows/{workflow_id}/runs"]
    assert all(s["parent_id"] in ids for s in members if s["parent_id"] is not None)
    assert {s["resource"]["attributes"]["service.name"] for s in members} == {"tideflow-dev"}
    # a set: steps are at-least-once, a redelivered task may run an attempt twice
    steps = sorted({
        (s["attributes"]["tideflow.node_id"], s["attributes"]["tideflow.attempt"],
         s["attributes"]["tideflow.step.outcome"])
        for s in members if s["name"] == "tideflow.step"
    })  # fmt: skip
    assert steps == [("a", 1, "succeeded"), ("b", 1, "failed"), ("b", 2, "succeeded")]
    assert sum(s["name"] == "tideflow.scheduler.decide" for s in members) >= 4


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=1).status_code
    except httpx.HTTPError:
        return 0


def wait(check: object, process: subprocess.Popen[bytes], folder: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, (folder / "dev.log").read_text()[-3000:]
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out; tide dev log:\n{(folder / 'dev.log').read_text()[-3000:]}")
