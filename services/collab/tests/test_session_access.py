"""A member's credential is checked again while its WebSocket lasts, not only at the join.

One replica on the real Postgres, with the platform's real `Authenticator` (API tokens and
user JWTs over in-memory identities): a JWT's connection closes when the token expires; a
revoked API token, a deleted or disabled user and a user given another role lose their
session at the next check (every 200 ms here). Before, all of them went on editing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pycrdt import Map

from tideflow.auth import (
    Authenticator,
    AuthError,
    Envelope,
    InProcessRateLimiter,
    KeyRing,
    LocalKeyFile,
    Principal,
    PrincipalKind,
    RateLimited,
    Role,
    check_password_rate,
    issue,
)
from tideflow.collab.app import collab_services, run_collab
from tideflow.collab.document import roots
from tideflow.collab.session import SessionAccess, token_expiry
from tideflow.collab.settings import CollabSettings
from tideflow.store import (
    APP_ROLE,
    ApiTokenRecord,
    InMemoryIdentities,
    PostgresCollabStore,
    PostgresEventStore,
    UserRecord,
)

from .conftest import YClient, definition, eventually, log_node

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOKEN_TTL = timedelta(seconds=5)
"""The lifetime of the tokens `Service.user(..., expiring=True)` issues, for the test of
the expiry itself: 4 s and a bit once `exp` is cut to whole seconds, for the join to
happen before it on a loaded machine. The other tests get tokens of the usual 15 minutes:
with the 3 s they once shared (2 s and a bit) a loaded machine could see the token expire
before the revocation, deletion or role change under test, and the session end for that."""


@dataclass
class Service:
    url: str
    store: PostgresEventStore
    identities: InMemoryIdentities
    keys: KeyRing
    expiring: KeyRing
    """Issues tokens that last `TOKEN_TTL` (the same signing keys)."""

    async def workflow(self) -> str:
        name = f"wf-{uuid.uuid4().hex[:10]}"
        await self.store.create_workflow(
            name, name, definition(name, log_node("a")), tenant_id="default"
        )
        return name

    def ws(self, workflow: str, token: str) -> str:
        return f"{self.url.replace('http', 'ws', 1)}/collab/{workflow}?token={token}"

    async def user(self, role: str, *, expiring: bool = False) -> tuple[str, str]:
        """A user of `default` and a fresh access token of theirs: (user id, JWT); one
        that expires after `TOKEN_TTL` when `expiring`."""
        user_id = uuid.uuid4().hex
        name = f"user-{user_id[:8]}"
        await self.identities.create_user(
            UserRecord(user_id, "default", name, "-", role, datetime.now(UTC))
        )
        principal = Principal(name, "default", Role(role), PrincipalKind.USER, user_id)
        keys = self.expiring if expiring else self.keys
        return user_id, await keys.issue(principal)

    async def api_token(self, role: str) -> tuple[str, str]:
        issued = issue()
        await self.identities.create_api_token(
            ApiTokenRecord(
                issued.id, "default", f"bot-{issued.id}", role, issued.secret_hash, "test",
                datetime.now(UTC),
            )
        )  # fmt: skip
        return issued.id, issued.token


@pytest.fixture(scope="module")
async def service(dsn: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    store = await PostgresEventStore.connect(dsn, max_size=4, role=APP_ROLE)
    documents = await PostgresCollabStore.connect(dsn, max_size=4, role=APP_ROLE)
    identities = InMemoryIdentities()
    key_file = LocalKeyFile(tmp_path_factory.mktemp("keys") / "kek.json")
    keys = KeyRing(identities, Envelope(key_file))
    expiring = KeyRing(identities, Envelope(key_file), access_ttl=TOKEN_TTL)
    authenticator = Authenticator(admin_token="admin", identities=identities, keys=keys)
    settings = CollabSettings(port=0, fanout="none", recheck_every=timedelta(milliseconds=200))
    stop = asyncio.Event()
    async with collab_services(settings=settings, store=documents, workflows=store) as services:
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            run_collab(services=services, stop=stop, authenticator=authenticator,
                       on_started=started.set_result)
        )  # fmt: skip
        try:
            url = await asyncio.wait_for(started, 10)
            yield Service(url=url, store=store, identities=identities, keys=keys, expiring=expiring)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await task
    await documents.close()
    await store.close()


async def _closed(client: YClient, what: str, timeout: float = 30) -> tuple[int, str]:
    await eventually(lambda: client.closed is not None, timeout=timeout, what=what)
    return client.closed or 0, client.close_reason or ""


async def test_a_jwt_session_ends_when_the_token_expires(service: Service) -> None:
    name = await service.workflow()
    _, token = await service.user("editor", expiring=True)
    expires = token_expiry(f"Bearer {token}")
    assert expires is not None
    async with YClient(service.ws(name, token)) as client:
        await asyncio.wait_for(client.synced.wait(), 10)
        assert await _closed(client, "closed at expiry") == (4401, "TOKEN_EXPIRED")
    # not before the token's `exp` (whole seconds), and soon after it
    assert expires <= time.time() < expires + 3


async def test_a_revoked_api_token_loses_its_session(service: Service) -> None:
    name = await service.workflow()
    token_id, token = await service.api_token("editor")
    async with YClient(service.ws(name, token)) as client:
        await asyncio.wait_for(client.synced.wait(), 10)
        await service.identities.revoke_api_token(
            token_id, tenant_id="default", at=datetime.now(UTC)
        )
        assert await _closed(client, "closed after revocation") == (4401, "UNAUTHENTICATED")
    async with httpx.AsyncClient(base_url=service.url) as http:
        found = await http.get(
            f"/collab/workflows/{name}", headers={"Authorization": "Bearer admin"}
        )
    assert found.json()["clients"] == 0


@pytest.mark.parametrize("change", ["deleted", "disabled"])
async def test_a_deleted_or_disabled_user_loses_the_session(service: Service, change: str) -> None:
    name = await service.workflow()
    user_id, token = await service.user("editor")
    async with YClient(service.ws(name, token)) as client:
        await asyncio.wait_for(client.synced.wait(), 10)
        if change == "deleted":
            await service.identities.delete_user(user_id, tenant_id="default")
        else:
            await service.identities.update_user(user_id, tenant_id="default", disabled=True)
        assert await _closed(client, f"closed once {change}") == (4401, "UNAUTHENTICATED")


async def test_an_editor_lowered_to_viewer_joins_again_read_only(service: Service) -> None:
    name = await service.workflow()
    user_id, token = await service.user("editor")
    async with YClient(service.ws(name, token)) as client:
        await asyncio.wait_for(client.synced.wait(), 10)
        await service.identities.update_user(user_id, tenant_id="default", role="viewer")
        assert await _closed(client, "closed on the role change") == (4403, "ROLE_CHANGED")
    # the same token joins again, with the user's new rights: its updates are refused
    async with YClient(service.ws(name, token)) as client:
        await asyncio.wait_for(client.synced.wait(), 10)
        node = roots(client.doc)[2][0]
        assert isinstance(node, Map)
        node["config"]["message"] = "as a viewer"
        await eventually(lambda: client.denied, what="permission denied")
        assert client.closed is None


def _bearer(claims: object) -> str:
    """`Bearer` and a JWS-shaped token with these claims (unsigned: only read here)."""
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"Bearer x.{payload}.y"


def test_only_a_bearer_jwt_has_an_expiry() -> None:
    assert token_expiry(None) is None
    assert token_expiry("Bearer tfk_abc_def") is None
    assert token_expiry("Basic dXNlcjpwdw==") is None
    assert token_expiry("Bearer a.!!!.c") is None
    assert token_expiry(_bearer({"exp": 1_700_000_000})) == 1_700_000_000.0
    assert token_expiry(_bearer({"exp": True})) is None
    assert token_expiry(_bearer(["exp"])) is None


async def test_the_next_check_is_due_at_the_interval_or_the_expiry() -> None:
    now = 1000.0
    principal = Principal("u", "default", Role.EDITOR, PrincipalKind.USER, "u")
    access = SessionAccess(
        Authenticator(admin_token=None), _bearer({"exp": 1005}), principal,
        recheck_every=30, clock=lambda: now,
    )  # fmt: skip
    assert access.next_check_in() == 5
    ended = await access.check()
    assert ended is None  # an open authenticator: the same admin every time
    now = 1005.0
    ended = await access.check()
    assert ended is not None
    assert (ended.code, ended.reason) == (4401, "TOKEN_EXPIRED")
    assert access.next_check_in() == 0


async def test_throttled_password_guesses_do_not_end_a_proven_session() -> None:
    """A member joined with HTTP Basic; someone else then guesses its password until the
    username's bucket is empty. The check gets a rate limit, not a verdict: the session
    goes on (it ended as UNAUTHENTICATED), and the next check decides again."""
    limiter = InProcessRateLimiter()
    identities = InMemoryIdentities()
    password = "correct-horse-9"
    authenticator = Authenticator(admin_token="admin", identities=identities,
                                  password_limiter=limiter)  # fmt: skip
    hashed = await authenticator.passwords.hash(password)
    await identities.create_user(
        UserRecord("u1", "default", "basil", hashed, "editor", datetime.now(UTC))
    )
    header = "Basic " + base64.b64encode(f"basil:{password}".encode()).decode()
    principal = await authenticator.authenticate(header)
    access = SessionAccess(authenticator, header, principal, recheck_every=30)
    for _ in range(10):  # the guesses empty the bucket
        with contextlib.suppress(AuthError):
            await check_password_rate(limiter, "basil")
    with pytest.raises(RateLimited):
        await authenticator.authenticate(header)
    assert await access.check() is None


async def test_a_token_that_expires_during_the_check_ends_as_expired(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The session's clock reads just before `exp`, the verifier's just after (a wake-up a
    hair early, or the two reads straddling the second): the session still ends as
    TOKEN_EXPIRED, which tells the client to renew, not as UNAUTHENTICATED (seen in CI)."""
    identities = InMemoryIdentities()
    key_file = LocalKeyFile(tmp_path_factory.mktemp("keys") / "kek.json")
    keys = KeyRing(identities, Envelope(key_file), access_ttl=TOKEN_TTL)
    authenticator = Authenticator(admin_token="admin", identities=identities, keys=keys)
    principal = Principal("ann", "default", Role.EDITOR, PrincipalKind.USER, "u-ann")
    token = await keys.issue(principal, now=datetime.now(UTC) - 2 * TOKEN_TTL)
    header = f"Bearer {token}"
    expires_at = token_expiry(header)
    assert expires_at is not None
    assert expires_at < time.time()
    access = SessionAccess(
        authenticator, header, principal, recheck_every=30, clock=lambda: expires_at - 0.001
    )
    ended = await access.check()
    assert ended is not None
    assert (ended.code, ended.reason) == (4401, "TOKEN_EXPIRED")
