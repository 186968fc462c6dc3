"""Access across services: the gateway, the approval service and the trigger service share
one verdict on who may call (a deleted, disabled or re-roled user, at its next request)
and one set of tenant limits (API requests and run starts, from every start path).

Each service runs as its own app, wired the way `tide serve` wires it (its own
authenticator over the identity store and signing keys, its own `TenantQuotas` over the
same Redis), on real Postgres and Redis.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tideflow.approval.app import create_app as approval_app
from tideflow.approval.app import services_of as approval_services
from tideflow.approval.settings import ApprovalSettings
from tideflow.auth import (
    Authenticator,
    Envelope,
    InProcessRateLimiter,
    KeyRing,
    RedisRateLimiter,
    TenantQuotas,
)
from tideflow.bus import InMemoryBus
from tideflow.gateway.app import create_app as gateway_app
from tideflow.gateway.security import provider_of
from tideflow.gateway.settings import GatewaySettings, SecuritySettings
from tideflow.store import (
    APP_ROLE,
    PostgresApprovalStore,
    PostgresEventStore,
    PostgresTriggerStore,
    RunFilter,
)
from tideflow.store.testing import Databases, with_database
from tideflow.trigger import metrics
from tideflow.trigger.app import create_app as trigger_app
from tideflow.trigger.app import services_of as trigger_services
from tideflow.trigger.cron import CronLoop
from tideflow.trigger.deferred import DeferredStarts
from tideflow.trigger.events import EventTriggers, Incoming
from tideflow.trigger.settings import TriggerSettings
from tideflow.trigger.signatures import tideflow_headers
from tideflow.trigger.starting import Definitions

pytestmark = pytest.mark.integration

ADMIN = "access-admin-token"
HOOK_SECRET = "access-hook-secret"
PASSWORD = "correct-horse-9"


class FixedSecrets:
    async def get(self, tenant_id: str, name: str) -> str | None:
        return HOOK_SECRET if name == "HOOK" else None


@dataclass
class Services:
    store: PostgresEventStore
    triggers: PostgresTriggerStore
    bus: InMemoryBus
    gateway: httpx.AsyncClient
    approval: httpx.AsyncClient
    trigger: httpx.AsyncClient
    forwarding: httpx.AsyncClient
    """A gateway that forwards the trigger management routes to the trigger service."""
    redis: Redis
    prefix: str
    limited: str
    """A tenant with API and run-start limits of 1 a minute (burst 1)."""
    other: str
    """A tenant with the same limits, its own buckets."""
    free: str
    """A tenant without limits, for the user tests."""
    tokens: dict[str, str]

    def quotas(self) -> TenantQuotas:
        """What `tide serve approval|trigger` builds: the gateway's limits, the same Redis."""
        limiter = RedisRateLimiter(self.redis, prefix=self.prefix)
        return TenantQuotas(self.store, limiter)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _workflow(name: str, triggers: list[dict[str, Any]]) -> dict[str, Any]:
    echo = {"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}}
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"triggers": triggers, "nodes": [echo]},
    }


async def _publish(services: Services, token: str, document: dict[str, Any]) -> None:
    name = document["metadata"]["name"]
    made = await services.gateway.post("/workflows", json=document, headers=_bearer(token))
    assert made.status_code == 201, made.text
    published = await services.gateway.post(f"/workflows/{name}/publish", headers=_bearer(token))
    assert published.status_code == 201, published.text


async def _tenant(services: Services, prefix: str) -> tuple[str, str]:
    """A new tenant and an admin API token of it."""
    tenant = f"{prefix}{uuid.uuid4().hex[:6]}"
    made = await services.gateway.post("/tenants", json={"name": tenant}, headers=_bearer(ADMIN))
    assert made.status_code == 201, made.text
    minted = await services.gateway.post(
        "/auth/tokens",
        json={"tenant": tenant, "role": "admin", "name": "ops"},
        headers=_bearer(ADMIN),
    )
    assert minted.status_code == 201, minted.text
    token: str = minted.json()["token"]
    services.tokens[tenant] = token
    return tenant, token


def _authenticator(store: PostgresEventStore, security: SecuritySettings) -> Authenticator:
    """As `tideflow.cli._services.service_authenticator` builds it for a standalone service."""
    keys = KeyRing(store, Envelope(provider_of(security)))
    return Authenticator(admin_token=ADMIN, identities=store, keys=keys)


