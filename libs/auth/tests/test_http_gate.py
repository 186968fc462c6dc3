"""`requires()` routes of other services mounted on the gateway (`tide dev`) pass the
gateway's per-request gate (the tenant's API rate limit), like the gateway's own routes."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from tideflow.auth import Principal, Role, requires
from tideflow.auth._roles import PrincipalKind


class Throttled(Exception):  # noqa: N818 - as the gateway's RateLimited
    pass


def app_with(gate_calls: list[str] | None) -> FastAPI:
    app = FastAPI()

    async def known_caller(request: Request, call_next: RequestResponseEndpoint) -> Response:
        tenant = request.headers["x-tenant"]
        request.state.principal = Principal("p", tenant, Role.VIEWER, PrincipalKind.TOKEN)
        return await call_next(request)

    app.add_middleware(BaseHTTPMiddleware, dispatch=known_caller)
    if gate_calls is not None:

        async def gate(principal: Principal) -> None:
            gate_calls.append(principal.tenant_id)
            if principal.tenant_id == "limited":
                raise Throttled

        app.state.request_gate = gate

    @app.exception_handler(Throttled)
    async def throttled(_: Request, __: Throttled) -> JSONResponse:
        return JSONResponse({"error": {"code": "RATE_LIMITED"}}, status_code=429)

    @app.get("/read")
    async def read(p: Annotated[Principal, Depends(requires(Role.VIEWER))]) -> dict[str, str]:
        return {"tenant": p.tenant_id}

    return app


async def call(app: FastAPI, tenant: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/read", headers={"x-tenant": tenant})


async def test_each_request_passes_the_gate_of_its_tenant() -> None:
    calls: list[str] = []
    app = app_with(calls)
    assert (await call(app, "acme")).status_code == 200
    refused = await call(app, "limited")
    assert refused.status_code == 429
    assert calls == ["acme", "limited"]


async def test_without_a_gate_requests_pass() -> None:
    assert (await call(app_with(None), "limited")).json() == {"tenant": "limited"}
