"""A credential changed elsewhere ends an open collaboration session at once.

The identities live in Postgres, and the changes are made through a store of their own
(as the gateway, another process, makes them): its commit notifies the collaboration
service (`tideflow_credential_changed`, migration 0022), which checks the member's
credential then. The periodic check is set to 5 minutes, so only the notification can
end the sessions within the tests' deadlines. Before, a revoked API token kept editing
until the next check (30 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.auth import (
    Authenticator,
    Envelope,
    KeyRing,
    LocalKeyFile,
    Principal,
    PrincipalKind,
    Role,
    issue,
)
from tideflow.collab.app import collab_services, run_collab
from tideflow.collab.settings import CollabSettings
from tideflow.store import (
    APP_ROLE,
    ApiTokenRecord,
    PostgresCollabStore,
    PostgresEventStore,
    UserRecord,
)

from .conftest import YClient, definition, eventually, log_node

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PROMPTLY = 30.0  # seconds: well short of the periodic check, 5 minutes away (a loaded
# machine may take a few seconds to deliver the notification; 5 s once was the bound)


@dataclass
class Service:
    url: str
    store: PostgresEventStore
    admin: PostgresEventStore
    """Another connection pool, where the credentials are changed (the gateway's part)."""
    keys: KeyRing

    async def workflow(self) -> str:
        name = f"wf-{uuid.uuid4().hex[:10]}"
        await self.store.create_workflow(
            name, name, definition(name, log_node("a")), tenant_id="default"
        )
        return name

    def ws(self, workflow: str, token: str) -> str:
        return f"{self.url.replace('http', 'ws', 1)}/collab/{workflow}?token={token}"


@pytest.fixture(scope="module")
async def service(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    store = await PostgresEventStore.connect(dsn, max_size=4, role=APP_ROLE)
    admin = await PostgresEventStore.connect(dsn, max_size=2, role=APP_ROLE)
    documents = await PostgresCollabStore.connect(dsn, max_size=4, role=APP_ROLE)
    key_file = LocalKeyFile(tmp_path_factory.mktemp("keys") / "kek.json")
    keys = KeyRing(store, Envelope(key_file))
    authenticator = Authenticator(admin_token="admin", identities=store, keys=keys)
    settings = CollabSettings(port=0, fanout="none", recheck_every=timedelta(minutes=5))
    stop = asyncio.Event()
    async with collab_services(settings=settings, store=documents, workflows=store) as services:
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            run_collab(services=services, stop=stop, authenticator=authenticator,
                       on_started=started.set_result)
        )  # fmt: skip
        try:
            url = await asyncio.wait_for(started, 10)
            yield Service(url=url, store=store, admin=admin, keys=keys)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await task
    await documents.close()
    await admin.close()
    await store.close()


async def _closed_promptly(client: YClient, what: str) -> tuple[int, str]:
    started = time.monotonic()
    await eventually(lambda: client.closed is not None, timeout=PROMPTLY, what=what)
    assert time.monotonic() - started < PROMPTLY
    return client.closed or 0, client.close_reason or ""


async def test_a_token_revoked_elsewhere_ends_the_session_at_once(service: Service) -> None:
    name = await service.workflow()
    issued = issue()
    await service.admin.create_api_token(
        ApiTokenRecord(issued.id, "default", f"bot-{issued.id}", "editor", issued.secret_hash,
                       "test", datetime.now(UTC))
    )  # fmt: skip
    async with YClient(service.ws(name, issued.token)) as client:
        await asyncio.wait_for(client.synced.wait(), 10)
        await service.admin.revoke_api_token(issued.id, tenant_id="default", at=datetime.now(UTC))
        assert await _closed_promptly(client, "closed on revocation") == (
            4401,
            "UNAUTHENTICATED",
        )


@pytest.mark.parametrize(
    ("change", "ended"),
    [("role", (4403, "ROLE_CHANGED")), ("deleted", (4401, "UNAUTHENTICATED"))],
)
async def test_a_user_changed_elsewhere_is_checked_at_once(
    service: Service, change: str, ended: tuple[int, str]
) -> None:
    name = await service.workflow()
    user_id = uuid.uuid4().hex
    username = f"user-{user_id[:8]}"
    await service.admin.create_user(
        UserRecord(user_id, "default", username, "-", "editor", datetime.now(UTC))
    )
    token = await service.keys.issue(
        Principal(username, "default", Role.EDITOR, PrincipalKind.USER, user_id)
    )
    async with YClient(service.ws(name, token)) as client:
        await asyncio.wait_for(client.synced.wait(), 10)
        if change == "role":
            await service.admin.update_user(user_id, tenant_id="default", role="viewer")
        else:
            await service.admin.delete_user(user_id, tenant_id="default")
        assert await _closed_promptly(client, f"closed once {change}") == ended


async def test_a_change_to_another_credential_leaves_the_session_alone(service: Service) -> None:
    name = await service.workflow()
    issued, other = issue(), issue()
    for token in (issued, other):
        await service.admin.create_api_token(
            ApiTokenRecord(token.id, "default", f"bot-{token.id}", "editor", token.secret_hash,
                           "test", datetime.now(UTC))
        )  # fmt: skip
    async with YClient(service.ws(name, issued.token)) as client:
        await asyncio.wait_for(client.synced.wait(), 10)
        await service.admin.revoke_api_token(other.id, tenant_id="default", at=datetime.now(UTC))
        async with YClient(service.ws(name, other.token)) as refused:  # revoked: refused
            await eventually(lambda: refused.closed is not None, what="the revoked refused")
        assert client.closed is None
