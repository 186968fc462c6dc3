"""The attack suite: one tenant's credentials against another tenant's resources.

Every route answers 404 for another tenant's resource — never 403, never its data — and
lists, cursors, streams and WebSockets never show it. The attacker is acme's *admin*: the
strongest credential a tenant can hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .security_stack import ADMIN, Stack, start_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(store, tmp_path_factory) -> AsyncIterator[Stack]:
    built, close = await start_stack(store, tmp_path_factory.mktemp("keys"))
    yield built
    await close()


def victim_routes(stack: Stack) -> list[tuple[str, str, dict | None]]:
    beta = stack.tenants["beta"]
    run, private = beta.run_id, beta.private_workflow
    return [
        ("GET", f"/runs/{run}", None),
        ("GET", f"/runs/{run}/state", None),
        ("GET", f"/runs/{run}/events", None),
        ("GET", f"/runs/{run}/value?field=input", None),
        ("GET", f"/runs/{run}/events/stream", None),
        ("POST", f"/runs/{run}/cancel", {}),
        ("POST", f"/runs/{run}/signals/go", {}),
        ("POST", f"/runs/{run}/replay", {"fromSeq": 1}),
        ("GET", f"/workflows/{private}", None),
        ("PUT", f"/workflows/{private}", None),
        ("DELETE", f"/workflows/{private}", None),
        ("POST", f"/workflows/{private}/restore", None),
        ("POST", f"/workflows/{private}/publish", None),
        ("GET", f"/workflows/{private}/versions", None),
        ("GET", f"/workflows/{private}/versions/1", None),
        ("POST", f"/workflows/{private}/versions/1/rollback", None),
        ("POST", f"/workflows/{private}/runs", {}),
        ("DELETE", f"/auth/tokens/{beta.token_ids['viewer']}", None),
        ("DELETE", "/secrets/NOT_THERE", None),
    ]


@pytest.mark.parametrize("role", ["viewer", "editor", "approver", "admin"])
async def test_every_route_answers_404_for_another_tenants_resource(
    stack: Stack, role: str
) -> None:
    """Whatever the attacker's role: never a 403 that would confirm the resource exists."""
    attacker = stack.tenants["acme"].tokens[role]
    routes = victim_routes(stack)
    if role != "admin":  # admin-only resources answer 403 to lower roles before any lookup
        routes = [r for r in routes if not r[1].startswith(("/auth/", "/secrets/"))]
    for method, path, body in routes:
        kwargs = {"json": body} if body is not None else {}
        if method == "PUT":
            from .security_stack import workflow

            kwargs = {"json": workflow(path.rsplit("/", 1)[1], "acme")}
        response = await stack.call(method, path, attacker, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        assert "beta-marker" not in response.text, (method, path, response.text)
    # and the victim's resources are untouched and still answer their owner
    beta = stack.tenants["beta"]
    owner = beta.tokens["admin"]
    assert (await stack.call("GET", f"/runs/{beta.run_id}", owner)).json()["status"] == "pending"
    assert (
        await stack.call("GET", f"/workflows/{beta.private_workflow}", owner)
    ).status_code == 200
    tokens = (await stack.call("GET", "/auth/tokens", owner)).json()["items"]
    assert all(t["revokedAt"] is None for t in tokens)


async def test_the_websocket_log_stream_is_404_for_another_tenant(stack: Stack) -> None:
    attacker = stack.tenants["acme"].tokens["admin"]
    message = await stack.ws(f"/runs/{stack.tenants['beta'].run_id}/logs", attacker)
    assert message["type"] == "error"
    assert message["error"]["code"] == "RUN_NOT_FOUND"
    own = await stack.ws(f"/runs/{stack.tenants['acme'].run_id}/logs", attacker)
    assert own["type"] != "error"


async def test_same_workflow_name_in_two_tenants_stays_apart(stack: Stack) -> None:
    for name, tenant in stack.tenants.items():
        got = await stack.call("GET", "/workflows/billing", tenant.tokens["viewer"])
        assert got.status_code == 200
        marker = got.json()["definition"]["spec"]["nodes"][1]["config"]["value"]
        assert marker == f"{name}-marker"


async def test_lists_and_cursors_never_show_another_tenant(stack: Stack) -> None:
    acme, beta = stack.tenants["acme"], stack.tenants["beta"]
    token = acme.tokens["admin"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await stack.call("GET", "/runs", token, params=params)).json()
        seen += [r["runId"] for r in page["items"]]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    assert acme.run_id in seen
    assert beta.run_id not in seen
    filtered = await stack.call("GET", "/runs", token, params={"workflowId": beta.private_workflow})
    assert filtered.json()["items"] == []
    workflows = (await stack.call("GET", "/workflows", token)).json()["items"]
    assert beta.private_workflow not in {w["id"] for w in workflows}
    tokens = (await stack.call("GET", "/auth/tokens", token)).json()["items"]
    assert {t["tenant"] for t in tokens} == {"acme"}
    secrets = (await stack.call("GET", "/secrets", token)).json()["items"]
    assert [s["name"] for s in secrets] == ["DB"]
    audit = (await stack.call("GET", "/audit", token, params={"limit": 500})).json()["items"]
    assert audit
    assert {a["tenant"] for a in audit} == {"acme"}
    assert beta.run_id not in str(audit)
    assert "beta-marker" not in str(audit)


async def test_credentials_for_another_tenant_cannot_be_minted(stack: Stack) -> None:
    attacker = stack.tenants["acme"].tokens["admin"]
    for path, body in [
        ("/auth/tokens", {"tenant": "beta", "role": "viewer", "name": "x"}),
        ("/users", {"tenant": "beta", "role": "viewer", "username": "x", "password": "p" * 12}),
    ]:
        response = await stack.call("POST", path, attacker, json=body)
        assert response.status_code == 404, response.text


async def test_a_secret_of_another_tenant_is_neither_listed_nor_deletable(stack: Stack) -> None:
    attacker = stack.tenants["acme"].tokens["admin"]
    # acme's own DB secret is acme's; deleting it leaves beta's in place
    assert (await stack.call("DELETE", "/secrets/DB", attacker)).status_code == 204
    assert (await stack.call("DELETE", "/secrets/DB", attacker)).status_code == 404
    beta_admin = stack.tenants["beta"].tokens["admin"]
    names = [s["name"] for s in (await stack.call("GET", "/secrets", beta_admin)).json()["items"]]
    assert names == ["DB"]
    put = await stack.call("PUT", "/secrets/DB", attacker, json={"value": "acme"})
    assert put.status_code == 200


async def test_tenant_management_is_for_the_platform_admin_only(stack: Stack) -> None:
    attacker = stack.tenants["acme"].tokens["admin"]
    assert (await stack.call("GET", "/tenants", attacker)).status_code == 403
    assert (await stack.call("POST", "/tenants", attacker, json={"name": "x"})).status_code == 403
    limits = {"apiRequestsPerSecond": 0.001}
    assert (
        await stack.call("PUT", "/tenants/beta/limits", attacker, json=limits)
    ).status_code == 403
    names = [t["name"] for t in (await stack.call("GET", "/tenants", ADMIN)).json()["items"]]
    assert {"acme", "beta", "default"} <= set(names)
