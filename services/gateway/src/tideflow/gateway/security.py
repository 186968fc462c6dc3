"""The gateway's security wiring: key provider, keys, sessions, secrets, limits, audit.

Built once per app from `SecuritySettings` over the store's identity, secret and audit
ports. Rate limits are per tenant and per kind (`api`, `runs`), in `tideflow.auth`'s
`TenantQuotas`, shared with the approval and trigger services: one tenant's bucket is
never another's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tideflow.auth import (
    REQUEST_SOURCE,
    Authenticator,
    Envelope,
    KeyProvider,
    KeyRing,
    Principal,
    Quota,
    RateLimiter,
    Secrets,
    Sessions,
    TenantQuotas,
    check_password_rate,
    env_secrets,
    key_provider,
    rate_limiter,
    record_failed_login,
)
from tideflow.auth import RateLimited as QuotaExceeded
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.store import AuditEntry, AuditLog, Identities, SecretStore

if TYPE_CHECKING:
    from tideflow.gateway.settings import GatewaySettings
    from tideflow.settings import KeySettings, RateLimitSettings


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
class Security:
    authenticator: Authenticator
    keys: KeyRing
    sessions: Sessions
    secrets: Secrets
    limiter: RateLimiter
    limits: TenantQuotas
    identities: Identities
    audit_log: AuditLog

    async def check_rate(self, tenant_id: str, kind: str) -> None:
        """Take one token of the tenant's `kind` bucket (`api`, `runs`) or refuse with 429."""
        try:
            await self.limits.check(tenant_id, Quota(kind))
        except QuotaExceeded as e:
            what = "run-start" if e.quota is Quota.RUNS else "API request"
            raise RateLimited(f"tenant's {what}", e.retry_after) from None

    async def check_login_rate(self, username: str) -> None:
        """Password guessing is slowed per username (`tideflow.auth.LOGIN_LIMIT`), in the
        bucket HTTP Basic draws from too, across every replica."""
        try:
            await check_password_rate(self.limiter, username)
        except QuotaExceeded as e:
            raise RateLimited("login attempt", e.retry_after) from None

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
        entry = audit_entry(
            principal, action, resource, tenant_id=tenant_id, before=before, after=after,
            details=details,
        )  # fmt: skip
        await self.audit_log.record_audit([entry])

    async def failed_login(self, username: str) -> None:
        """Audit a wrong password (`POST /auth/login` or HTTP Basic) as `login.failed`, in
        the tenant of the user it named (`default` when there is no such user)."""
        await record_failed_login(self.identities, self.audit_log, username)


def audit_entry(
    principal: Principal,
    action: str,
    resource: str,
    *,
    tenant_id: str | None = None,
    before: object = None,
    after: object = None,
    details: dict[str, object] | None = None,
) -> AuditEntry:
    """What `Security.audit` records, for a change that commits it itself (a run start)."""
    return AuditEntry(
        tenant_id=tenant_id or principal.tenant_id,
        actor=principal.subject,
        action=action,
        resource=resource,
        source=REQUEST_SOURCE.get(),
        before=before,
        after=after,
        details=details,
    )


def tenant_quotas(sec: RateLimitSettings, redis_url: str, identities: Identities) -> TenantQuotas:
    """The tenants' limits as `TIDEFLOW_SECURITY_*` configures them; the approval and
    trigger services are given the same (the CLI wires them), so one tenant has one budget."""
    return TenantQuotas(
        identities,
        rate_limiter(sec.rate_limiter, redis_url),
        api_requests_per_second=sec.api_requests_per_second,
        run_starts_per_second=sec.run_starts_per_second,
    )


def build_security(
    settings: GatewaySettings,
    store: Identities,
    secret_store: SecretStore,
    audit_log: AuditLog,
    authenticator: Authenticator | None,
    *,
    quotas: TenantQuotas | None = None,
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
    limits = quotas or tenant_quotas(sec, settings.redis.url, store)
    sessions = Sessions(
        identities=store,
        authenticator=authenticator,
        keys=keys,
        refresh_ttl=sec.refresh_token_ttl,
        reuse_grace=sec.refresh_reuse_grace,
    )
    security = Security(
        authenticator=authenticator,
        keys=keys,
        sessions=sessions,
        secrets=Secrets(secret_store, envelope, env_fallback=env_secrets(os.environ)),
        limiter=limits.limiter,
        limits=limits,
        identities=store,
        audit_log=audit_log,
    )
    # Basic guesses count with the logins, and a wrong one is audited as `login.failed`
    authenticator.guard_passwords(limits.limiter, audit_log)
    return security
