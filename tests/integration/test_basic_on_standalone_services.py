"""HTTP Basic passwords on the standalone services, wired as `tide serve` wires them.

`tide serve approval|trigger|collab` used to let anyone guess a user's password over
HTTP Basic without a limit, and left no `login.failed` in the audit log: only the gateway
and `tide dev` throttled and recorded Basic guesses. Now every service takes the guess
from the username's bucket of `POST /auth/login` (429 `RATE_LIMITED` when it is empty) and
audits a wrong password in the user's tenant with the client address.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from tideflow.approval.app import create_app as approval_app
from tideflow.approval.app import services_of as approval_services
from tideflow.approval.settings import ApprovalSettings
from tideflow.auth import (
    LOGIN_LIMIT,
    RateLimited,
    RedisRateLimiter,
    TenantQuotas,
    check_password_rate,
)
from tideflow.bus import InMemoryBus
from tideflow.cli._services import service_authenticator
from tideflow.collab.app import collab_services
from tideflow.collab.app import create_app as collab_app
from tideflow.collab.settings import CollabSettings
from tideflow.gateway.app import create_app as gateway_app
from tideflow.gateway.settings import GatewaySettings
from tideflow.store import (
    APP_ROLE,
    PostgresApprovalStore,
    PostgresCollabStore,
    PostgresEventStore,
    PostgresTriggerStore,
)
from tideflow.store.testing import Databases, with_database
from tideflow.trigger.app import create_app as trigger_app
from tideflow.trigger.app import services_of as trigger_services
from tideflow.trigger.settings import TriggerSettings

pytestmark = pytest.mark.integration

ADMIN = "standalone-admin-token"
PASSWORD = "correct-horse-9"
READS = {
    "approval": "/approvals",
    "trigger": "/workflows/none/triggers",
    "collab": "/collab/workflows/none",
}


class NoSecrets:
    async def get(self, tenant_id: str, name: str) -> str | None:
        return None


@pytest.fixture(scope="module")
async def stack(
    databases: Databases, migrated_template: str, redis_url: str
) -> AsyncIterator[dict[str, Any]]:
    name = await databases.create(template=migrated_template)
    dsn = with_database(databases.url, name)
    store = await PostgresEventStore.connect(dsn, max_size=4, role=APP_ROLE)
    approvals = await PostgresApprovalStore.connect(dsn, max_size=2, role=APP_ROLE)
    triggers = await PostgresTriggerStore.connect(dsn, max_size=2, role=APP_ROLE)
    collab = await PostgresCollabStore.connect(dsn, max_size=2, role=APP_ROLE)
    bus = InMemoryBus()
    await bus.start()
    redis = Redis.from_url(redis_url)
    limiter = RedisRateLimiter(redis, prefix=f"test:{uuid.uuid4().hex[:8]}:rl:")
    quotas = TenantQuotas(store, limiter)
    admin = SecretStr(ADMIN)
    gateway = gateway_app(settings=GatewaySettings(admin_token=ADMIN), store=store, bus=bus)
    apps = {
        "approval": approval_app(
            approval_services(settings=ApprovalSettings(), store=approvals, bus=bus,
                              audit_log=store, quotas=quotas),
            service_authenticator(admin, store, limiter),
        ),
        "trigger": trigger_app(
            trigger_services(settings=TriggerSettings(), store=triggers, bus=bus,
                             secrets=NoSecrets(), quotas=quotas),
            service_authenticator(admin, store, limiter),
        ),
    }  # fmt: skip
    settings = CollabSettings(fanout="none")
    async with collab_services(
        settings=settings, store=collab, workflows=store, audit_log=store
    ) as rooms:
        apps["collab"] = collab_app(rooms, service_authenticator(admin, store, limiter))
        clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s")
            for name, app in {**apps, "gateway": gateway}.items()
        }
        tenant = f"t{uuid.uuid4().hex[:6]}"
        made = await clients["gateway"].post(
            "/tenants", json={"name": tenant}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert made.status_code == 201, made.text
        minted = await clients["gateway"].post(
            "/auth/tokens", json={"tenant": tenant, "role": "admin", "name": "ops"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )  # fmt: skip
        assert minted.status_code == 201, minted.text
        try:
            yield {"clients": clients, "tenant": tenant, "limiter": limiter,
                   "token": minted.json()["token"]}  # fmt: skip
        finally:
            for client in clients.values():
                await client.aclose()
    await bus.close()
    for closing in (collab, triggers, approvals, store):
        await closing.close()
    await redis.aclose()
    await databases.drop(name)


def _basic(username: str, password: str) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    }


async def _user(stack: dict[str, Any]) -> str:
    username = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": username, "password": PASSWORD, "tenant": stack["tenant"], "role": "admin"}
    gateway = stack["clients"]["gateway"]
    made = await gateway.post("/users", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert made.status_code == 201, made.text
    return username


async def _spend_guesses(limiter: RedisRateLimiter, username: str) -> None:
    """Take every password guess of `username` left in its bucket, down to its fraction:
    the first refusal can leave most of a guess in it (one refills every 5 s), and the
    request after it then found a whole one on a slow machine. So the guesses go until a
    refusal says the next one is more than a second away."""
    for _ in range(int(LOGIN_LIMIT.burst) + 5):
        try:
            await check_password_rate(limiter, username)
        except RateLimited:
            break
    else:
        pytest.fail("the login bucket never ran dry")
    key = f"login:{username.lower()}"  # the bucket `check_password_rate` draws from
    deadline = asyncio.get_running_loop().time() + 30
    while (decision := await limiter.acquire(key, LOGIN_LIMIT)).allowed or (
        decision.retry_after <= 1
    ):
        assert asyncio.get_running_loop().time() < deadline, "the login bucket kept refilling"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("service", sorted(READS))
async def test_wrong_basic_passwords_are_audited_and_throttled(
    stack: dict[str, Any], service: str
) -> None:
    client: httpx.AsyncClient = stack["clients"][service]
    username = await _user(stack)
    right = await client.get(READS[service], headers=_basic(username, PASSWORD))
    assert right.status_code != 401, right.text
    wrong = await client.get(READS[service], headers=_basic(username, "wrong-guess"))
    assert wrong.status_code == 401, wrong.text
    listed = await stack["clients"]["gateway"].get(
        "/audit", params={"limit": 500}, headers={"Authorization": f"Bearer {stack['token']}"}
    )
    failed = [
        item for item in listed.json()["items"]
        if item["action"] == "login.failed" and item["resource"] == f"user/{username}"
    ]  # fmt: skip
    assert [(i["actor"], i["source"]) for i in failed] == [(username, "127.0.0.1")]

    # the guesses come from the username's bucket that `POST /auth/login` draws from: once
    # it is spent (by any service), this one refuses even the right password until it refills
    await _spend_guesses(stack["limiter"], username)
    throttled = await client.get(READS[service], headers=_basic(username, PASSWORD))
    assert throttled.status_code == 429, throttled.text
    assert throttled.json()["error"]["code"] == "RATE_LIMITED"
    assert int(throttled.headers["retry-after"]) >= 1
