"""Contract suite of the identity, secret and audit ports, on both adapters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import (
    AlreadyExists,
    ApiTokenRecord,
    AuditEntry,
    EventStore,
    NotFound,
    RefreshTokenRecord,
    SecretRecord,
    SigningKeyRecord,
    StoreError,
    UserRecord,
    credential_key,
)

pytestmark = pytest.mark.contract

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def test_tenants(store: EventStore) -> None:
    assert [t.name for t in await store.list_tenants()] == ["default"]
    await store.create_tenant("acme")
    with pytest.raises(AlreadyExists):
        await store.create_tenant("acme")
    limited = await store.set_tenant_limits(
        "acme", run_starts_per_second=5, api_requests_per_second=50
    )
    assert (limited.run_starts_per_second, limited.api_requests_per_second) == (5, 50)
    assert (await store.get_tenant("acme")).api_requests_per_second == 50
    with pytest.raises(NotFound):
        await store.get_tenant("nope")
    assert [t.name for t in await store.list_tenants()] == ["acme", "default"]


def _token(token_id: str, tenant: str) -> ApiTokenRecord:
    return ApiTokenRecord(token_id, tenant, f"name-{token_id}", "editor", "hash", "admin", T0)


async def test_api_tokens_are_listed_and_revoked_per_tenant(store: EventStore) -> None:
    for tenant in ("acme", "beta"):
        await store.create_tenant(tenant)
    await store.create_api_token(_token("t1", "acme"))
    await store.create_api_token(_token("t2", "beta"))
    assert [t.token_id for t in await store.list_api_tokens(tenant_id="acme")] == ["t1"]
    assert {t.token_id for t in await store.list_api_tokens(tenant_id=None)} == {"t1", "t2"}
    with pytest.raises(NotFound):
        await store.revoke_api_token("t2", tenant_id="acme", at=T0)
    assert (await store.find_api_token("t2")).revoked_at is None  # type: ignore[union-attr]
    revoked = await store.revoke_api_token("t1", tenant_id="acme", at=T0)
    assert revoked.revoked_at == T0
    again = await store.revoke_api_token("t1", tenant_id="acme", at=T0 + timedelta(hours=1))
    assert again.revoked_at == T0
    assert await store.find_api_token("missing") is None


async def test_users_have_globally_unique_names(store: EventStore) -> None:
    await store.create_tenant("acme")
    await store.create_user(UserRecord("u1", "acme", "ann", "h", "viewer", T0))
    with pytest.raises(AlreadyExists):
        await store.create_user(UserRecord("u2", "default", "ann", "h", "viewer", T0))
    found = await store.find_user_by_name("ann")
    assert found is not None
    assert (found.user_id, found.tenant_id) == ("u1", "acme")
    assert await store.find_user("u1") == found
    assert [u.username for u in await store.list_users(tenant_id="default")] == []


async def test_users_are_updated_and_deleted_within_their_tenant(store: EventStore) -> None:
    await store.create_tenant("acme")
    await store.create_user(UserRecord("u1", "acme", "ann", "h", "editor", T0))
    await store.add_refresh_token(
        RefreshTokenRecord("r1", "fam", "u1", "acme", "h", T0, T0 + timedelta(days=1))
    )
    for wrong in ("default", "nope"):
        with pytest.raises(NotFound):
            await store.update_user("u1", tenant_id=wrong, role="admin")
        with pytest.raises(NotFound):
            await store.delete_user("u1", tenant_id=wrong)
    demoted = await store.update_user("u1", tenant_id="acme", role="viewer")
    assert (demoted.role, demoted.disabled) == ("viewer", False)
    disabled = await store.update_user("u1", tenant_id=None, disabled=True)
    assert (disabled.role, disabled.disabled) == ("viewer", True)
    assert await store.find_user("u1") == disabled
    deleted = await store.delete_user("u1", tenant_id="acme")
    assert deleted.username == "ann"
    assert await store.find_user("u1") is None
    assert await store.use_refresh_token("r1", T0) is None  # its sessions went with it
    with pytest.raises(NotFound):
        await store.delete_user("u1", tenant_id=None)
    # the name is free again, for a user with another id
    await store.create_user(UserRecord("u2", "acme", "ann", "h", "viewer", T0))


async def test_a_refresh_token_is_used_once_even_under_a_race(store: EventStore) -> None:
    await store.create_user(UserRecord("u1", "default", "ann", "h", "viewer", T0))
    record = RefreshTokenRecord("r1", "fam", "u1", "default", "h", T0, T0 + timedelta(days=1))
    await store.add_refresh_token(record)
    await store.add_refresh_token(
        RefreshTokenRecord("r2", "fam", "u1", "default", "h", T0, T0 + timedelta(days=1))
    )
    seen = await asyncio.gather(*(store.use_refresh_token("r1", T0) for _ in range(5)))
    assert sum(1 for r in seen if r is not None and r.used_at is None) == 1
    await store.revoke_refresh_family("fam", T0)
    after = await store.use_refresh_token("r2", T0)
    assert after is not None
    assert after.revoked_at == T0
    assert await store.use_refresh_token("nope", T0) is None


def _key(kid: str, at: datetime) -> SigningKeyRecord:
    return SigningKeyRecord(kid, "ES256", b"sealed", b"wrapped", "kek", {"kid": kid}, at)


async def test_signing_keys_rotate_and_expire(store: EventStore) -> None:
    await store.add_signing_key(_key("k1", T0), retire_others_at=T0)
    await store.add_signing_key(
        _key("k2", T0 + timedelta(hours=1)), retire_others_at=T0 + timedelta(hours=1)
    )
    keys = {k.kid: k.retired_at for k in await store.signing_keys()}
    assert keys == {"k1": T0 + timedelta(hours=1), "k2": None}
    await store.delete_signing_keys(retired_before=T0 + timedelta(hours=2))
    assert [k.kid for k in await store.signing_keys()] == ["k2"]


def _secret(tenant: str, name: str, blob: bytes) -> SecretRecord:
    return SecretRecord(tenant, name, blob, b"wrapped", "kek-1", "AES-256-GCM", 0, T0, T0, "admin")


async def test_secrets_are_versioned_per_tenant(store: EventStore) -> None:
    for tenant in ("acme", "beta"):
        await store.create_tenant(tenant)
    first = await store.put_secret(_secret("acme", "DB", b"one"))
    second = await store.put_secret(_secret("acme", "DB", b"two"))
    assert (first.version, second.version) == (1, 2)
    assert (await store.get_secret("DB", tenant_id="acme")).ciphertext == b"two"
    with pytest.raises(NotFound):
        await store.get_secret("DB", tenant_id="beta")
    assert await store.list_secrets(tenant_id="beta") == []
    with pytest.raises(NotFound):
        await store.delete_secret("DB", tenant_id="beta")
    assert not await store.rewrap_secret(
        "DB", tenant_id="acme", version=1, wrapped_key=b"new", kek_id="kek-2"
    )
    assert await store.rewrap_secret(
        "DB", tenant_id="acme", version=2, wrapped_key=b"new", kek_id="kek-2"
    )
    assert [(s.name, s.kek_id) for s in await store.all_secrets()] == [("DB", "kek-2")]
    await store.delete_secret("DB", tenant_id="acme")
    assert await store.all_secrets() == []


async def test_the_audit_log_pages_newest_first_per_tenant(store: EventStore) -> None:
    entries = [
        AuditEntry("acme" if i % 2 else "beta", "ann", "run.start", f"run/{i}", "127.0.0.1")
        for i in range(7)
    ]
    await store.record_audit(entries)
    await store.record_audit(
        [
            AuditEntry(
                "acme", "ann", "workflow.publish", "workflow/w", before={"v": 1}, after={"v": 2}
            )
        ]
    )
    first = await store.list_audit(tenant_id="acme", limit=2)
    assert [r.entry.action for r in first] == ["workflow.publish", "run.start"]
    assert first[0].entry.after == {"v": 2}
    rest = await store.list_audit(tenant_id="acme", limit=10, before_id=first[-1].id)
    assert [r.entry.resource for r in rest] == ["run/3", "run/1"]
    assert all(r.entry.tenant_id == "acme" for r in first + rest)


async def test_a_bad_tenant_name_is_refused(store: EventStore) -> None:
    with pytest.raises(StoreError):
        await store.create_tenant("Bad Name; DROP")


async def test_a_watched_credential_is_told_of_its_changes(store: EventStore) -> None:
    """Revoked, given another role, disabled, deleted: each sets the watchers' event, at the
    commit (Postgres: a NOTIFY of migration 0022's triggers); another credential does not."""
    await store.create_api_token(_token("w1", "default"))
    await store.create_api_token(_token("w2", "default"))
    await store.create_user(UserRecord("wu", "default", "watched", "hash", "editor", T0))

    async def told(key: str, change: Callable[[], Awaitable[object]]) -> None:
        async with (
            store.watch_credential(key) as event,
            store.watch_credential(credential_key("token", "w2")) as other,
        ):
            await change()
            await asyncio.wait_for(event.wait(), 10)
            assert not other.is_set()

    await told(credential_key("token", "w1"), lambda: store.revoke_api_token(
        "w1", tenant_id="default", at=T0))  # fmt: skip
    user = credential_key("user", "wu")
    await told(user, lambda: store.update_user("wu", tenant_id="default", role="viewer"))
    await told(user, lambda: store.update_user("wu", tenant_id="default", disabled=True))
    await told(user, lambda: store.delete_user("wu", tenant_id="default"))
