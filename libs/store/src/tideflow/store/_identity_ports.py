"""The narrow ports of tenants and credentials, encrypted secrets and the audit log.

Every method that reads or writes one tenant's rows takes that tenant, and the Postgres
adapter runs it in a transaction scoped to it by row-level security. The few lookups that
cannot know the tenant yet — authenticating a token id, a username, a refresh token, the
signing keys — are platform-scoped by design: they find the credential, and the tenant
comes from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Sequence
    from contextlib import AbstractAsyncContextManager
    from datetime import datetime, timedelta

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
    from tideflow.store._refresh_rotation import RefreshRotation


class Identities(Protocol):
    """Tenants, API tokens, users, refresh-token families and JWT signing keys."""

    async def create_tenant(self, name: str) -> TenantRecord:
        """A new tenant, or `AlreadyExists`."""
        ...

    async def list_tenants(self) -> list[TenantRecord]: ...

    async def get_tenant(self, name: str) -> TenantRecord:
        """The tenant, or `NotFound`."""
        ...

    async def set_tenant_limits(
        self,
        name: str,
        *,
        run_starts_per_second: float | None,
        api_requests_per_second: float | None,
    ) -> TenantRecord: ...

    async def create_api_token(self, record: ApiTokenRecord) -> None: ...

    async def find_api_token(self, token_id: str) -> ApiTokenRecord | None:
        """Platform-scoped: authentication finds the token before it knows the tenant."""
        ...

    async def list_api_tokens(self, *, tenant_id: str | None) -> list[ApiTokenRecord]:
        """A tenant's tokens (None: every tenant's, for the platform admin)."""
        ...

    async def revoke_api_token(
        self, token_id: str, *, tenant_id: str | None, at: datetime
    ) -> ApiTokenRecord:
        """Revoke at once; `NotFound` if it is not the tenant's (None: any tenant)."""
        ...

    async def create_user(self, record: UserRecord) -> None:
        """`AlreadyExists` when the username is taken (usernames are global: login
        names no tenant)."""
        ...

    async def find_user_by_name(self, username: str) -> UserRecord | None:
        """Platform-scoped, for login and HTTP Basic."""
        ...

    async def find_user(self, user_id: str) -> UserRecord | None: ...

    async def list_users(self, *, tenant_id: str | None) -> list[UserRecord]: ...

    async def update_user(
        self,
        user_id: str,
        *,
        tenant_id: str | None,
        role: str | None = None,
        disabled: bool | None = None,
    ) -> UserRecord:
        """Change a user's role and/or disabled flag (None: unchanged); `NotFound` if the
        user is not the tenant's (None: any tenant)."""
        ...

    async def delete_user(self, user_id: str, *, tenant_id: str | None) -> UserRecord:
        """Delete a user and its refresh tokens in one transaction; `NotFound` if the user
        is not the tenant's (None: any tenant)."""
        ...

    def watch_credential(self, key: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """An event set when the credential `key` (`credential_key`: `token:<id>`,
        `user:<id>`) is revoked, deleted, disabled or given another role, or when a change
        may have been missed: for sessions that outlive a request. Register before reading."""
        ...

    async def add_refresh_token(self, record: RefreshTokenRecord) -> None: ...

    async def find_refresh_token(self, token_id: str) -> RefreshTokenRecord | None:
        """Platform-scoped, to check the presented secret before anything changes."""
        ...

    async def rotate_refresh_token(
        self,
        token_id: str,
        successor: RefreshTokenRecord,
        successor_sealed: bytes,
        *,
        at: datetime,
        reuse_grace: timedelta,
    ) -> RefreshRotation:
        """Present a refresh token, atomically (one at a time per token): `ROTATED` uses it
        up and stores `successor` as its one successor; `REPLAYED` (used again within
        `reuse_grace`) changes nothing and points at the stored successor; `REUSED` revokes
        the whole family; `REFUSED` (unknown, revoked, expired) changes nothing. The rule is
        `tideflow.store._refresh_rotation.decide`."""
        ...

    async def revoke_refresh_family(self, family_id: str, at: datetime) -> None:
        """Revoke every token of the family and drop their sealed successors."""
        ...

    async def signing_keys(self) -> list[SigningKeyRecord]: ...

    async def add_signing_key(
        self, record: SigningKeyRecord, *, retire_others_at: datetime
    ) -> None:
        """Store a new current key and retire every other live key at `retire_others_at`."""
        ...

    async def delete_signing_keys(self, *, retired_before: datetime) -> None: ...


class SecretStore(Protocol):
    """Sealed secret values per tenant; the store never sees plaintext."""

    async def put_secret(self, record: SecretRecord) -> SecretRecord:
        """Create or replace; the stored version is one more than the previous."""
        ...

    async def get_secret(self, name: str, *, tenant_id: str) -> SecretRecord:
        """The sealed secret, or `NotFound`."""
        ...

    async def list_secrets(self, *, tenant_id: str) -> list[SecretRecord]: ...

    async def delete_secret(self, name: str, *, tenant_id: str) -> None:
        """`NotFound` when the tenant has no such secret."""
        ...

    async def all_secrets(self) -> list[SecretRecord]:
        """Platform-scoped, for re-wrapping after a KEK rotation."""
        ...

    async def rewrap_secret(
        self, name: str, *, tenant_id: str, version: int, wrapped_key: bytes, kek_id: str
    ) -> bool:
        """Replace the wrapped data key if the secret is still at `version` (a concurrent
        put wins); True when replaced."""
        ...


class AuditLog(Protocol):
    """An append-only record of critical actions per tenant."""

    async def record_audit(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]: ...

    async def list_audit(
        self, *, tenant_id: str, limit: int = 50, before_id: int | None = None
    ) -> list[AuditRecord]:
        """Newest first; `before_id` continues a page."""
        ...
