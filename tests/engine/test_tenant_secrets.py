"""`{{ secrets.NAME }}` resolves to the value of the run's own tenant, and only there.

Gateway, scheduler and executor run in this process on a real Postgres (like `tide dev`),
with the executor reading the envelope-encrypted secret store. Two tenants store a secret
under the same name; each one's run sees its own value (the task answers a digest: the
value itself would be masked in the output), and a tenant without it fails the step.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tideflow.executor.settings import ExecutorSettings
from tideflow.gateway import GatewaySettings
from tideflow.gateway.security import stored_secrets
from tideflow.gateway.settings import SecuritySettings
from tideflow.sdk import TaskRegistry

from .conftest import serving_platform
from .leaks import finished

pytestmark = pytest.mark.integration

ADMIN = "tenant-secrets-admin"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
async def gateway(fresh_dsn: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    registry = TaskRegistry()
    registry.register("digest", lambda value: digest(str(value)))
    security = SecuritySettings(key_file=tmp_path / "kek.json", rate_limiter="memory")
    settings = GatewaySettings(host="127.0.0.1", port=0, admin_token=ADMIN, security=security)
    async with (
        serving_platform(
            fresh_dsn,
            gateway=settings,
            executor=ExecutorSettings(queues=["default"]),
            registry=registry,
            secrets_of=lambda store: stored_secrets(security, store),
        ) as platform,
        platform.client() as client,
    ):
        yield client


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def tenant_tokens(client: httpx.AsyncClient, tenant: str) -> dict[str, str]:
    assert (await client.post("/tenants", json={"name": tenant}, headers=as_(ADMIN))).is_success
    tokens = {}
    for role in ("editor", "admin"):
        body = {"tenant": tenant, "role": role, "name": role}
        minted = await client.post("/auth/tokens", json=body, headers=as_(ADMIN))
        tokens[role] = minted.json()["token"]
    return tokens


WORKFLOW: dict[str, Any] = {
    "apiVersion": "tideflow.io/v1",
    "kind": "Workflow",
    "metadata": {"name": "uses-secret"},
    "spec": {
        "nodes": [
            {
                "id": "call",
                "type": "function",
                "config": {"name": "digest", "input": "{{ secrets.API_TOKEN }}"},
                "retry": {"maxAttempts": 1},
            }
        ]
    },
}


async def run_in(client: httpx.AsyncClient, editor: str) -> dict[str, Any]:
    assert (await client.post("/workflows", json=WORKFLOW, headers=as_(editor))).is_success
    assert (await client.post("/workflows/uses-secret/publish", headers=as_(editor))).is_success
    started = await client.post("/workflows/uses-secret/runs", json={}, headers=as_(editor))
    return await finished(client, started.json()["runId"], headers=as_(editor), timeout_s=30)


async def test_each_run_reads_the_secret_of_its_own_tenant(gateway: httpx.AsyncClient) -> None:
    runs = {}
    for tenant in ("acme", "beta", "gamma"):
        tokens = await tenant_tokens(gateway, tenant)
        if tenant != "gamma":
            value = {"value": f"{tenant}-api-token"}
            put = await gateway.put("/secrets/API_TOKEN", json=value, headers=as_(tokens["admin"]))
            assert put.status_code == 200
        runs[tenant] = await run_in(gateway, tokens["editor"])
    for tenant in ("acme", "beta"):
        assert runs[tenant]["status"] == "succeeded", runs[tenant]
        assert runs[tenant]["output"] == {"call": digest(f"{tenant}-api-token")}
    assert runs["gamma"]["status"] == "failed"
    assert "api-token" not in str(runs["gamma"])
