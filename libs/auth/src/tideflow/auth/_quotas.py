"""Per-tenant quotas: the API request and run-start limits every service enforces alike.

The gateway, the approval service and the trigger service all take their tokens from the
same buckets (`<tenant>:api`, `<tenant>:runs`): in Redis for a fleet, so a tenant's limit
is one budget across every replica of every service, in process under `tide dev`. A
tenant's own limits (`PUT /tenants/{name}/limits`) win over the deployment's defaults;
they are cached for a few seconds so checking a limit costs no database round trip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from tideflow.auth._errors import AuthError
from tideflow.auth._ratelimit import (
    InProcessRateLimiter,
    Limit,
    RateDecision,
    RateLimiter,
    RedisRateLimiter,
)
from tideflow.store import NotFound

if TYPE_CHECKING:
    from tideflow.auth._roles import Principal
    from tideflow.store import Identities, TenantRecord

LIMITS_TTL_SECONDS = 5.0


class Quota(StrEnum):
    API = "api"
    """Authenticated API requests, on every service."""
    RUNS = "runs"
    """Run starts, from every path: the API, webhooks, cron and event triggers."""


_WHAT = {Quota.API: "tenant's API request", Quota.RUNS: "tenant's run-start"}


LOGIN_LIMIT = Limit(rate=0.2, burst=10.0)
"""Password guesses per username: a burst of 10, then one every 5 s."""


class RateLimited(AuthError):  # noqa: N818 - reads as the error code
    """A bucket is empty (a tenant's, or a username's password guesses): 429 `RATE_LIMITED`
    with `Retry-After`; `quota` is None for password guesses."""

    def __init__(self, quota: Quota | None, retry_after: int) -> None:
        what = "login attempt" if quota is None else _WHAT[quota]
        super().__init__(f"the {what} limit is exhausted; retry after {retry_after} s")
        self.quota = quota
        self.retry_after = retry_after
        self.details = {"retryAfter": retry_after}


def rate_limiter(kind: str, redis_url: str) -> RateLimiter:
    """`redis`: buckets shared by every replica and service; `memory`: this process."""
    if kind == "redis":
        from redis.asyncio import Redis  # noqa: PLC0415 - only the fleet setup needs it

        return RedisRateLimiter(Redis.from_url(redis_url))
    return InProcessRateLimiter()


@dataclass(slots=True)
class TenantQuotas:
    """The tenants' limits over one limiter; `put` makes a change visible at once here."""

    identities: Identities
    limiter: RateLimiter
    api_requests_per_second: float | None = None
    """The default for tenants without their own limit (None: unlimited)."""
    run_starts_per_second: float | None = None
    _cache: dict[str, tuple[float, TenantRecord | None]] = field(default_factory=dict)

    async def tenant(self, tenant_id: str) -> TenantRecord | None:
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

    async def rate(self, tenant_id: str, quota: Quota) -> float | None:
        record = await self.tenant(tenant_id)
        if quota is Quota.RUNS:
            own = record.run_starts_per_second if record else None
            return own or self.run_starts_per_second
        own = record.api_requests_per_second if record else None
        return own or self.api_requests_per_second

    async def take(self, tenant_id: str, quota: Quota) -> RateDecision:
        """One token of the tenant's bucket, or how long until there is one."""
        rate = await self.rate(tenant_id, quota)
        if rate is None:
            return RateDecision(allowed=True)
        return await self.limiter.acquire(f"{tenant_id}:{quota.value}", Limit.per_second(rate))

    async def check(self, tenant_id: str, quota: Quota) -> None:
        """Take one token or raise `RateLimited`."""
        decision = await self.take(tenant_id, quota)
        if not decision.allowed:
            raise RateLimited(quota, decision.retry_after_seconds)

    async def gate(self, principal: Principal) -> None:
        """`app.state.request_gate` of a service: the caller's tenant API limit."""
        await self.check(principal.tenant_id, Quota.API)


def _guesses(username: str) -> str:
    return f"login:{username.lower()}"


async def check_password_rate(limiter: RateLimiter, username: str) -> None:
    """Take one password guess of `username` (`POST /auth/login` and HTTP Basic share the
    bucket, on every replica with Redis), or raise `RateLimited`."""
    decision = await limiter.acquire(_guesses(username), LOGIN_LIMIT)
    if not decision.allowed:
        raise RateLimited(None, decision.retry_after_seconds)


async def return_password_guess(limiter: RateLimiter, username: str) -> None:
    """Give back the guess a right password took: a service account that sends its password
    with every request (HTTP Basic) is not guessing, and must not be slowed to one request
    every 5 s; only wrong passwords empty the bucket (and an empty one refuses all)."""
    await limiter.acquire(_guesses(username), LOGIN_LIMIT, cost=-1.0)
