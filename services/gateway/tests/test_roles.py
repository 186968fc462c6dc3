"""RBAC: a table of role x route x expected status, over HTTP, SSE and WebSocket.

Each row runs against the caller's own tenant (acme), so the only thing that varies is the
role. `None` is a request without credentials. Mutating routes get fresh resources per
call, so the order of the rows does not matter.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from .security_stack import ADMIN, ROLES, Stack, start_stack, workflow

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(store, tmp_path_factory) -> AsyncIterator[Stack]:
    built, close = await start_stack(store, tmp_path_factory.mktemp("keys"))
    yield built
    await close()


def _name() -> str:
    return f"wf-{uuid.uuid4().hex[:8]}"


Request = Callable[[Stack, str | None], Awaitable[int]]


async def _new_workflow(stack: Stack) -> str:
    name = _name()
    editor = stack.tenants["acme"].tokens["editor"]
    assert (await stack.call("POST", "/workflows", editor, json=workflow(name, "m"))).is_success
    assert (await stack.call("POST", f"/workflows/{name}/publish", editor)).is_success
    return name


async def _new_run(stack: Stack) -> str:
    name = await _new_workflow(stack)
    editor = stack.tenants["acme"].tokens["editor"]
    started = await stack.call("POST", f"/workflows/{name}/runs", editor, json={})
    return str(started.json()["runId"])


def simple(method: str, path: str, body: object = None) -> Request:
    async def call(stack: Stack, token: str | None) -> int:
        url = path.replace("{run}", stack.tenants["acme"].run_id)
        kwargs = {} if body is None else {"json": body}
        return (await stack.call(method, url, token, **kwargs)).status_code

    return call


def create_workflow() -> Request:
    async def call(stack: Stack, token: str | None) -> int:
        return (
            await stack.call("POST", "/workflows", token, json=workflow(_name(), "m"))
        ).status_code

    return call


def on_workflow(method: str, suffix: str, body: object = None) -> Request:
    async def call(stack: Stack, token: str | None) -> int:
        name = await _new_workflow(stack)
        kwargs = {} if body is None else {"json": body}
        return (await stack.call(method, f"/workflows/{name}{suffix}", token, **kwargs)).status_code

    return call


def on_run(method: str, suffix: str, body: object = None) -> Request:
    async def call(stack: Stack, token: str | None) -> int:
        run = await _new_run(stack)
        kwargs = {} if body is None else {"json": body}
        return (await stack.call(method, f"/runs/{run}{suffix}", token, **kwargs)).status_code

    return call


def sse() -> Request:
    async def call(stack: Stack, token: str | None) -> int:
        url = f"/runs/{stack.tenants['acme'].run_id}/events/stream"
        async with stack.client.stream("GET", url, headers=stack.as_(token)) as response:
            return response.status_code

    return call


def websocket() -> Request:
    async def call(stack: Stack, token: str | None) -> int:
        message = await stack.ws(f"/runs/{stack.tenants['acme'].run_id}/logs", token)
        if message["type"] != "error":
            return 200
        return {"UNAUTHENTICATED": 401, "FORBIDDEN": 403}.get(message["error"]["code"], 404)

    return call


def mint(role: str) -> Request:
    return simple("POST", "/auth/tokens", {"role": role, "name": "minted"})


def new_user() -> Request:
    async def call(stack: Stack, token: str | None) -> int:
        body = {"username": _name(), "password": "long-password-1", "role": "viewer"}
        return (await stack.call("POST", "/users", token, json=body)).status_code

    return call


def secret_put() -> Request:
    return simple("PUT", "/secrets/ROLE_TABLE", {"value": "v"})


# route -> expected status for (no credentials, viewer, editor, approver, admin)
TABLE: list[tuple[str, Request, tuple[int, int, int, int, int]]] = [
    ("GET /workflows", simple("GET", "/workflows"), (401, 200, 200, 200, 200)),
    ("POST /workflows", create_workflow(), (401, 403, 201, 201, 201)),
    ("GET /workflows/{id}", on_workflow("GET", ""), (401, 200, 200, 200, 200)),
    ("DELETE /workflows/{id}", on_workflow("DELETE", ""), (401, 403, 204, 204, 204)),
    ("POST /workflows/{id}/publish", on_workflow("POST", "/publish"), (401, 403, 200, 200, 200)),
    ("GET /workflows/{id}/versions", on_workflow("GET", "/versions"), (401, 200, 200, 200, 200)),
    ("POST rollback", on_workflow("POST", "/versions/1/rollback"), (401, 403, 201, 201, 201)),
    ("POST /workflows/{id}/runs", on_workflow("POST", "/runs", {}), (401, 403, 201, 201, 201)),
    ("GET /runs", simple("GET", "/runs"), (401, 200, 200, 200, 200)),
    ("GET /runs/{id}", simple("GET", "/runs/{run}"), (401, 200, 200, 200, 200)),
    ("GET /runs/{id}/events", simple("GET", "/runs/{run}/events"), (401, 200, 200, 200, 200)),
    ("SSE /runs/{id}/events/stream", sse(), (401, 200, 200, 200, 200)),
    ("WS /runs/{id}/logs", websocket(), (401, 200, 200, 200, 200)),
    ("POST /runs/{id}/cancel", on_run("POST", "/cancel", {}), (401, 403, 202, 202, 202)),
    ("POST /runs/{id}/signals/x", on_run("POST", "/signals/go", {}), (401, 403, 202, 202, 202)),
    ("GET /secrets", simple("GET", "/secrets"), (401, 403, 403, 403, 200)),
    ("PUT /secrets/{name}", secret_put(), (401, 403, 403, 403, 200)),
    ("GET /audit", simple("GET", "/audit"), (401, 403, 403, 403, 200)),
    ("GET /auth/tokens", simple("GET", "/auth/tokens"), (401, 403, 403, 403, 200)),
    ("POST /auth/tokens viewer", mint("viewer"), (401, 403, 403, 403, 201)),
    ("POST /auth/tokens admin", mint("admin"), (401, 403, 403, 403, 201)),
    ("POST /users", new_user(), (401, 403, 403, 403, 201)),
    ("GET /users", simple("GET", "/users"), (401, 403, 403, 403, 200)),
    ("GET /tenants", simple("GET", "/tenants"), (401, 403, 403, 403, 403)),
    ("GET /tenants/{own}", simple("GET", "/tenants/acme"), (401, 403, 403, 403, 200)),
    ("GET /tenants/{own}/limits", simple("GET", "/tenants/acme/limits"), (401, 403, 403, 403, 200)),
    (
        "GET /tenants/{other}/limits",
        simple("GET", "/tenants/beta/limits"),
        (401, 404, 404, 404, 404),
    ),
    (
        "PUT /tenants/{own}/limits",
        simple("PUT", "/tenants/acme/limits", {}),
        (401, 403, 403, 403, 403),
    ),
    ("GET /.well-known/jwks.json", simple("GET", "/.well-known/jwks.json"), (200,) * 5),
]


@pytest.mark.parametrize(("route", "request_", "expected"), TABLE, ids=[r[0] for r in TABLE])
async def test_role_table(
    stack: Stack, route: str, request_: Request, expected: tuple[int, ...]
) -> None:
    tokens = [None, *(stack.tenants["acme"].tokens[role] for role in ROLES)]
    got = tuple([await request_(stack, token) for token in tokens])
    assert got == expected, f"{route}: got {got}, expected {expected}"


async def test_the_platform_admin_manages_tenants(stack: Stack) -> None:
    assert (await stack.call("GET", "/tenants", ADMIN)).status_code == 200
    created = await stack.call("POST", "/tenants", ADMIN, json={"name": "gamma"})
    assert created.status_code == 201
    again = await stack.call("POST", "/tenants", ADMIN, json={"name": "gamma"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "TENANT_EXISTS"
    bad = await stack.call("POST", "/tenants", ADMIN, json={"name": "Not Valid"})
    assert bad.status_code == 422


async def test_a_tenant_admin_reads_its_own_limits_only(stack: Stack) -> None:
    # a tenant admin could not read its own tenant's limits at all (403 on every route)
    limits = {"runStartsPerSecond": 40.0, "apiRequestsPerSecond": 400.0}
    assert (await stack.call("PUT", "/tenants/acme/limits", ADMIN, json=limits)).is_success
    admin = stack.tenants["acme"].tokens["admin"]
    own = await stack.call("GET", "/tenants/acme/limits", admin)
    assert own.status_code == 200, own.text
    assert own.json()["name"] == "acme"
    assert own.json()["runStartsPerSecond"] == 40.0
    assert own.json()["apiRequestsPerSecond"] == 400.0
    assert (await stack.call("GET", "/tenants/acme", admin)).json() == own.json()
    other = await stack.call("GET", "/tenants/beta", admin)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "TENANT_NOT_FOUND")
    missing = await stack.call("GET", "/tenants/nope/limits", ADMIN)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "TENANT_NOT_FOUND")
    beta = await stack.call("GET", "/tenants/beta/limits", ADMIN)
    assert (beta.status_code, beta.json()["name"]) == (200, "beta")
    change = await stack.call("PUT", "/tenants/acme/limits", admin, json={})
    assert change.status_code == 403
    unchanged = await stack.call("GET", "/tenants/acme/limits", ADMIN)
    assert unchanged.json()["runStartsPerSecond"] == 40.0
    assert (await stack.call("PUT", "/tenants/acme/limits", ADMIN, json={})).is_success


async def test_no_one_grants_a_role_above_their_own(stack: Stack) -> None:
    approver_is_not_admin = stack.tenants["acme"].tokens["approver"]
    response = await stack.call(
        "POST", "/auth/tokens", approver_is_not_admin, json={"role": "viewer", "name": "x"}
    )
    assert response.status_code == 403
