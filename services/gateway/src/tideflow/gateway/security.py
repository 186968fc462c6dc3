"""The gateway's security wiring: key provider, keys, sessions, secrets, limits, audit.

Built once per app from `SecuritySettings` over the store's identity, secret and audit
ports. Rate limits are per tenant and per kind (`api`, `runs`): one tenant's bucket is
never another's. A tenant's own limits (`PUT /tenants/{name}/limits`) win over the
defaults from settings; they are cached for a few seconds so checking a limit costs no
database round trip.
"""

from __future__ import annotations

import os
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tideflow.auth import (
    Authenticator,
    Envelope,
    InProcessRateLimiter,
    KeyProvider,
    KeyRing,
    Limit,
    Principal,
    RateLimiter,
    RedisRateLimiter,
    Secrets,
    Sessions,
    env_secrets,
    key_provider,
)
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.store import AuditEntry, AuditLog, Identities, NotFound, SecretStore, TenantRecord

if TYPE_CHECKING:
    from tideflow.gateway.settings import GatewaySettings, SecuritySettings
    from tideflow.settings import KeySettings

LIMITS_TTL_SECONDS = 5.0
LOGIN_RATE = 0.2
LOGIN_BURST = 10.0

REQUEST_SOURCE: ContextVar[str | None] = ContextVar("tideflow_request_source", default=None)
"""The calling address, set by the principal dependency, for the audit log's `source`."""


def provider_of(settings: KeySettings) -> KeyProvider:
    return key_provider(
        key_file=settings.key_file,
        kms_key_id=settings.kms_key_id,
        kms_region=settings.kms_region,
        kms_endpoint=settings.kms_endpoint,
    )


def stored_secrets(settings: KeySettings, store: SecretStore) -> Secrets:
    """The secret service over `store` with the configured key provider (the executor's
    `SecretSource` too: the CLI wires it there)."""
    return Secrets(store, Envelope(provider_of(settings)), env_fallback=env_secrets(os.environ))


class RateLimited(ApiError):  # noqa: N818 - reads as the error code
    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(
            429,
            ErrorCode.RATE_LIMITED,
            f"the {what} limit is exhausted; retry after {retry_after} s",
            {"retryAfter": retry_after},
        )
        self.retry_after = retry_after


@dataclass(slots=True)
class TenantLimits:
    """Tenant limits with a short cache; `put` makes a change visible at once here."""

    identities: Identities
    defaults: SecuritySettings
    _cache: dict[str, tuple[float, TenantRecord | None]] = field(default_factory=dict)

    async def get(self, tenant_id: str) -> TenantRecord | None:
        now = time.monotonic()
        cached = self._cache.get(tenant_id)
        if cached is not None and now - cached[0] < LIMITS_TTL_SECONDS:
            return cached[1]
        try:
            record: TenantRecord | None = await self.identities.get_tenant(tenant_id)
        except NotFound:
            record = None
        self._cache[tenant_id] = (now, record)
        return record

    def put(self, record: TenantRecord) -> None:
        self._cache[record.name] = (time.monotonic(), record)

    async def rate(self, tenant_id: str, kind: str) -> float | None:
        record = await self.get(tenant_id)
        if kind == "runs":
            own = record.run_starts_per_second if record else None
            return own or self.defaults.run_starts_per_second
        own = record.api_requests_per_second if record else None
        return own or self.defaults.api_requests_per_second


@dataclass(slots=True)
class Security:
    authenticator: Authenticator
    keys: KeyRing
    sessions: Sessions
    secrets: Secrets
    limiter: RateLimiter
    limits: TenantLimits
    identities: Identities
    audit_log: AuditLog

    async def check_rate(self, tenant_id: str, kind: str) -> None:
        """Take one token of the tenant's `kind` bucket or refuse with 429."""
        rate = await self.limits.rate(tenant_id, kind)
        if rate is None:
            return
        decision = await self.limiter.acquire(f"{tenant_id}:{kind}", Limit.per_second(rate))
        if not decision.allowed:
            what = "run-start" if kind == "runs" else "API request"
            raise RateLimited(f"tenant's {what}", decision.retry_after_seconds)

    async def check_login_rate(self, username: str) -> None:
        """Password guessing is slowed per username: a burst of `LOGIN_BURST` attempts,
        then one every `1 / LOGIN_RATE` seconds, across every gateway replica."""
        limit = Limit(rate=LOGIN_RATE, burst=LOGIN_BURST)
        decision = await self.limiter.acquire(f"login:{username.lower()}", limit)
        if not decision.allowed:
            raise RateLimited("login attempt", decision.retry_after_seconds)

    async def audit(
        self,
        principal: Principal,
        action: str,
        resource: str,
        *,
        tenant_id: str | None = None,
        before: object = None,
        after: object = None,
        details: dict[str, object] | None = None,
    ) -> None:
        await self.audit_log.record_audit(
            [
                AuditEntry(
                    tenant_id=tenant_id or principal.tenant_id,
                    actor=principal.subject,
                    action=action,
                    resource=resource,
                    source=REQUEST_SOURCE.get(),
                    before=before,
                    after=after,
                    details=details,
                )
            ]
        )


def build_security(
    settings: GatewaySettings,
    store: Identities,
    secret_store: SecretStore,
    audit_log: AuditLog,
    authenticator: Authenticator | None,
) -> Security:
    sec = settings.security
    envelope = Envelope(provider_of(sec))
    keys = KeyRing(
        store,
        envelope,
        access_ttl=sec.access_token_ttl,
        rotate_every=sec.signing_key_rotation,
    )
    if authenticator is None:
        admin = settings.admin_token
        authenticator = Authenticator(
            admin_token=admin.get_secret_value() if admin else None,
            identities=store,
            keys=keys,
        )
    else:
        authenticator.identities = authenticator.identities or store
        authenticator.keys = authenticator.keys or keys
    limiter: RateLimiter
    if sec.rate_limiter == "redis":
        from redis.asyncio import Redis  # noqa: PLC0415 - only the fleet setup needs it

        limiter = RedisRateLimiter(Redis.from_url(settings.redis.url))
    else:
        limiter = InProcessRateLimiter()
    sessions = Sessions(
        identities=store,
        authenticator=authenticator,
        keys=keys,
        refresh_ttl=sec.refresh_token_ttl,
    )
    return Security(
        authenticator=authenticator,
        keys=keys,
        sessions=sessions,
        secrets=Secrets(secret_store, envelope, env_fallback=env_secrets(os.environ)),
        limiter=limiter,
        limits=TenantLimits(store, sec),
        identities=store,
        audit_log=audit_log,
    )