@pytest.fixture(scope="module")
async def services(
    databases: Databases, migrated_template: str, redis_url: str, tmp_path_factory: Any
) -> AsyncIterator[Services]:
    name = await databases.create(template=migrated_template)
    dsn = with_database(databases.url, name)
    store = await PostgresEventStore.connect(dsn, max_size=6, role=APP_ROLE)
    approvals = await PostgresApprovalStore.connect(dsn, max_size=2, role=APP_ROLE)
    triggers = await PostgresTriggerStore.connect(dsn, max_size=4, role=APP_ROLE)
    bus = InMemoryBus()
    await bus.start()
    redis = Redis.from_url(redis_url)
    prefix = f"test:{uuid.uuid4().hex[:8]}:rl:"
    security = SecuritySettings(key_file=Path(tmp_path_factory.mktemp("keys")) / "kek.json")
    gateway_quotas = TenantQuotas(store, RedisRateLimiter(redis, prefix=prefix))
    gateway = gateway_app(
        settings=GatewaySettings(admin_token=ADMIN, security=security),
        store=store, bus=bus, quotas=gateway_quotas,
    )  # fmt: skip
    built = Services(
        store=store, triggers=triggers, bus=bus, redis=redis, prefix=prefix,
        gateway=httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw"),
        approval=httpx.AsyncClient(base_url="http://unset"),
        trigger=httpx.AsyncClient(base_url="http://unset"),
        forwarding=httpx.AsyncClient(base_url="http://unset"),
        limited=f"lim{uuid.uuid4().hex[:6]}", other=f"oth{uuid.uuid4().hex[:6]}",
        free=f"free{uuid.uuid4().hex[:6]}", tokens={},
    )  # fmt: skip
    approval = approval_app(
        approval_services(
            settings=ApprovalSettings(), store=approvals, bus=bus, audit_log=store,
            quotas=built.quotas(),
        ),
        _authenticator(store, security),
    )  # fmt: skip
    trigger_svc = trigger_services(
        settings=TriggerSettings(), store=triggers, bus=bus, secrets=FixedSecrets(),
        quotas=built.quotas(),
    )  # fmt: skip
    trigger = trigger_app(trigger_svc, _authenticator(store, security))
    built.approval = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=approval), base_url="http://approval"
    )
    built.trigger = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=trigger), base_url="http://trigger"
    )
    forwarding = gateway_app(
        settings=GatewaySettings(admin_token=ADMIN, security=security, trigger_url="http://tr"),
        store=store, bus=bus, quotas=gateway_quotas,
        forward_transport=httpx.ASGITransport(app=trigger),
    )  # fmt: skip
    built.forwarding = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=forwarding), base_url="http://gw2"
    )
    for tenant in (built.limited, built.other, built.free):
        made = await built.gateway.post("/tenants", json={"name": tenant}, headers=_bearer(ADMIN))
        assert made.status_code == 201, made.text
        minted = await built.gateway.post(
            "/auth/tokens", json={"tenant": tenant, "role": "admin", "name": "ops"},
            headers=_bearer(ADMIN),
        )  # fmt: skip
        assert minted.status_code == 201, minted.text
        built.tokens[tenant] = minted.json()["token"]
    try:
        yield built
    finally:
        for client in (built.gateway, built.approval, built.trigger, built.forwarding):
            await client.aclose()
        await bus.close()
        await triggers.close()
        await approvals.close()
        await store.close()
        await redis.aclose()
        await databases.drop(name)


async def _limit(services: Services, tenant: str, **limits: float) -> None:
    answer = await services.gateway.put(
        f"/tenants/{tenant}/limits", json=limits, headers=_bearer(ADMIN)
    )
    assert answer.status_code == 200, answer.text


