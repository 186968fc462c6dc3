"""`spec.triggers`: what starts runs besides the API (webhooks, cron schedules, bus events).

Triggers are not nodes: they are registered when a version is published and start runs of
the workflow's latest published version. Their templates read what the trigger received:
a webhook's `body`, `headers` and `query`; an event's `message`, `key`, `topic`,
`partition`, `offset` and `headers`; a cron tick's `tick` (ISO time) and `trigger`.

Cron schedules are 5-field expressions or 6 with a leading seconds field, evaluated in the
trigger's time zone. Around DST changes a wall-clock time that does not exist fires at
the first instant after it; a wall-clock time that occurs twice fires once, unless the
hour field is a wildcard or step (`*`, `*/2`), which counts real hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

TRIGGER_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
"""Trigger ids appear in URLs (`/hooks/{workflow}/{id}`), so they are kept URL-safe."""

SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # noqa: S105 - a pattern
TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"
MAX_CATCH_UP = 1000
"""`catchUp: all` fires at most this many missed ticks of one trigger at once."""


class WebhookScheme(StrEnum):
    """How a webhook's signature is made: ours, or what GitHub and Stripe send."""

    TIDEFLOW = "tideflow"
    GITHUB = "github"
    STRIPE = "stripe"


class CatchUp(StrEnum):
    """What a cron trigger does with ticks missed while no trigger service ran."""

    SKIP = "skip"
    """Drop them and fire again at the next tick (a lone tick late by less than the grace,
    a slow poll rather than downtime, still fires)."""
    ONE = "one"
    """Fire once for the latest missed tick."""
    ALL = "all"
    """Fire every missed tick, oldest first (at most MAX_CATCH_UP)."""


class _Trigger(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )

    id: str = Field(pattern=TRIGGER_ID_PATTERN)
    description: str | None = None


class WebhookTrigger(_Trigger):
    """`POST /hooks/{workflow}/{id}`, signed with the secret named `secret`."""

    type: Literal["webhook"]
    secret: str = Field(pattern=SECRET_NAME_PATTERN)
    scheme: WebhookScheme = WebhookScheme.TIDEFLOW
    input: Any = None
    idempotency_key: str | None = None


class CronTrigger(_Trigger):
    """A schedule in a time zone."""

    type: Literal["cron"]
    schedule: str
    timezone: str = "UTC"
    input: Any = None
    catch_up: CatchUp = CatchUp.SKIP

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        zone(value)
        return value


class EventTrigger(_Trigger):
    """Every message on `topic` that passes `filter` (CEL) starts a run."""

    type: Literal["event"]
    topic: str = Field(pattern=TOPIC_PATTERN)
    filter: str | None = None
    input: Any = None
    key: str | None = None


Trigger = Annotated[WebhookTrigger | CronTrigger | EventTrigger, Field(discriminator="type")]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def parse_schedule(expression: str) -> tuple[str, bool]:
    """`(expression, has_seconds)`; ValueError naming the problem when it is not a schedule."""
    fields = expression.split()
    if len(fields) not in {5, 6}:
        raise ValueError(
            f"schedule {expression!r} must have 5 fields (minute hour day month weekday) "
            f"or 6 with a leading seconds field, not {len(fields)}"
        )
    has_seconds = len(fields) == 6  # noqa: PLR2004 - the seconds form
    normal = " ".join(fields)
    if not croniter.is_valid(normal, second_at_beginning=has_seconds):
        raise ValueError(f"schedule {expression!r} is not a valid cron expression")
    return normal, has_seconds


def ticks_between(
    schedule: str, timezone: str, after: datetime, until: datetime, limit: int = MAX_CATCH_UP
) -> list[datetime]:
    """Fire times t with after < t <= until (at most `limit`, oldest first), in UTC."""
    out: list[datetime] = []
    for tick in _iterate(schedule, timezone, after):
        if tick > until or len(out) >= limit:
            break
        out.append(tick)
    return out


def next_ticks(schedule: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after`, in UTC."""
    out: list[datetime] = []
    if count <= 0:
        return out
    for tick in _iterate(schedule, timezone, after):
        out.append(tick)
        if len(out) >= count:
            break
    return out


def _iterate(schedule: str, timezone: str, after: datetime) -> Any:
    expression, has_seconds = parse_schedule(schedule)
    tz = zone(timezone)
    counts_real_hours = expression.split()[2 if has_seconds else 1].startswith("*")
    try:
        iterator = croniter(
            expression, after.astimezone(tz), ret_type=datetime, second_at_beginning=has_seconds
        )
    except CroniterError as exc:  # pragma: no cover - parse_schedule checked it
        raise ValueError(str(exc)) from exc
    previous_wall: datetime | None = None
    while True:
        local: datetime = iterator.get_next(datetime)
        wall = local.replace(tzinfo=None)
        if wall == previous_wall and not counts_real_hours:
            continue  # the same wall-clock time again, in the hour DST repeats
        previous_wall = wall
        utc = local.astimezone(ZoneInfo("UTC"))
        if utc <= after:
            continue
        yield utc


def tick_grace(schedule: str) -> timedelta:
    """How late a tick may be and still count as on time for `catchUp: skip`."""
    _, has_seconds = parse_schedule(schedule)
    return timedelta(seconds=30) if has_seconds else timedelta(minutes=1)
