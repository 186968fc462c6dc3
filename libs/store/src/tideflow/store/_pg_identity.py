"""Tenants, credentials, sealed secrets and the audit log on Postgres.

Tenant-owned reads and writes run scoped to their tenant (row-level security); the lookups
that find a credential before its tenant is known run in the platform scope.
"""

# The statements below splice only the constant column lists defined here; every value
# travels as a parameter.
# ruff: noqa: S608, S105

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

from tideflow.store._codecs import json_text
from tideflow.store._credential_changes import CREDENTIAL_CHANGED_CHANNEL
from tideflow.store._errors import AlreadyExists, NotFound, StoreError
from tideflow.store._identity_records import (
    ApiTokenRecord,
    AuditEntry,
    AuditRecord,
    RefreshTokenRecord,
    SecretRecord,
    SigningKeyRecord,
    TenantRecord,
    UserRecord,
)
from tideflow.store._keyed_events import KeyedEvents
from tideflow.store._pg_errors import translated
from tideflow.store._pg_notifications import PostgresNotifications
from tideflow.store._pg_scope import PLATFORM, scoped
from tideflow.store._pg_workflows import ScopedQueries
from tideflow.store._refresh_rotation import RefreshOutcome, RefreshRotation, decide

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Sequence
    from contextlib import AbstractAsyncContextManager
    from datetime import datetime, timedelta

_TENANT = "name, created_at, run_starts_per_second, api_requests_per_second"
_TOKEN = "token_id, tenant_id, name, role, secret_hash, created_by, created_at, revoked_at"
_USER = "user_id, tenant_id, username, password_hash, role, created_at, disabled"
_REFRESH = (
    "token_id, family_id, user_id, tenant_id, secret_hash, issued_at, expires_at, used_at,"
    " revoked_at, successor_id, successor_sealed"
)
_REFRESH_PARAMS = ", ".join(f"${i}" for i in range(1, _REFRESH.count(",") + 2))
_REVOKE_FAMILY = (
    "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, $2), successor_sealed = NULL "
    "WHERE family_id = $1 AND (revoked_at IS NULL OR successor_sealed IS NOT NULL)"
)
_KEY = "kid, algorithm, private_key, wrapped_key, kek_id, public_jwk, created_at, retired_at"
_SECRET = (
    "tenant_id, name, ciphertext, wrapped_key, kek_id, algorithm, version, created_at,"
    " updated_at, updated_by"
)
_AUDIT = "id, at, tenant_id, actor, action, resource, source, before, after, details"


def _tenant(row: asyncpg.Record) -> TenantRecord:
    return TenantRecord(**dict(row))


def _token(row: asyncpg.Record) -> ApiTokenRecord:
    return ApiTokenRecord(**dict(row))


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(**dict(row))


def _refresh(row: asyncpg.Record) -> RefreshTokenRecord:
    return RefreshTokenRecord(**dict(row))


def _key(row: asyncpg.Record) -> SigningKeyRecord:
    return SigningKeyRecord(**dict(row))


def _secret(row: asyncpg.Record) -> SecretRecord:
    return SecretRecord(**dict(row))


def _audit(row: asyncpg.Record) -> AuditRecord:
    values = dict(row)
    record_id, at = values.pop("id"), values.pop("at")
    return AuditRecord(record_id, at, AuditEntry(**values))


def _one(row: asyncpg.Record | None, what: str) -> asyncpg.Record:
    if row is None:
        raise NotFound(f"{what} not found")
    return row