def _rate_limited(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"]["code"] == "RATE_LIMITED"
    assert int(answer.headers["retry-after"]) >= 1


# -- users: deletion, disabling and role changes take effect at the next request ----------


async def _login(services: Services, role: str) -> tuple[str, str, str]:
    """A new user of the free tenant: (user id, access token, refresh token)."""
    username = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": username, "password": PASSWORD, "tenant": services.free, "role": role}
    created = await services.gateway.post("/users", json=body, headers=_bearer(ADMIN))
    assert created.status_code == 201, created.text
    assert created.json()["disabled"] is False
    login = await services.gateway.post(
        "/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    tokens = login.json()
    return created.json()["id"], tokens["accessToken"], tokens["refreshToken"]


async def _calls(services: Services, token: str) -> list[httpx.Response]:
    """One authenticated read on each service."""
    return [
        await services.gateway.get("/runs", headers=_bearer(token)),
        await services.approval.get("/approvals", headers=_bearer(token)),
        await services.trigger.get("/workflows/none/triggers", headers=_bearer(token)),
    ]


def _refused(answers: list[httpx.Response]) -> None:
    for answer in answers:
        assert answer.status_code == 401, (answer.request.url, answer.text)
        assert answer.json()["error"]["code"] == "UNAUTHENTICATED"
        assert answer.headers["www-authenticate"].startswith("Bearer")


async def test_a_deleted_users_access_token_is_refused_at_once_on_every_service(
    services: Services,
) -> None:
    user_id, access, refresh = await _login(services, "editor")
    before = await _calls(services, access)
    assert [a.status_code for a in before[:2]] == [200, 200], [a.text for a in before]
    assert before[2].status_code == 404  # a workflow of that name does not exist: not a 401

    deleted = await services.gateway.delete(f"/users/{user_id}", headers=_bearer(ADMIN))
    assert deleted.status_code == 204, deleted.text

    _refused(await _calls(services, access))
    again = await services.gateway.post("/auth/refresh", json={"refreshToken": refresh})
    assert again.status_code == 401
    listed = await services.gateway.get("/users", headers=_bearer(ADMIN))
    assert user_id not in listed.text
    audit = await services.gateway.get("/audit", headers=_bearer(services.tokens[services.free]))
    assert "user.delete" in audit.text
    gone = await services.gateway.delete(f"/users/{user_id}", headers=_bearer(ADMIN))
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "USER_NOT_FOUND"


async def test_a_disabled_user_is_refused_and_a_role_change_applies_at_the_next_request(
    services: Services,
) -> None:
    user_id, access, refresh = await _login(services, "editor")
    admin = _bearer(ADMIN)
    draft = _workflow(f"w{uuid.uuid4().hex[:6]}", [])
    made = await services.gateway.post("/workflows", json=draft, headers=_bearer(access))
    assert made.status_code == 201, made.text

    demoted = await services.gateway.patch(
        f"/users/{user_id}", json={"role": "viewer"}, headers=admin
    )
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "viewer"
    draft["metadata"]["name"] = f"w{uuid.uuid4().hex[:6]}"
    refused = await services.gateway.post("/workflows", json=draft, headers=_bearer(access))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN"

    disabled = await services.gateway.patch(
        f"/users/{user_id}", json={"disabled": True}, headers=admin
    )
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    _refused(await _calls(services, access))
    assert (
        await services.gateway.post("/auth/refresh", json={"refreshToken": refresh})
    ).status_code == 401

    enabled = await services.gateway.patch(
        f"/users/{user_id}", json={"disabled": False}, headers=admin
    )
    assert enabled.status_code == 200
    assert (await services.gateway.get("/runs", headers=_bearer(access))).status_code == 200


async def test_another_tenants_admin_cannot_see_or_change_a_user(services: Services) -> None:
    user_id, access, _ = await _login(services, "viewer")
    outsider = _bearer(services.tokens[services.other])
    for answer in (
        await services.gateway.patch(f"/users/{user_id}", json={"role": "admin"}, headers=outsider),
        await services.gateway.delete(f"/users/{user_id}", headers=outsider),
    ):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "USER_NOT_FOUND"
    assert (await services.gateway.get("/runs", headers=_bearer(access))).status_code == 200


# -- tenant API limits on the approval and trigger services --------------------------------


async def test_the_approval_and_trigger_services_apply_the_tenants_api_limit(
    services: Services,
) -> None:
    limited, other = services.limited, services.other
    for tenant in (limited, other):
        await _limit(services, tenant, apiRequestsPerSecond=1 / 60, runStartsPerSecond=1 / 60)
    token, other_token = services.tokens[limited], services.tokens[other]

    # one budget across services: the gateway's request uses the tenant's only token ...
    assert (await services.gateway.get("/runs", headers=_bearer(token))).status_code == 200
    # ... so the approval and trigger services refuse the tenant's next requests
    _rate_limited(await services.approval.get("/approvals", headers=_bearer(token)))
    _rate_limited(await services.trigger.get("/workflows/x/triggers", headers=_bearer(token)))
    # while another tenant, over the same limits, has its own bucket
    assert (
        await services.approval.get("/approvals", headers=_bearer(other_token))
    ).status_code == 200
    _rate_limited(await services.trigger.get("/workflows/x/triggers", headers=_bearer(other_token)))


# -- run starts from triggers count against runStartsPerSecond -----------------------------


async def _hooked_workflow(services: Services, tenant: str, name: str) -> None:
    document = _workflow(name, [{"id": "in", "type": "webhook", "secret": "HOOK"}])
    await _publish(services, services.tokens[tenant], document)


async def _hook(services: Services, tenant: str, name: str, n: int) -> httpx.Response:
    body = json.dumps({"n": n}).encode()
    headers = tideflow_headers(HOOK_SECRET, body, int(time.time()))
    headers |= {"Content-Type": "application/json", "X-Tideflow-Delivery": f"d-{n}"}
    return await services.trigger.post(f"/hooks/{tenant}/{name}/in", content=body, headers=headers)


async def test_a_webhook_over_the_tenants_run_start_limit_gets_429_and_starts_nothing(
    services: Services,
) -> None:
    tenant, token = await _tenant(services, "hk")
    await _hooked_workflow(services, tenant, "hooked")
    await _hooked_workflow(services, services.free, "hooked")  # unlimited tenant, same name
    await _limit(services, tenant, runStartsPerSecond=1 / 60)

    # the first delivery takes the tenant's one run-start token ...
    first = await _hook(services, tenant, "hooked", 0)
    assert first.status_code == 202, first.text
    # ... so the API's start and a new delivery are refused, and nothing is recorded
    _rate_limited(
        await services.gateway.post(
            "/workflows/hooked/runs", json={"input": {"n": 9}}, headers=_bearer(token)
        )
    )
    _rate_limited(await _hook(services, tenant, "hooked", 1))
    page = await services.store.list_runs(
        RunFilter(workflow_id="hooked", tenant_id=tenant), limit=10
    )
    assert len(page.runs) == 1
    # while a repeated delivery still answers with the run it started
    again = await _hook(services, tenant, "hooked", 0)
    assert again.status_code == 202, again.text
    assert again.json()["runId"] == first.json()["runId"]
    # another tenant's webhooks are unaffected
    for n in range(3):
        assert (await _hook(services, services.free, "hooked", n)).status_code == 202


async def test_cron_ticks_over_the_limit_are_deferred_then_fire_once_each(
    services: Services,
) -> None:
    tenant = services.other  # a run-start limit of 1 a minute, set above
    await _limit(services, tenant, runStartsPerSecond=1 / 60)
    name = f"c{uuid.uuid4().hex[:6]}"
    document = _workflow(
        name, [{"id": "tick", "type": "cron", "schedule": "* * * * *", "catchUp": "all"}]
    )
    await _publish(services, services.tokens[tenant], document)

    clock = [datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)]
    bucket_time = [0.0]
    quotas = TenantQuotas(services.store, InProcessRateLimiter(clock=lambda: bucket_time[0]))
    loop = CronLoop(
        store=services.triggers, bus=services.bus, definitions=Definitions(services.triggers),
        poll=timedelta(seconds=1), batch=50, outbox_claim=timedelta(seconds=30),
        clock=lambda: clock[0], quotas=quotas,
    )  # fmt: skip
    throttled = metrics.THROTTLED.labels("cron")._value.get()

    async def runs() -> int:
        page = await services.store.list_runs(
            RunFilter(workflow_id=name, tenant_id=tenant), limit=50
        )
        return len(page.runs)

    await loop.fire_due()  # first sight: scheduled for 12:01, nothing fired
    clock[0] = datetime(2030, 1, 1, 12, 3, 5, tzinfo=UTC)  # 12:01, 12:02, 12:03 are due
    assert await loop.fire_due() == 1  # one token: 12:01 fires, 12:02 is deferred
    assert await runs() == 1
    assert metrics.THROTTLED.labels("cron")._value.get() == throttled + 1
    assert await loop.fire_due() == 0  # still no token: nothing fires, nothing is lost
    bucket_time[0] += 60  # a minute later the bucket has one token again
    assert await loop.fire_due() == 1  # 12:02
    bucket_time[0] += 60
    assert await loop.fire_due() == 1  # 12:03
    bucket_time[0] += 600
    assert await loop.fire_due() == 0  # nothing else was due
    assert await runs() == 3
    keys = sorted(
        r.idempotency_key or ""
        for r in (
            await services.store.list_runs(RunFilter(workflow_id=name, tenant_id=tenant), limit=50)
        ).runs
    )
    assert [k.rsplit(":", 3)[-3:] for k in keys] == [
        ["2030-01-01T12", "01", "00Z"], ["2030-01-01T12", "02", "00Z"],
        ["2030-01-01T12", "03", "00Z"],
    ]  # fmt: skip


async def test_event_messages_over_the_limit_are_deferred_and_none_is_dropped(
    services: Services,
) -> None:
    tenant, token = await _tenant(services, "ev")
    name = f"e{uuid.uuid4().hex[:6]}"
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    await _publish(
        services, token, _workflow(name, [{"id": "ev", "type": "event", "topic": topic}])
    )
    await _limit(services, tenant, runStartsPerSecond=20)  # a burst of 20, then 20 a second
    triggers = EventTriggers(
        store=services.triggers, bus=services.bus, definitions=Definitions(services.triggers),
        outbox_claim=timedelta(seconds=30), quotas=services.quotas(),
    )  # fmt: skip
    await triggers.refresh()
    throttled = metrics.THROTTLED.labels("event")._value.get()
    messages = [
        Incoming(topic=topic, partition=0, offset=i, key=None, value=json.dumps({"i": i}).encode())
        for i in range(26)
    ]
    outcomes = await triggers.handle(messages)
    # the burst started, and what the bucket refilled meanwhile (a token per 50 ms of
    # Redis's clock: the count depends on the machine's speed); the rest are deferred,
    # the batch goes on without them
    created = sum(1 for o in outcomes if o.created)
    waiting = sum(1 for o in outcomes if o.deferred)
    assert created >= 20
    assert created + waiting == 26
    assert metrics.THROTTLED.labels("event")._value.get() == throttled + waiting
    # as the shared Redis bucket refills (20 a second), the deferred starts go out, once each
    deferred = DeferredStarts(
        store=services.triggers, bus=services.bus, quotas=services.quotas(),
        poll=timedelta(seconds=1), outbox_claim=timedelta(seconds=30),
    )  # fmt: skip
    sent = 0
    async with asyncio.timeout(30):
        while sent < waiting:
            sent += await deferred.send_due()
            await asyncio.sleep(0.05)
    assert sent == waiting
    assert await services.triggers.claim_deferred(tenant, 100, timedelta(seconds=1)) == []
    page = await services.store.list_runs(RunFilter(workflow_id=name, tenant_id=tenant), limit=50)
    assert sorted(r.input["i"] for r in page.runs) == list(range(26))


# -- the trigger management routes through the gateway's address ---------------------------


async def test_the_gateway_forwards_the_trigger_routes_to_the_trigger_service(
    services: Services,
) -> None:
    _, token = await _tenant(services, "fw")
    name = f"f{uuid.uuid4().hex[:6]}"
    cron = {"id": "nightly", "type": "cron", "schedule": "0 3 * * *"}
    await _publish(services, token, _workflow(name, [cron]))
    path = f"/workflows/{name}/triggers"

    direct = await services.trigger.get(path, params={"count": 2}, headers=_bearer(token))
    forwarded = await services.forwarding.get(path, params={"count": 2}, headers=_bearer(token))
    assert forwarded.status_code == direct.status_code == 200, forwarded.text
    assert forwarded.json() == direct.json()
    assert len(forwarded.json()["items"][0]["nextFireTimes"]) == 2

    paused = await services.forwarding.post(f"{path}/nightly/pause", headers=_bearer(token))
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True
    missing = await services.forwarding.post(f"{path}/nope/resume", headers=_bearer(token))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "TRIGGER_NOT_FOUND"
    refused = await services.forwarding.get(path, headers=_bearer("not-a-token"))
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    # another tenant does not see it (the trigger service decides, the gateway relays)
    other = await services.forwarding.get(path, headers=_bearer(services.tokens[services.free]))
    assert other.status_code == 404
