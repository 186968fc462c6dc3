"""A standalone collab (`fanout: none`, one replica) needs no Redis: its HTTP Basic password
guesses are throttled in process unless `TIDEFLOW_SECURITY_RATE_LIMITER` says otherwise.
It used to default to Redis and answer every HTTP Basic request with a 500."""

from __future__ import annotations

import pytest

from tideflow.auth import (
    LOGIN_LIMIT,
    InProcessRateLimiter,
    RateLimited,
    RedisRateLimiter,
    check_password_rate,
)
from tideflow.collab.app import password_limiter
from tideflow.collab.settings import CollabSettings

pytestmark = pytest.mark.unit

NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens there


@pytest.fixture(autouse=True)
def _no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEFLOW_SECURITY_RATE_LIMITER", raising=False)
    monkeypatch.setenv("TIDEFLOW_REDIS_URL", NOWHERE)


async def test_one_replica_without_redis_throttles_in_process() -> None:
    limiter = password_limiter(CollabSettings(fanout="none"))
    assert isinstance(limiter, InProcessRateLimiter)
    for _ in range(int(LOGIN_LIMIT.burst)):
        await check_password_rate(limiter, "ada")  # no Redis asked
    with pytest.raises(RateLimited):
        await check_password_rate(limiter, "ada")


def test_replicas_on_redis_share_the_gateways_buckets() -> None:
    assert isinstance(password_limiter(CollabSettings(fanout="redis")), RedisRateLimiter)


@pytest.mark.parametrize("fanout", ["none", "redis"])
@pytest.mark.parametrize(("kind", "limiter"), [("redis", RedisRateLimiter),
                                               ("memory", InProcessRateLimiter)])  # fmt: skip
def test_the_setting_wins_when_set(
    monkeypatch: pytest.MonkeyPatch, fanout: str, kind: str, limiter: type
) -> None:
    monkeypatch.setenv("TIDEFLOW_SECURITY_RATE_LIMITER", kind)
    assert isinstance(password_limiter(CollabSettings(fanout=fanout)), limiter)
