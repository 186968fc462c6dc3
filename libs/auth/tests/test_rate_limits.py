"""Token buckets: exact arithmetic in process, atomic across clients in a real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from tideflow.auth import InProcessRateLimiter, Limit, RedisRateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.unit
async def test_in_process_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock)
    limit = Limit(rate=2, burst=4)
    assert [(await limiter.acquire("t", limit)).allowed for _ in range(5)] == [True] * 4 + [False]
    refused = await limiter.acquire("t", limit)
    assert refused.retry_after == pytest.approx(0.5)
    assert refused.retry_after_seconds == 1
    clock.now += 0.5
    assert (await limiter.acquire("t", limit)).allowed
    assert not (await limiter.acquire("t", limit)).allowed
    clock.now += 100
    assert [(await limiter.acquire("t", limit)).allowed for _ in range(5)] == [True] * 4 + [False]


@pytest.mark.unit
async def test_one_key_never_drains_another() -> None:
    limiter = InProcessRateLimiter(FakeClock())
    limit = Limit(rate=1, burst=1)
    assert (await limiter.acquire("acme", limit)).allowed
    assert not (await limiter.acquire("acme", limit)).allowed
    assert (await limiter.acquire("beta", limit)).allowed


@pytest.fixture
async def redis(redis_url: str):
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.mark.integration
async def test_redis_bucket_is_atomic_under_concurrent_clients(
    redis: Redis, redis_url: str
) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    clients = [Redis.from_url(redis_url) for _ in range(4)]
    try:
        limiters = [RedisRateLimiter(c, prefix=prefix) for c in clients]
        limit = Limit(rate=0.001, burst=10)  # no refill within the test
        decisions = await asyncio.gather(
            *(limiters[i % 4].acquire("acme", limit) for i in range(60))
        )
        assert sum(d.allowed for d in decisions) == 10
        refused = [d for d in decisions if not d.allowed]
        assert all(d.retry_after > 0 for d in refused)
        assert (await limiters[0].acquire("beta", limit)).allowed
        ttl = await redis.pttl(prefix + "acme")
        assert ttl > 0
    finally:
        for c in clients:
            await c.aclose()


@pytest.mark.integration
async def test_redis_bucket_refills(redis: Redis) -> None:
    limiter = RedisRateLimiter(redis, prefix=f"test:{uuid.uuid4().hex}:")
    # 2 a second: at 50 a second a stall of 20 ms between the two takes (Redis's clock
    # runs on) refilled the token, and the second take was allowed
    limit = Limit(rate=2, burst=1)
    assert (await limiter.acquire("t", limit)).allowed
    refused = await limiter.acquire("t", limit)
    assert not refused.allowed
    assert 0 < refused.retry_after <= 0.5 + 1e-6
    deadline = asyncio.get_running_loop().time() + 30
    while not (await limiter.acquire("t", limit)).allowed:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