class PostgresIdentities(ScopedQueries):
    """`Identities`, `SecretStore` and `AuditLog` over the store's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self._credential_changes = PostgresNotifications(
            pool, CREDENTIAL_CHANGED_CHANNEL, waiters=KeyedEvents()
        )

    def watch_credential(self, key: str) -> AbstractAsyncContextManager[asyncio.Event]:
        return self._credential_changes.watch(key)

    async def _stop_watching_credentials(self) -> None:
        await self._credential_changes.close()

    # -- tenants --------------------------------------------------------------------------

    async def create_tenant(self, name: str) -> TenantRecord:
        with translated(f"create tenant {name}"):
            try:
                row = await self._fetchrow(
                    PLATFORM, f"INSERT INTO tenants (name) VALUES ($1) RETURNING {_TENANT}", name
                )
            except asyncpg.CheckViolationError as e:
                raise StoreError(f"not a valid tenant name: {name!r}") from e
        return _tenant(_one(row, f"tenant {name}"))

    async def list_tenants(self) -> list[TenantRecord]:
        with translated("list tenants"):
            rows = await self._fetch(PLATFORM, f"SELECT {_TENANT} FROM tenants ORDER BY name")
        return [_tenant(r) for r in rows]

    async def get_tenant(self, name: str) -> TenantRecord:
        with translated("get tenant"):
            row = await self._fetchrow(
                PLATFORM, f"SELECT {_TENANT} FROM tenants WHERE name = $1", name
            )
        return _tenant(_one(row, f"tenant {name}"))

    async def set_tenant_limits(
        self,
        name: str,
        *,
        run_starts_per_second: float | None,
        api_requests_per_second: float | None,
    ) -> TenantRecord:
        with translated("set tenant limits"):
            row = await self._fetchrow(
                PLATFORM,
                "UPDATE tenants SET run_starts_per_second = $2, api_requests_per_second = $3 "
                f"WHERE name = $1 RETURNING {_TENANT}",
                name,
                run_starts_per_second,
                api_requests_per_second,
            )
        return _tenant(_one(row, f"tenant {name}"))

    # -- API tokens -----------------------------------------------------------------------

    async def create_api_token(self, record: ApiTokenRecord) -> None:
        with translated("create token"):
            await self._execute(
                record.tenant_id,
                f"INSERT INTO api_tokens ({_TOKEN}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                *_values(record, _TOKEN),
            )

    async def find_api_token(self, token_id: str) -> ApiTokenRecord | None:
        with translated("find token"):
            row = await self._fetchrow(
                PLATFORM, f"SELECT {_TOKEN} FROM api_tokens WHERE token_id = $1", token_id
            )
        return None if row is None else _token(row)

    async def list_api_tokens(self, *, tenant_id: str | None) -> list[ApiTokenRecord]:
        with translated("list tokens"):
            rows = await self._fetch(
                tenant_id, f"SELECT {_TOKEN} FROM api_tokens ORDER BY created_at, token_id"
            )
        return [_token(r) for r in rows]

    async def revoke_api_token(
        self, token_id: str, *, tenant_id: str | None, at: datetime
    ) -> ApiTokenRecord:
        with translated("revoke token"):
            row = await self._fetchrow(
                tenant_id,
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $2) "
                f"WHERE token_id = $1 RETURNING {_TOKEN}",
                token_id,
                at,
            )
        return _token(_one(row, f"token {token_id}"))

    # -- users ----------------------------------------------------------------------------

    async def create_user(self, record: UserRecord) -> None:
        with translated(f"create user {record.username}"):
            try:
                await self._execute(
                    record.tenant_id,
                    f"INSERT INTO users ({_USER}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    *_values(record, _USER),
                )
            except asyncpg.UniqueViolationError as e:
                raise AlreadyExists(f"user {record.username} already exists") from e

    async def find_user_by_name(self, username: str) -> UserRecord | None:
        with translated("find user"):
            row = await self._fetchrow(
                PLATFORM, f"SELECT {_USER} FROM users WHERE username = $1", username
            )
        return None if row is None else _user(row)

    async def find_user(self, user_id: str) -> UserRecord | None:
        with translated("find user"):
            row = await self._fetchrow(
                PLATFORM, f"SELECT {_USER} FROM users WHERE user_id = $1", user_id
            )
        return None if row is None else _user(row)

    async def list_users(self, *, tenant_id: str | None) -> list[UserRecord]:
        with translated("list users"):
            rows = await self._fetch(tenant_id, f"SELECT {_USER} FROM users ORDER BY username")
        return [_user(r) for r in rows]

    async def update_user(
        self,
        user_id: str,
        *,
        tenant_id: str | None,
        role: str | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        with translated("update user"):
            row = await self._fetchrow(
                tenant_id,
                "UPDATE users SET role = coalesce($2, role), disabled = coalesce($3, disabled) "
                f"WHERE user_id = $1 RETURNING {_USER}",
                user_id,
                role,
                disabled,
            )
        return _user(_one(row, f"user {user_id}"))

    async def delete_user(self, user_id: str, *, tenant_id: str | None) -> UserRecord:
        # The refresh tokens go first (they reference the user), in the same transaction:
        # a failure leaves the user and every session as they were.
        with translated("delete user"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(
                    f"SELECT {_USER} FROM users WHERE user_id = $1 FOR UPDATE", user_id
                )
                if row is not None:
                    await connection.execute(
                        "DELETE FROM refresh_tokens WHERE user_id = $1", user_id
                    )
                    await connection.execute("DELETE FROM users WHERE user_id = $1", user_id)
        return _user(_one(row, f"user {user_id}"))

    # -- refresh tokens -------------------------------------------------------------------

    async def add_refresh_token(self, record: RefreshTokenRecord) -> None:
        with translated("add refresh token"):
            await self._execute(
                record.tenant_id,
                f"INSERT INTO refresh_tokens ({_REFRESH}) VALUES ({_REFRESH_PARAMS})",
                *_values(record, _REFRESH),
            )

    async def find_refresh_token(self, token_id: str) -> RefreshTokenRecord | None:
        with translated("find refresh token"):
            row = await self._fetchrow(
                PLATFORM, f"SELECT {_REFRESH} FROM refresh_tokens WHERE token_id = $1", token_id
            )
        return None if row is None else _refresh(row)

    async def rotate_refresh_token(
        self,
        token_id: str,
        successor: RefreshTokenRecord,
        successor_sealed: bytes,
        *,
        at: datetime,
        reuse_grace: timedelta,
    ) -> RefreshRotation:
        # The row lock serialises every presentation of one token: the first rotates, the
        # others wait and then see it used. The successor is read without a lock (its own
        # rotation locks only itself), so the lock order is always parent before child.
        with translated("rotate refresh token"):
            async with scoped(self._pool, PLATFORM) as connection:
                row = await connection.fetchrow(
                    f"SELECT {_REFRESH} FROM refresh_tokens WHERE token_id = $1 FOR UPDATE",
                    token_id,
                )
                token = None if row is None else _refresh(row)
                stored = None
                if token is not None and token.successor_id is not None:
                    child = await connection.fetchrow(
                        f"SELECT {_REFRESH} FROM refresh_tokens WHERE token_id = $1",
                        token.successor_id,
                    )
                    stored = None if child is None else _refresh(child)
                outcome = decide(token, stored, at=at, reuse_grace=reuse_grace)
                if token is not None and outcome is RefreshOutcome.ROTATED:
                    await connection.execute(
                        "UPDATE refresh_tokens SET used_at = $2, successor_id = $3, "
                        "successor_sealed = $4 WHERE token_id = $1",
                        token_id,
                        at,
                        successor.token_id,
                        successor_sealed,
                    )
                    await connection.execute(
                        f"INSERT INTO refresh_tokens ({_REFRESH}) VALUES ({_REFRESH_PARAMS})",
                        *_values(successor, _REFRESH),
                    )
                elif token is not None and outcome is RefreshOutcome.REUSED:
                    await connection.execute(_REVOKE_FAMILY, token.family_id, at)
        return RefreshRotation(outcome, token)

    async def revoke_refresh_family(self, family_id: str, at: datetime) -> None:
        with translated("revoke refresh family"):
            await self._execute(PLATFORM, _REVOKE_FAMILY, family_id, at)

    # -- signing keys ---------------------------------------------------------------------

    async def signing_keys(self) -> list[SigningKeyRecord]:
        with translated("signing keys"):
            rows = await self._fetch(
                PLATFORM, f"SELECT {_KEY} FROM signing_keys ORDER BY created_at"
            )
        return [_key(r) for r in rows]

    async def add_signing_key(
        self, record: SigningKeyRecord, *, retire_others_at: datetime
    ) -> None:
        with translated("add signing key"):
            async with scoped(self._pool, PLATFORM) as connection:
                await connection.execute(
                    "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL",
                    retire_others_at,
                )
                await connection.execute(
                    f"INSERT INTO signing_keys ({_KEY}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    *_values(record, _KEY),
                )

    async def delete_signing_keys(self, *, retired_before: datetime) -> None:
        with translated("delete signing keys"):
            await self._execute(
                PLATFORM, "DELETE FROM signing_keys WHERE retired_at < $1", retired_before
            )

    # -- secrets --------------------------------------------------------------------------

    async def put_secret(self, record: SecretRecord) -> SecretRecord:
        with translated(f"put secret {record.name}"):
            row = await self._fetchrow(
                record.tenant_id,
                "INSERT INTO secrets (tenant_id, name, ciphertext, wrapped_key, kek_id, "
                "algorithm, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (tenant_id, name) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, "
                "wrapped_key = EXCLUDED.wrapped_key, kek_id = EXCLUDED.kek_id, "
                "algorithm = EXCLUDED.algorithm, updated_by = EXCLUDED.updated_by, "
                "version = secrets.version + 1, updated_at = now() "
                f"RETURNING {_SECRET}",
                record.tenant_id,
                record.name,
                record.ciphertext,
                record.wrapped_key,
                record.kek_id,
                record.algorithm,
                record.updated_by,
            )
        return _secret(_one(row, f"secret {record.name}"))

    async def get_secret(self, name: str, *, tenant_id: str) -> SecretRecord:
        with translated("get secret"):
            row = await self._fetchrow(
                tenant_id, f"SELECT {_SECRET} FROM secrets WHERE name = $1", name
            )
        return _secret(_one(row, f"secret {name}"))

    async def list_secrets(self, *, tenant_id: str) -> list[SecretRecord]:
        with translated("list secrets"):
            rows = await self._fetch(tenant_id, f"SELECT {_SECRET} FROM secrets ORDER BY name")
        return [_secret(r) for r in rows]

    async def delete_secret(self, name: str, *, tenant_id: str) -> None:
        with translated("delete secret"):
            status = await self._execute(tenant_id, "DELETE FROM secrets WHERE name = $1", name)
        if status == "DELETE 0":
            raise NotFound(f"secret {name} not found")

    async def all_secrets(self) -> list[SecretRecord]:
        with translated("all secrets"):
            rows = await self._fetch(
                PLATFORM, f"SELECT {_SECRET} FROM secrets ORDER BY tenant_id, name"
            )
        return [_secret(r) for r in rows]

    async def rewrap_secret(
        self, name: str, *, tenant_id: str, version: int, wrapped_key: bytes, kek_id: str
    ) -> bool:
        with translated("rewrap secret"):
            status = await self._execute(
                tenant_id,
                "UPDATE secrets SET wrapped_key = $3, kek_id = $4 WHERE name = $1 AND version = $2",
                name,
                version,
                wrapped_key,
                kek_id,
            )
        return status == "UPDATE 1"

    # -- audit ----------------------------------------------------------------------------

    async def record_audit(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        if not entries:
            return []
        tenants = {e.tenant_id for e in entries}
        scope = next(iter(tenants)) if len(tenants) == 1 else PLATFORM
        with translated("record audit"):
            rows = await self._fetch(
                scope, f"{INSERT_AUDIT} RETURNING {_AUDIT}", *audit_columns(entries)
            )
        return sorted((_audit(r) for r in rows), key=lambda r: r.id)

    async def list_audit(
        self, *, tenant_id: str, limit: int = 50, before_id: int | None = None
    ) -> list[AuditRecord]:
        with translated("list audit"):
            rows = await self._fetch(
                tenant_id,
                f"SELECT {_AUDIT} FROM audit_log WHERE ($1::bigint IS NULL OR id < $1) "
                "ORDER BY id DESC LIMIT $2",
                before_id,
                limit,
            )
        return [_audit(r) for r in rows]


def _values(record: Any, columns: str) -> list[Any]:
    return [getattr(record, c.strip()) for c in columns.split(",")]


INSERT_AUDIT = (
    "INSERT INTO audit_log (tenant_id, actor, action, resource, source, before, "
    "after, details) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
    "$4::text[], $5::text[], $6::text[]::jsonb[], $7::text[]::jsonb[], "
    "$8::text[]::jsonb[])"
)


def audit_columns(entries: Sequence[AuditEntry]) -> list[list[Any]]:
    """The eight parallel arrays `INSERT_AUDIT` takes (the JSON ones as text: a value may
    be a JSON list)."""
    names = ("tenant_id", "actor", "action", "resource", "source")
    return [
        *([getattr(e, c) for e in entries] for c in names),
        [json_text(e.before) for e in entries],
        [json_text(e.after) for e in entries],
        [json_text(e.details) for e in entries],
    ]
