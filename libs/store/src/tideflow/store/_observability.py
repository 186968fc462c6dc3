"""The operational view of the store: backlogs the metrics and alerts watch, run traces.

Not tenant data: counts over the whole deployment (outbox rows not yet on Kafka, timers
set and overdue, runs not ended and runs nothing happened to for a while), read in the
platform scope by one sampler per scheduler replica every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime, timedelta

ACTIVE_RUN_STATUSES = ("pending", "running", "waiting")
"""Run statuses that are not terminal (the `runs_active` index covers exactly these)."""


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits to be done, deployment-wide, at one moment."""

    outbox_messages: int = 0
    outbox_oldest_seconds: float = 0.0
    timers_pending: int = 0
    timers_overdue: int = 0
    runs_active: dict[str, int] = field(default_factory=dict)
    """Runs not yet ended, by status (every status of ACTIVE_RUN_STATUSES is present)."""
    runs_idle: dict[str, int] = field(default_factory=dict)
    """Of those, the runs whose row has not changed for longer than `idle_after`."""


class Backlogs(Protocol):
    """Deployment-wide backlog counts for metrics (platform scope)."""

    async def backlog(self, *, now: datetime, idle_after: timedelta) -> Backlog:
        """Count the outbox, timers and unfinished runs as of `now`."""
        ...


class RunTraces(Protocol):
    """The trace each run belongs to (`runs.traceparent`), for commands that arrive
    without it (timers, signals, approvals): they are decided in the run's own trace."""

    async def run_traceparents(self, run_ids: Collection[str]) -> dict[str, str]:
        """The W3C `traceparent` of each of the runs that has one."""
        ...
