"""Per-tenant rate limits as token buckets: in Redis for a fleet, in process for `tide dev`.

A bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one
or waits `retry_after` seconds. The Redis bucket is one Lua script, so read-refill-take is
atomic across every gateway replica, and it uses the server's clock (`TIME`), so replicas
with skewed clocks agree. Each (tenant, kind) has its own key: one tenant's traffic never
drains another's bucket.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float
    """Tokens added per second (the sustained rate)."""
    burst: float
    """Bucket size: how many requests may arrive at once after a quiet period."""

    @classmethod
    def per_second(cls, rate: float) -> Limit:
        """A bucket that allows one second's worth of requests at once (at least one)."""
        return cls(rate=rate, burst=max(1.0, rate))


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: float = 0.0

    @property
    def retry_after_seconds(self) -> int:
        """For the `Retry-After` header: whole seconds, at least 1."""
        return max(1, math.ceil(self.retry_after))


class RateLimiter(Protocol):
    async def acquire(self, key: str, limit: Limit, cost: float = 1.0) -> RateDecision: ...


class InProcessRateLimiter:
    """Buckets in a dict: exact for one process (`tide dev`), atomic on the event loop."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, key: str, limit: Limit, cost: float = 1.0) -> RateDecision:
        now = self._clock()
        tokens, at = self._buckets.get(key, (limit.burst, now))
        tokens = min(limit.burst, tokens + max(0.0, now - at) * limit.rate)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return RateDecision(allowed=True)
        self._buckets[key] = (tokens, now)
        return RateDecision(allowed=False, retry_after=(cost - tokens) / limit.rate)


_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
    tokens = burst
    at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local retry = 0
if tokens >= cost then
    tokens = tokens - cost
    allowed = 1
else
    retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(retry)}
"""


class RedisRateLimiter:
    """Buckets in Redis, one hash per key, updated by one atomic Lua script."""

    def __init__(self, redis: Redis, *, prefix: str = "tideflow:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_LUA)

    async def acquire(self, key: str, limit: Limit, cost: float = 1.0) -> RateDecision:
        allowed, retry = await self._script(
            keys=[self._prefix + key], args=[repr(limit.rate), repr(limit.burst), repr(cost)]
        )
        retry_after = float(retry.decode() if isinstance(retry, bytes) else retry)
        return RateDecision(allowed=bool(int(allowed)), retry_after=retry_after)
