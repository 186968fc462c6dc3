"""The collaboration service reports request latency and server spans like every service
with an API (docs/observability.md); its room WebSockets are neither timed nor traced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tideflow.collab.app import create_app
from tideflow.collab.fanout import NoFanout
from tideflow.collab.handlers import Services
from tideflow.collab.rooms import Rooms
from tideflow.collab.settings import CollabSettings
from tideflow.store import CollabStore, InMemoryEventStore

pytestmark = pytest.mark.unit

ROUTE = "/collab/workflows/{workflow_id}"


class _Unreachable:
    """The document store, which the refused requests of these tests never reach."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was used ({name})")


def _app() -> Any:
    """The service with an admin token (the requests below have none: 401)."""
    settings = CollabSettings(admin_token="secret", fanout="none")
    rooms = Rooms(
        settings=settings, store=cast("CollabStore", _Unreachable()),
        workflows=InMemoryEventStore(), fanout=NoFanout(),
    )  # fmt: skip
    return create_app(Services(settings=settings, rooms=rooms))


async def test_request_latency_by_route_template() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://collab") as client:
        assert (await client.get("/collab/workflows/orders")).status_code == 401
        assert (await client.get("/collab/workflows/invoices")).status_code == 401
        metrics = (await client.get("/metrics")).text
    assert (
        'tideflow_http_request_duration_seconds_count{method="GET",'
        f'route="{ROUTE}",service="collab",status="401"}} 2.0'
    ) in metrics
    # the process-wide registry is rendered too (rooms, clients, updates)
    assert "tideflow_collab_rooms" in metrics


SCRIPT = """
import asyncio, sys
import httpx
from opentelemetry import trace
from tideflow.telemetry import configure_tracing
assert configure_tracing(service="collab")
sys.path.insert(0, sys.argv[1])
from test_observability import _app

async def main():
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://collab") as client:
        assert (await client.get("/collab/workflows/orders")).status_code == 401
        assert (await client.get("/healthz")).status_code == 200

asyncio.run(main())
trace.get_tracer_provider().force_flush()
"""


def test_requests_get_server_spans_and_probes_do_not(tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env |= {"OTEL_TRACES_EXPORTER": "jsonl", "TIDEFLOW_TRACES_FILE": str(spans_file)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(Path(__file__).parent)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    names = {span["name"] for span in spans}
    assert f"GET {ROUTE}" in names, names
    assert not any("/healthz" in name for name in names), names
