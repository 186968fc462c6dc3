"""Cron under a fake clock: two replicas fire every tick exactly once, and missed ticks are
caught up as each trigger's `catchUp` says."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tideflow.store import APP_ROLE, PostgresTriggerStore
from tideflow.trigger.cron import CronLoop
from tideflow.trigger.starting import Definitions

from .conftest import Stack, workflow

pytestmark = pytest.mark.integration

T0 = datetime(2031, 3, 4, 5, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def replicas(stack: Stack) -> AsyncIterator[tuple[FakeClock, list[CronLoop]]]:
    """Two trigger replicas, each with its own pool, sharing one (fake) clock."""
    clock = FakeClock(T0)
    stores = [await PostgresTriggerStore.connect(stack.dsn, role=APP_ROLE) for _ in range(2)]
    loops = [
        CronLoop(
            store=store,
            bus=stack.bus,
            definitions=Definitions(store),
            poll=timedelta(seconds=1),
            batch=100,
            outbox_claim=timedelta(seconds=30),
            clock=clock,
        )
        for store in stores
    ]
    yield clock, loops
    for store in stores:
        await store.close()


async def cron_keys(stack: Stack, workflow_id: str) -> Counter[str]:
    return Counter(str(r.idempotency_key) for r in await stack.runs_of(workflow_id))


def key(trigger: str, tick: datetime) -> str:
    return f"trigger:{trigger}:cron:{tick.isoformat().replace('+00:00', 'Z')}"


async def fire_everywhere(loops: list[CronLoop]) -> int:
    """Both replicas look at once, twice each (as overlapping polls would)."""
    started = await asyncio.gather(*(loop.fire_due() for loop in loops for _ in range(2)))
    return sum(started)


async def test_two_replicas_fire_each_tick_exactly_once(
    stack: Stack, replicas: tuple[FakeClock, list[CronLoop]]
) -> None:
    clock, loops = replicas
    await stack.publish(workflow("ticker", [
        {"id": "every", "type": "cron", "schedule": "*/10 * * * * *",
         "input": {"at": "{{ tick }}"}},
    ]))  # fmt: skip
    assert await fire_everywhere(loops) == 0  # first sight: scheduled from now, fires nothing
    listed = await stack.http.get("/workflows/ticker/triggers", params={"count": 3},
                                  headers=stack.auth)  # fmt: skip
    assert listed.json()["items"][0]["nextFireTimes"] == [
        "2031-03-04T05:00:10Z", "2031-03-04T05:00:20Z", "2031-03-04T05:00:30Z"
    ]  # fmt: skip

    ticks = [T0 + timedelta(seconds=10 * n) for n in range(1, 7)]
    for tick in ticks:
        clock.now = tick + timedelta(milliseconds=300)
        assert await fire_everywhere(loops) == 1
        assert await fire_everywhere(loops) == 0  # the same tick again: nothing
    assert await cron_keys(stack, "ticker") == Counter(key("every", t) for t in ticks)

    runs = await stack.runs_of("ticker")
    outputs = sorted(r.input["at"] for r in runs)
    assert outputs == [t.isoformat().replace("+00:00", "Z") for t in ticks]
    for run in runs:
        assert (await stack.wait_run(run.run_id)).status == "succeeded"


async def test_missed_ticks_are_caught_up_per_policy(
    stack: Stack, replicas: tuple[FakeClock, list[CronLoop]]
) -> None:
    clock, loops = replicas
    start = T0 + timedelta(hours=1)
    clock.now = start
    await stack.publish(workflow("catchup", [
        {"id": "skip", "type": "cron", "schedule": "* * * * *"},
        {"id": "one", "type": "cron", "schedule": "* * * * *", "catchUp": "one"},
        {"id": "all", "type": "cron", "schedule": "* * * * *", "catchUp": "all"},
        {"id": "berlin", "type": "cron", "schedule": "0 7 * * *", "timezone": "Europe/Berlin"},
    ]))  # fmt: skip
    assert await fire_everywhere(loops) == 0
    # downtime: nobody looks for 4.5 minutes (ticks at +1, +2, +3 and +4 are missed)
    clock.now = start + timedelta(minutes=4, seconds=30)
    assert await fire_everywhere(loops) == 5
    missed = [start + timedelta(minutes=m) for m in (1, 2, 3, 4)]
    expected = Counter([key("one", missed[-1]), *(key("all", t) for t in missed)])
    assert await cron_keys(stack, "catchup") == expected
    # back to normal: the next tick fires once for each
    clock.now = start + timedelta(minutes=5, seconds=1)
    assert await fire_everywhere(loops) == 3
    listed = await stack.http.get("/workflows/catchup/triggers", params={"count": 2},
                                  headers=stack.auth)  # fmt: skip
    berlin = next(t for t in listed.json()["items"] if t["id"] == "berlin")
    # 07:00 in Berlin is 06:00 UTC in March (CET) and 05:00 UTC from April (CEST)
    assert berlin["nextFireTimes"] == ["2031-03-05T06:00:00Z", "2031-03-06T06:00:00Z"]

    # a paused trigger fires nothing; resumed, it starts again from the next tick
    paused = await stack.http.post("/workflows/catchup/triggers/all/pause", headers=stack.auth)
    assert paused.json()["nextFireTimes"] == []
    clock.now = start + timedelta(minutes=8, seconds=1)
    assert await fire_everywhere(loops) == 1  # skip drops the missed ticks, one fires once
    await stack.http.post("/workflows/catchup/triggers/all/resume", headers=stack.auth)
    assert await fire_everywhere(loops) == 0  # scheduled afresh from now
    clock.now = start + timedelta(minutes=9, seconds=1)
    assert await fire_everywhere(loops) == 3
