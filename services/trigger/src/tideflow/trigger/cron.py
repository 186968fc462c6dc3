"""Cron triggers: each tick fires exactly once, however many replicas run.

Every replica looks for due rows every `cron_poll` and claims them with
`FOR UPDATE SKIP LOCKED`; in the claiming transaction it records the tick's runs (keyed by
the tick time, so even a second claim of the same tick finds the run already there) and
moves `next_fire_at` to the first tick after now. A row that was never scheduled (new, its
schedule changed, or resumed) gets its first tick after now, without firing.

`catchUp` decides what ticks missed while no replica ran become:
- `skip`: none. A due tick still fires when it is the only one due and is late by less
  than the grace (1 minute, 30 s with seconds): a slow poll is not downtime.
- `one`: the latest missed tick fires once.
- `all`: every missed tick fires, oldest first (at most `MAX_CATCH_UP`).

Every tick takes a token of its tenant's run-start limit. A tick that finds the bucket
empty is deferred, not dropped: the row stays due at that tick, so a later poll fires it
(still keyed by its tick time) once the bucket has refilled. A tick deferred past the
next one is a missed tick like any other, and `catchUp` decides; every deferral is
logged and counted (`tideflow_trigger_throttled_total{type="cron"}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tideflow.core import (
    MAX_CATCH_UP,
    CatchUp,
    CronTrigger,
    DefinitionError,
    ExpressionError,
    Scope,
    next_ticks,
    render,
    tick_grace,
    ticks_between,
)
from tideflow.trigger import metrics
from tideflow.trigger.starting import Definitions, prepare, publish, take_start

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import timedelta

    from tideflow.auth import TenantQuotas
    from tideflow.bus import Bus
    from tideflow.store import TriggeredRun, TriggerRecord, TriggerStore

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def ticks_to_fire(spec: CronTrigger, due: datetime, now: datetime) -> list[datetime]:
    """Which ticks in [due, now] fire under the trigger's catch-up policy."""
    missed = [due, *ticks_between(spec.schedule, spec.timezone, due, now, MAX_CATCH_UP - 1)]
    if spec.catch_up is CatchUp.ALL:
        return missed
    if spec.catch_up is CatchUp.ONE:
        return missed[-1:]
    on_time = len(missed) == 1 and now - due <= tick_grace(spec.schedule)
    return missed if on_time else []


class CronLoop:
    """Fires due cron ticks; one per process, any number of processes."""

    def __init__(
        self,
        *,
        store: TriggerStore,
        bus: Bus,
        definitions: Definitions,
        poll: timedelta,
        batch: int,
        outbox_claim: timedelta,
        clock: Callable[[], datetime] = utc_now,
        quotas: TenantQuotas | None = None,
    ) -> None:
        self._quotas = quotas
        self._store = store
        self._bus = bus
        self._definitions = definitions
        self._poll = poll.total_seconds()
        self._batch = batch
        self._outbox_claim = outbox_claim
        self._clock = clock

    async def fire_due(self) -> int:
        """One look at the due rows; the number of runs started."""
        now = self._clock()
        started = 0
        runs: list[TriggeredRun] = []
        async with self._store.claim_due_cron(
            now, self._batch, outbox_claimed_for=self._outbox_claim
        ) as claim:
            for trigger in claim.due:
                fired, following = await self._plan(trigger, now)
                claim.fire(trigger, fired, following)
                runs.extend(fired)
        await publish(self._store, self._bus, runs, claim.outcomes)
        for outcome in claim.outcomes:
            if outcome.created:
                started += 1
        metrics.STARTS.labels("cron").inc(started)
        metrics.DUPLICATES.labels("cron").inc(len(claim.outcomes) - started)
        return started

    async def _plan(
        self, trigger: TriggerRecord, now: datetime
    ) -> tuple[list[TriggeredRun], datetime | None]:
        """The runs a due row fires now and its next tick (None: nothing will ever fire)."""
        try:
            spec = CronTrigger.model_validate(trigger.spec)
            upcoming = next_ticks(spec.schedule, spec.timezone, now, 1)
        except ValueError:
            log.exception(
                "cron trigger %s/%s is not valid", trigger.workflow_id, trigger.trigger_id
            )
            return [], None
        following = upcoming[0] if upcoming else None
        if trigger.next_fire_at is None:
            return [], following  # first sight: schedule from now, fire nothing
        ticks = ticks_to_fire(spec, trigger.next_fire_at, now)
        missed = 1 + len(ticks_between(spec.schedule, spec.timezone, trigger.next_fire_at, now))
        if missed > len(ticks):
            metrics.CRON_TICKS.labels("skipped").inc(missed - len(ticks))
            log.warning(
                "cron trigger %s/%s skips %d missed tick(s) (catchUp: %s)",
                trigger.workflow_id, trigger.trigger_id, missed - len(ticks), spec.catch_up,
            )  # fmt: skip
        try:
            definition = await self._definitions.get(trigger)
        except DefinitionError:
            log.exception("workflow %s version %d no longer validates",
                          trigger.workflow_id, trigger.version)  # fmt: skip
            return [], following
        fired = []
        for tick in ticks:
            if await take_start(self._quotas, trigger) is not None:
                metrics.THROTTLED.labels("cron").inc()
                log.warning(
                    "cron trigger %s/%s: tick %s deferred, the tenant %s is over its "
                    "run-start limit", trigger.workflow_id, trigger.trigger_id,
                    tick.isoformat(), trigger.tenant_id,
                )  # fmt: skip
                following = tick  # stays due: a later poll fires it, keyed by its tick
                break
            stamp = tick.isoformat().replace("+00:00", "Z")
            context = {"tick": stamp, "trigger": {"id": trigger.trigger_id,
                                                  "workflow": trigger.workflow_id}}  # fmt: skip
            try:
                run_input = render(spec.input, context, Scope.CRON).value
            except ExpressionError:
                log.exception("cron trigger %s input failed at %s", trigger.trigger_id, stamp)
                run_input = None
            fired.append(
                prepare(
                    trigger,
                    definition,
                    run_input=run_input,
                    key=f"cron:{stamp}",
                    topic=self._bus.topics.runs,
                    now=now,
                )
            )
        metrics.CRON_TICKS.labels("fired").inc(len(fired))
        return fired, following

    async def run(self, stop: asyncio.Event) -> None:
        """Look every `poll` until `stop`; errors are logged and retried at the next look."""
        while not stop.is_set():
            try:
                await self.fire_due()
            except Exception:
                log.exception("firing cron triggers failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll)
