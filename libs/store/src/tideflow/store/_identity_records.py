"""Rows of tenants, credentials, encrypted secrets and the audit log.

Roles travel as plain strings here: the store keeps what the auth layer decided and never
interprets it. Secret values never appear in these rows, only their sealed form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime  # noqa: TC003 - resolved at run time by pydantic users
from typing import Any

JSONObject = dict[str, Any]

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
"""What a tenant may be called (the `tenants` table checks the same)."""


@dataclass(frozen=True, slots=True)
class TenantRecord:
    name: str
    created_at: datetime
    run_starts_per_second: float | None = None
    api_requests_per_second: float | None = None


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    token_id: str
    tenant_id: str
    name: str
    role: str
    secret_hash: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    user_id: str
    tenant_id: str
    username: str
    password_hash: str
    role: str
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """One link of a refresh-token family; a login starts a family, each refresh extends it."""

    token_id: str
    family_id: str
    user_id: str
    tenant_id: str
    secret_hash: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    successor_id: str | None = None
    """Set with `used_at`: the one token this one was exchanged for."""
    successor_sealed: bytes | None = None
    """The successor's secret, sealed with a key derived from this token's own secret (which
    the store never holds): what a reuse within the grace window gets back."""


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """A JWT signing key: the private half sealed by the KEK provider, the public as a JWK."""

    kid: str
    algorithm: str
    private_key: bytes
    wrapped_key: bytes
    kek_id: str
    public_jwk: JSONObject
    created_at: datetime
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SecretRecord:
    tenant_id: str
    name: str
    ciphertext: bytes
    wrapped_key: bytes
    kek_id: str
    algorithm: str
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An action to record: who did what to which resource, from where."""

    tenant_id: str
    actor: str
    action: str
    resource: str
    source: str | None = None
    before: Any = None
    after: Any = None
    details: JSONObject | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    entry: AuditEntry
