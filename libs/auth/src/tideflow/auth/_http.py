"""FastAPI dependencies for any service that serves tenants: who calls, and may they.

A service puts its `Authenticator` on `app.state.authenticator`; routes then declare
`principal: Annotated[Principal, Depends(requires(Role.APPROVER))]`. Failures raise the
library's `InvalidCredentials` / `Forbidden`, which the service maps to 401 / 403 in its
error contract. WebSockets authenticate from the header or, because browsers cannot set
headers on a WebSocket, from `?token=`. An optional `app.state.request_gate` is awaited
with the caller on every `requires()` route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, WebSocket

from tideflow.auth._authenticator import Authenticator
from tideflow.auth._login_audit import REQUEST_SOURCE
from tideflow.auth._roles import Principal, Role

RequestGate = Callable[[Principal], Awaitable[None]]
"""`app.state.request_gate`: what every authenticated request passes before its role is
checked; the gateway's takes one token of the tenant's API rate limit (429), so routes of
the approval and trigger services mounted on it (`tide dev`) are limited like its own."""


def _authenticator(app_state: object) -> Authenticator:
    found: Authenticator = app_state.authenticator  # type: ignore[attr-defined]
    return found


async def current_principal(request: Request) -> Principal:
    """The caller; authenticated once per request, however many dependencies ask."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    REQUEST_SOURCE.set(request.client.host if request.client else None)  # for the audit log
    principal = await _authenticator(request.app.state).authenticate(header)
    request.state.principal = principal
    return principal


def requires(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that yields the caller if its role includes `role` (else 403)."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        gate: RequestGate | None = getattr(request.app.state, "request_gate", None)
        if gate is not None:
            await gate(principal)
        principal.require(role)
        return principal

    dependency.__name__ = f"requires_{role.value}"
    return dependency


async def websocket_principal(websocket: WebSocket, role: Role) -> Principal:
    header = websocket.headers.get("authorization")
    token = websocket.query_params.get("token")
    if header is None and token:
        header = f"Bearer {token}"
    REQUEST_SOURCE.set(websocket.client.host if websocket.client else None)
    principal = await _authenticator(websocket.app.state).authenticate(header)
    principal.require(role)
    return principal
