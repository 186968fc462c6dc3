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
    CommitBatch,
    EventStore,
    NotFound,
    RefreshOutcome,
    RefreshRotation,
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
    assert await store.find_refresh_token("r1") is None  # its sessions went with it
    with pytest.raises(NotFound):
        await store.delete_user("u1", tenant_id=None)
    # the name is free again, for a user with another id
    await store.create_user(UserRecord("u2", "acme", "ann", "h", "viewer", T0))


GRACE = timedelta(seconds=10)


def _refresh(token_id: str, family: str = "fam") -> RefreshTokenRecord:
    return RefreshTokenRecord(token_id, family, "u1", "default", "h", T0, T0 + timedelta(days=1))


async def _present(
    store: EventStore, token_id: str, successor: str, *, at: datetime, grace: timedelta = GRACE
) -> RefreshRotation:
    return await store.rotate_refresh_token(
        token_id, _refresh(successor), f"sealed-{successor}".encode(), at=at, reuse_grace=grace
    )


async def _found(store: EventStore, token_id: str) -> RefreshTokenRecord:
    found = await store.find_refresh_token(token_id)
    assert found is not None, token_id
    return found


async def test_a_used_refresh_token_presented_within_the_grace_gets_its_successor_again(
    store: EventStore,
) -> None:
    await store.create_user(UserRecord("u1", "default", "ann", "h", "viewer", T0))
    await store.add_refresh_token(_refresh("r1"))
    first = await _present(store, "r1", "r2", at=T0)
    assert first.outcome is RefreshOutcome.ROTATED
    assert first.token is not None
    assert first.token.used_at is None  # as it was before
    used = await _found(store, "r1")
    assert (used.used_at, used.successor_id, used.successor_sealed) == (T0, "r2", b"sealed-r2")
    assert (await _found(store, "r2")).used_at is None
    # the page reloaded before the answer arrived: the same token again, 9 s later
    again = await _present(store, "r1", "r3", at=T0 + timedelta(seconds=9))
    assert again.outcome is RefreshOutcome.REPLAYED
    assert again.token == used  # points at r2, the one live successor; r3 is never stored
    assert await store.find_refresh_token("r3") is None
    assert (await _found(store, "r2")).revoked_at is None
    # the window counts from the first use: replays do not extend it
    late = await _present(store, "r1", "r4", at=T0 + GRACE)
    assert late.outcome is RefreshOutcome.REUSED
    for token_id in ("r1", "r2"):
        revoked = await _found(store, token_id)
        assert (revoked.revoked_at, revoked.successor_sealed) == (T0 + GRACE, None)
    assert await store.find_refresh_token("r4") is None
    # a revoked family refuses its every token and changes nothing more
    assert (await _present(store, "r2", "r5", at=T0)).outcome is RefreshOutcome.REFUSED
    assert (await _present(store, "nope", "r6", at=T0)).outcome is RefreshOutcome.REFUSED
    assert (await _present(store, "r1", "r7", at=T0)).token == await _found(store, "r1")


async def test_a_replay_after_the_successor_was_used_is_a_theft(store: EventStore) -> None:
    await store.create_user(UserRecord("u1", "default", "ann", "h", "viewer", T0))
    await store.add_refresh_token(_refresh("r1"))
    await store.add_refresh_token(_refresh("other", family="fam2"))
    assert (await _present(store, "r1", "r2", at=T0)).outcome is RefreshOutcome.ROTATED
    assert (await _present(store, "r2", "r3", at=T0)).outcome is RefreshOutcome.ROTATED
    # within the window, but the chain moved on: someone else holds the live end
    stolen = await _present(store, "r1", "r4", at=T0 + timedelta(seconds=1))
    assert stolen.outcome is RefreshOutcome.REUSED
    assert all([(await _found(store, t)).revoked_at for t in ("r1", "r2", "r3")])
    assert (await _found(store, "other")).revoked_at is None  # another family is untouched


async def test_without_a_grace_any_reuse_revokes_and_expiry_refuses(store: EventStore) -> None:
    await store.create_user(UserRecord("u1", "default", "ann", "h", "viewer", T0))
    await store.add_refresh_token(_refresh("r1"))
    await store.add_refresh_token(_refresh("old", family="fam2"))
    expired = await _present(store, "old", "x", at=T0 + timedelta(days=1))
    assert expired.outcome is RefreshOutcome.REFUSED
    assert (await _found(store, "old")).used_at is None
    assert (await _present(store, "r1", "r2", at=T0, grace=timedelta(0))).outcome is (
        RefreshOutcome.ROTATED
    )
    reused = await _present(store, "r1", "r3", at=T0, grace=timedelta(0))
    assert reused.outcome is RefreshOutcome.REUSED
    assert (await _found(store, "r2")).revoked_at == T0


async def test_concurrent_presentations_of_one_refresh_token_never_branch(
    store: EventStore,
) -> None:
    await store.create_user(UserRecord("u1", "default", "ann", "h", "viewer", T0))
    await store.add_refresh_token(_refresh("r1"))
    await store.add_refresh_token(_refresh("q1", family="fam2"))
    racers = range(6)
    seen = await asyncio.gather(*(_present(store, "r1", f"s{i}", at=T0) for i in racers))
    outcomes = sorted(r.outcome for r in seen)
    assert outcomes == [RefreshOutcome.REPLAYED] * 5 + [RefreshOutcome.ROTATED]
    winner = next(f"s{i}" for i, r in zip(racers, seen, strict=True) if r.outcome == "rotated")
    # every loser is pointed at the winner's successor, and only that one was stored
    assert {r.token.successor_id for r in seen if r.token and r.token.used_at} == {winner}
    stored = [await store.find_refresh_token(f"s{i}") for i in racers]
    assert [s.token_id for s in stored if s is not None] == [winner]
    # with no grace the same race is a reuse: the family goes, exactly once
    seen = await asyncio.gather(
        *(_present(store, "q1", f"t{i}", at=T0, grace=timedelta(0)) for i in racers)
    )
    assert sorted(r.outcome for r in seen) == sorted(
        [RefreshOutcome.ROTATED, RefreshOutcome.REUSED] + [RefreshOutcome.REFUSED] * 4
    )
    assert (await _found(store, "q1")).revoked_at == T0
    await store.revoke_refresh_family("fam", T0)
    assert (await _found(store, winner)).revoked_at == T0


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


async def test_audit_values_may_be_any_json(store: EventStore) -> None:
    """A changed list (roles, queues) is recorded as it was, alone or in a batch's commit."""
    before, after = ["viewer"], ["editor", "approver"]
    await store.record_audit([AuditEntry("acme", "ann", "user.update", "user/u", None,
                                         before, after, {"fields": ["roles"]})])  # fmt: skip
    await store.commit_batch(
        CommitBatch(audit=[AuditEntry("acme", "ann", "x.update", "x/1", None, [[1], []], "s")])
    )
    recorded = await store.list_audit(tenant_id="acme", limit=10)
    changes = [(r.entry.before, r.entry.after) for r in recorded]
    assert changes == [([[1], []], "s"), (before, after)]
    assert recorded[1].entry.details == {"fields": ["roles"]}


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
