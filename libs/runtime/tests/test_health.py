"""The operational endpoints answer truthfully and the server shuts down on request."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import Counter

from tideflow.runtime import HealthServer

pytestmark = pytest.mark.unit

PINGS = Counter("tideflow_test_pings_total", "Pings seen by the health test.")


async def test_health_ready_and_metrics() -> None:
    state = {"consumer": False}

    async def readiness() -> dict[str, bool]:
        return dict(state)

    server = HealthServer(service="test", host="127.0.0.1", port=0, readiness=readiness)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok", "service": "test"}
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"] == {"consumer": False}
            state["consumer"] = True
            assert (await client.get("/readyz")).status_code == 200
            PINGS.inc()
            metrics = (await client.get("/metrics")).text
            assert "tideflow_test_pings_total 1.0" in metrics
    finally:
        await server.stop()
