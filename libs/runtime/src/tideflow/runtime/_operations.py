"""`/healthz`, `/readyz` and `/metrics` of a service with an API of its own.

Liveness answers as long as the app serves; readiness is the service's own checks (the
database answers within `STORE_CHECK_TIMEOUT`, its loops run), 503 while any is false, so
a load balancer only sends work to a replica that can do it; `/metrics` is the app's HTTP
metrics with the process-wide registry. Every such service builds the same three routes
here and only says how it is ready.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from tideflow.runtime._service_app import metrics_response

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

STORE_CHECK_TIMEOUT = 2.0
"""Seconds a readiness probe waits for the database before it counts as down."""


class Health(BaseModel):
    """The `/healthz` and `/readyz` document."""

    status: str
    checks: dict[str, bool] = Field(default_factory=dict)


async def answers(
    probe: Awaitable[object],
    *errors: type[BaseException],
    timeout: float = STORE_CHECK_TIMEOUT,  # noqa: ASYNC109 - a probe's deadline
) -> bool:
    """Whether `probe` completes in time without one of `errors` (or a timeout, an OS error)."""
    caught: tuple[type[BaseException], ...] = (*errors, TimeoutError, OSError)
    try:
        await asyncio.wait_for(probe, timeout)
    except caught:
        return False
    return True


def readiness_response(checks: Mapping[str, bool], **extra: Any) -> JSONResponse:
    """200 `ready` when every check holds, else 503 `not-ready`; `extra` joins the body."""
    ready = all(checks.values())
    body = Health(status="ready" if ready else "not-ready", checks=dict(checks))
    return JSONResponse(body.model_dump(mode="json") | extra, status_code=200 if ready else 503)


def operations_router(readyz: Callable[..., Awaitable[JSONResponse]]) -> APIRouter:
    """The three operational routes; `readyz` is the service's readiness endpoint (its
    parameters are FastAPI dependencies, its docstring the route's description)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """Liveness: answers as long as the process serves requests."""
        return Health(status="ok")

    router.add_api_route("/readyz", readyz, methods=["GET"], response_model=Health)

    @router.get("/metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        """Prometheus exposition: the app's HTTP metrics and the process-wide registry."""
        return metrics_response(request)

    return router
