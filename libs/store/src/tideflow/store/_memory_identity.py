"""Tenants, credentials, secrets and audit in memory: the twin of `_pg_identity`.

Each method changes state without awaiting in the middle, so each is atomic on the event
loop, as a transaction is in Postgres.
"""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tideflow.store._credential_changes import credential_key
from tideflow.store._errors import AlreadyExists, NotFound, StoreError
from tideflow.store._identity_records import (
    TENANT_NAME,
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
from tideflow.store._records import DEFAULT_TENANT
from tideflow.store._refresh_rotation import RefreshOutcome, RefreshRotation, decide

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncIterator, Sequence


class InMemoryIdentities:
    """`Identities`, `SecretStore` and `AuditLog` in dicts."""

    def __init__(self) -> None:
        self._tenants: dict[str, TenantRecord] = {
            DEFAULT_TENANT: TenantRecord(DEFAULT_TENANT, datetime.now(UTC))
        }
        self._tokens: dict[str, ApiTokenRecord] = {}
        self._users: dict[str, UserRecord] = {}
        self._refresh: dict[str, RefreshTokenRecord] = {}
        self._keys: dict[str, SigningKeyRecord] = {}
        self._secrets: dict[tuple[str, str], SecretRecord] = {}
        self._audit: list[AuditRecord] = []
        self._audit_ids = itertools.count(1)
        self._credential_watchers = KeyedEvents()

    # -- tenants --------------------------------------------------------------------------

    async def create_tenant(self, name: str) -> TenantRecord:
        if not TENANT_NAME.fullmatch(name):
            raise StoreError(f"not a valid tenant name: {name!r}")
        if name in self._tenants:
            raise AlreadyExists(f"tenant {name} already exists")
        record = TenantRecord(name, datetime.now(UTC))
        self._tenants[name] = record
        return record

    async def list_tenants(self) -> list[TenantRecord]:
        return sorted(self._tenants.values(), key=lambda t: t.name)

    async def get_tenant(self, name: str) -> TenantRecord:
        try:
            return self._tenants[name]
        except KeyError:
            raise NotFound(f"tenant {name} not found") from None

    async def set_tenant_limits(
        self,
        name: str,
        *,
        run_starts_per_second: float | None,
        api_requests_per_second: float | None,
    ) -> TenantRecord:
        record = replace(
            await self.get_tenant(name),
            run_starts_per_second=run_starts_per_second,
            api_requests_per_second=api_requests_per_second,
        )
        self._tenants[name] = record
        return record

    # -- API tokens -----------------------------------------------------------------------

    async def create_api_token(self, record: ApiTokenRecord) -> None:
        if record.token_id in self._tokens:
            raise AlreadyExists(f"token {record.token_id} already exists")
        self._tokens[record.token_id] = record

    async def find_api_token(self, token_id: str) -> ApiTokenRecord | None:
        return self._tokens.get(token_id)

    async def list_api_tokens(self, *, tenant_id: str | None) -> list[ApiTokenRecord]:
        found = [t for t in self._tokens.values() if tenant_id in {None, t.tenant_id}]
        return sorted(found, key=lambda t: (t.created_at, t.token_id))

    async def revoke_api_token(
        self, token_id: str, *, tenant_id: str | None, at: datetime
    ) -> ApiTokenRecord:
        record = self._tokens.get(token_id)
        if record is None or tenant_id not in {None, record.tenant_id}:
            raise NotFound(f"token {token_id} not found")
        if record.revoked_at is None:
            record = replace(record, revoked_at=at)
            self._tokens[token_id] = record
        self._credential_watchers.notify(credential_key("token", token_id))
        return record

    # -- users ----------------------------------------------------------------------------

    async def create_user(self, record: UserRecord) -> None:
        if any(u.username == record.username for u in self._users.values()):
            raise AlreadyExists(f"user {record.username} already exists")
        self._users[record.user_id] = record

    async def find_user_by_name(self, username: str) -> UserRecord | None:
        return next((u for u in self._users.values() if u.username == username), None)

    async def find_user(self, user_id: str) -> UserRecord | None:
        return self._users.get(user_id)

    async def list_users(self, *, tenant_id: str | None) -> list[UserRecord]:
        found = [u for u in self._users.values() if tenant_id in {None, u.tenant_id}]
        return sorted(found, key=lambda u: u.username)

    def _user_of(self, user_id: str, tenant_id: str | None) -> UserRecord:
        record = self._users.get(user_id)
        if record is None or tenant_id not in {None, record.tenant_id}:
            raise NotFound(f"user {user_id} not found")
        return record

    async def update_user(
        self,
        user_id: str,
        *,
        tenant_id: str | None,
        role: str | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        record = self._user_of(user_id, tenant_id)
        record = replace(
            record,
            role=record.role if role is None else role,
            disabled=record.disabled if disabled is None else disabled,
        )
        self._users[user_id] = record
        self._credential_watchers.notify(credential_key("user", user_id))
        return record

    async def delete_user(self, user_id: str, *, tenant_id: str | None) -> UserRecord:
        record = self._user_of(user_id, tenant_id)
        del self._users[user_id]
        for token_id, token in list(self._refresh.items()):
            if token.user_id == user_id:
                del self._refresh[token_id]
        self._credential_watchers.notify(credential_key("user", user_id))
        return record

    @asynccontextmanager
    async def watch_credential(self, key: str) -> AsyncIterator[asyncio.Event]:
        with self._credential_watchers.register(key) as event:
            yield event

    # -- refresh tokens -------------------------------------------------------------------

    async def add_refresh_token(self, record: RefreshTokenRecord) -> None:
        self._refresh[record.token_id] = record

    async def find_refresh_token(self, token_id: str) -> RefreshTokenRecord | None:
        return self._refresh.get(token_id)

    async def rotate_refresh_token(
        self,
        token_id: str,
        successor: RefreshTokenRecord,
        successor_sealed: bytes,
        *,
        at: datetime,
        reuse_grace: timedelta,
    ) -> RefreshRotation:
        token = self._refresh.get(token_id)
        stored = self._refresh.get(token.successor_id or "") if token else None
        outcome = decide(token, stored, at=at, reuse_grace=reuse_grace)
        if token is not None and outcome is RefreshOutcome.ROTATED:
            self._refresh[token_id] = replace(
                token,
                used_at=at,
                successor_id=successor.token_id,
                successor_sealed=successor_sealed,
            )
            self._refresh[successor.token_id] = successor
        elif token is not None and outcome is RefreshOutcome.REUSED:
            self._revoke_family(token.family_id, at)
        return RefreshRotation(outcome, token)

    async def revoke_refresh_family(self, family_id: str, at: datetime) -> None:
        self._revoke_family(family_id, at)

    def _revoke_family(self, family_id: str, at: datetime) -> None:
        for token_id, record in list(self._refresh.items()):
            if record.family_id == family_id:
                self._refresh[token_id] = replace(
                    record, revoked_at=record.revoked_at or at, successor_sealed=None
                )

    # -- signing keys ---------------------------------------------------------------------

    async def signing_keys(self) -> list[SigningKeyRecord]:
        return sorted(self._keys.values(), key=lambda k: k.created_at)

    async def add_signing_key(
        self, record: SigningKeyRecord, *, retire_others_at: datetime
    ) -> None:
        for kid, key in list(self._keys.items()):
            if key.retired_at is None:
                self._keys[kid] = replace(key, retired_at=retire_others_at)
        self._keys[record.kid] = record

    async def delete_signing_keys(self, *, retired_before: datetime) -> None:
        for kid, key in list(self._keys.items()):
            if key.retired_at is not None and key.retired_at < retired_before:
                del self._keys[kid]

    # -- secrets --------------------------------------------------------------------------

    async def put_secret(self, record: SecretRecord) -> SecretRecord:
        key = (record.tenant_id, record.name)
        previous = self._secrets.get(key)
        now = datetime.now(UTC)
        stored = replace(
            record,
            version=1 if previous is None else previous.version + 1,
            created_at=now if previous is None else previous.created_at,
            updated_at=now,
        )
        self._secrets[key] = stored
        return stored

    async def get_secret(self, name: str, *, tenant_id: str) -> SecretRecord:
        try:
            return self._secrets[tenant_id, name]
        except KeyError:
            raise NotFound(f"secret {name} not found") from None

    async def list_secrets(self, *, tenant_id: str) -> list[SecretRecord]:
        return sorted(
            (s for s in self._secrets.values() if s.tenant_id == tenant_id), key=lambda s: s.name
        )

    async def delete_secret(self, name: str, *, tenant_id: str) -> None:
        if self._secrets.pop((tenant_id, name), None) is None:
            raise NotFound(f"secret {name} not found")

    async def all_secrets(self) -> list[SecretRecord]:
        return sorted(self._secrets.values(), key=lambda s: (s.tenant_id, s.name))

    async def rewrap_secret(
        self, name: str, *, tenant_id: str, version: int, wrapped_key: bytes, kek_id: str
    ) -> bool:
        record = self._secrets.get((tenant_id, name))
        if record is None or record.version != version:
            return False
        self._secrets[tenant_id, name] = replace(record, wrapped_key=wrapped_key, kek_id=kek_id)
        return True

    # -- audit ----------------------------------------------------------------------------

    async def record_audit(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        now = datetime.now(UTC)
        records = [AuditRecord(next(self._audit_ids), now, entry) for entry in entries]
        self._audit.extend(records)
        return records

    async def list_audit(
        self, *, tenant_id: str, limit: int = 50, before_id: int | None = None
    ) -> list[AuditRecord]:
        found = [
            r
            for r in reversed(self._audit)
            if r.entry.tenant_id == tenant_id and (before_id is None or r.id < before_id)
        ]
        return found[:limit]
