"""`service_app` builds every small API alike: errors, auth state, timing, /metrics."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient

from tideflow.runtime import ApiError, metrics_response, service_app

pytestmark = pytest.mark.unit


class BackendDownError(Exception):
    pass


def test_a_service_app_has_the_shared_contract() -> None:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def thing(thing_id: str, request: Request) -> dict[str, str]:
        if thing_id == "missing":
            raise ApiError(404, "THING_NOT_FOUND", "no such thing")
        if thing_id == "down":
            raise BackendDownError
        return {"id": thing_id, "auth": request.app.state.authenticator}

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        return metrics_response(request)

    def install(app: FastAPI) -> None:
        app.include_router(router)

    app = service_app(
        service="things",
        title="Things",
        summary="A test API.",
        authenticator="the-authenticator",
        install=install,
        unavailable=(BackendDownError,),
        request_gate="the-gate",
    )
    assert app.state.request_gate == "the-gate"
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/things/a").json() == {"id": "a", "auth": "the-authenticator"}
    missing = client.get("/things/missing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "THING_NOT_FOUND"
    down = client.get("/things/down")
    assert (down.status_code, down.json()["error"]["code"]) == (503, "UNAVAILABLE")
    assert client.get("/nowhere").json()["error"]["code"] == "NOT_FOUND"
    exposition = client.get("/metrics").text
    assert 'service="things"' in exposition
    assert 'route="/things/{thing_id}"' in exposition  # the template, never the raw path


def test_operations_routes_answer_liveness_readiness_and_metrics() -> None:
    from fastapi.responses import JSONResponse

    from tideflow.runtime import answers, operations_router, readiness_response

    state = {"loop": True, "db_up": True}

    async def probe() -> None:
        if not state["db_up"]:
            raise ConnectionRefusedError

    async def readyz() -> JSONResponse:
        """Readiness: the database answers and the loop runs."""
        store_ok = await answers(probe())
        return readiness_response({"store": store_ok, "loop": state["loop"]}, extra=["x"])

    app = service_app(
        service="ops",
        title="Ops",
        summary="A test API.",
        authenticator=None,
        install=lambda app: app.include_router(operations_router(readyz)),
    )
    client = TestClient(app)
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"store": True, "loop": True},
        "extra": ["x"],
    }
    state["db_up"] = False
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["status"] == "not-ready"
    assert down.json()["checks"]["store"] is False
    assert "tideflow_http_request_duration_seconds" in client.get("/metrics").text
