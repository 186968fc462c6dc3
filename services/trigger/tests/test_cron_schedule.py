"""Cron arithmetic: fields, seconds, time zones across DST, and the catch-up policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tideflow.core import CatchUp, CronTrigger, next_ticks, parse_schedule, ticks_between
from tideflow.trigger.cron import ticks_to_fire

pytestmark = pytest.mark.unit


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_five_fields_and_a_leading_seconds_field() -> None:
    assert parse_schedule("*/5 * * * *") == ("*/5 * * * *", False)
    assert parse_schedule("*/10  * * * * *") == ("*/10 * * * * *", True)
    assert next_ticks("*/10 * * * * *", "UTC", utc(2026, 1, 1, 0, 0, 3), 3) == [
        utc(2026, 1, 1, 0, 0, 10), utc(2026, 1, 1, 0, 0, 20), utc(2026, 1, 1, 0, 0, 30)
    ]  # fmt: skip
    for bad in ("* * * *", "* * * * * * *", "61 * * * *", "* 25 * * *", "nonsense"):
        with pytest.raises(ValueError, match="schedule"):
            parse_schedule(bad)


def test_time_zone_and_dst_spring_forward_and_fall_back() -> None:
    # 02:30 Berlin does not exist on 2026-03-29: it fires at the first instant after it
    spring = next_ticks("30 2 * * *", "Europe/Berlin", utc(2026, 3, 27, 12), 3)
    assert spring == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]
    # 02:30 happens twice on 2026-10-25: a daily job fires once
    autumn = next_ticks("30 2 * * *", "Europe/Berlin", utc(2026, 10, 23, 12), 3)
    assert autumn == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    # an hourly job counts real hours: the repeated hour fires twice
    hourly = next_ticks("0 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 30), 4)
    assert hourly == [utc(2026, 10, 25, h) for h in (0, 1, 2, 3)]


def test_ticks_between_is_exclusive_then_inclusive() -> None:
    ticks = ticks_between("* * * * *", "UTC", utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 3))
    assert ticks == [utc(2026, 1, 1, 0, m) for m in (1, 2, 3)]


def spec(catch_up: CatchUp) -> CronTrigger:
    return CronTrigger(id="t", type="cron", schedule="* * * * *", catch_up=catch_up)


@pytest.mark.parametrize(
    ("catch_up", "late", "expected"),
    [
        (CatchUp.SKIP, timedelta(seconds=5), [0]),  # on time (a slow poll) fires
        (CatchUp.SKIP, timedelta(minutes=4, seconds=30), []),  # missed ticks are dropped
        (CatchUp.ONE, timedelta(minutes=4, seconds=30), [4]),  # the latest missed one
        (CatchUp.ALL, timedelta(minutes=4, seconds=30), [0, 1, 2, 3, 4]),  # every one
        (CatchUp.ALL, timedelta(seconds=5), [0]),
    ],
)
def test_catch_up_policies(catch_up: CatchUp, late: timedelta, expected: list[int]) -> None:
    due = utc(2026, 1, 1, 0, 0)
    fired = ticks_to_fire(spec(catch_up), due, due + late)
    assert fired == [due + timedelta(minutes=m) for m in expected]
