"""Operational endpoints: liveness, readiness (store and bus) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from tideflow.gateway import schemas
from tideflow.gateway.deps import ServicesDep
from tideflow.store import StoreError

router = APIRouter(tags=["operations"])

STORE_CHECK_TIMEOUT = 2.0


@router.get("/healthz", response_model=schemas.Health)
async def healthz() -> schemas.Health:
    """Liveness: answers as long as the process serves requests."""
    return schemas.Health(status="ok")


@router.get(
    "/readyz",
    response_model=schemas.Health,
    responses={503: {"model": schemas.Health, "description": "Not ready."}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: the store answers and the last publish to the bus went through."""
    try:
        await asyncio.wait_for(services.store.last_position(), STORE_CHECK_TIMEOUT)
    except (StoreError, TimeoutError, OSError):
        store_ok = False
    else:
        store_ok = True
    checks = {"store": store_ok, "bus": not services.bus_health.failing}
    ready = all(checks.values())
    body = schemas.Health(status="ready" if ready else "not-ready", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus exposition: gateway metrics plus the process-wide default registry."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
