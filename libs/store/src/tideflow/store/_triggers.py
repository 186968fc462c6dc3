"""The trigger port: registrations of published triggers, cron claims, idempotent starts.

Registrations are written by the publishing transaction itself (`sync_triggers`), so a
trigger exists exactly while the latest published version of a live workflow declares it.
Starting a run from a trigger writes the `runs` row and its StartRun outbox row in one
transaction keyed by an idempotency key (delivery id, cron tick, topic/partition/offset):
the same key always answers with the same run. An event-trigger start over its tenant's
run-start limit is `deferred`: the run and its StartRun wait in `trigger_deferred_starts`
(keyed the same way) until the trigger service has the tenant's token for it, and then one
transaction records the run and its outbox row (`claim_deferred`, `release_deferred`). Cron ticks
are claimed row by row with `FOR UPDATE SKIP LOCKED`, and the claim advances
`next_fire_at` in the transaction that records the tick's runs, so each tick fires once
however many replicas look at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime  # noqa: TC003 - dataclass fields
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from tideflow.store._records import DEFAULT_TENANT, JSONObject, OutboxMessage, RunRecord

if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractAsyncContextManager
    from datetime import timedelta


class TriggerType(StrEnum):
    WEBHOOK = "webhook"
    CRON = "cron"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """One registered trigger: its spec as published, and its schedule state."""

    workflow_id: str
    trigger_id: str
    type: TriggerType
    version: int
    spec: JSONObject
    tenant_id: str = DEFAULT_TENANT
    topic: str | None = None
    paused: bool = False
    next_fire_at: datetime | None = None
    last_fired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TriggeredRun:
    """A run to record (status `pending`, with an idempotency key) and its StartRun."""

    run: RunRecord
    start: OutboxMessage
    deferred: bool = False
    """Over the tenant's run-start limit: park the run and its StartRun until a token is
    taken for it (`release_deferred` records it then)."""


@dataclass(frozen=True, slots=True)
class StartOutcome:
    """The run an idempotency key names, and whether this call created it; `deferred`: not
    recorded yet, parked until its tenant's token (`run` is what it will be)."""

    run: RunRecord
    created: bool
    outbox_id: int | None = None
    deferred: bool = False


@dataclass(frozen=True, slots=True)
class ReleasedStart:
    """A deferred StartRun moved to the outbox: send it, then delete outbox row `outbox_id`."""

    outbox_id: int
    message: OutboxMessage


@dataclass
class CronClaim:
    """Due cron rows held by this transaction; record what they fire with `fire`."""

    due: list[TriggerRecord]
    fired: list[tuple[TriggerRecord, list[TriggeredRun], datetime | None]] = field(
        default_factory=list
    )
    outcomes: list[StartOutcome] = field(default_factory=list)
    """Filled when the claim commits."""

    def fire(
        self, trigger: TriggerRecord, runs: list[TriggeredRun], next_fire_at: datetime | None
    ) -> None:
        """Start `runs` for `trigger` and move its schedule to `next_fire_at`."""
        self.fired.append((trigger, runs, next_fire_at))


class TriggerStore(Protocol):
    """Persistence of trigger registrations and trigger-started runs."""

    async def get_trigger(
        self, workflow_id: str, trigger_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> TriggerRecord:
        """A registered trigger, or `NotFound`."""
        ...

    async def list_triggers(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> list[TriggerRecord]:
        """The workflow's registered triggers, by id; `NotFound` without such a workflow."""
        ...

    async def get_definition(
        self, workflow_id: str, version: int, *, tenant_id: str = DEFAULT_TENANT
    ) -> JSONObject:
        """The definition of a published version, or `NotFound`."""
        ...

    async def event_triggers(self) -> list[TriggerRecord]:
        """Every registered event trigger of every tenant (the subscriptions to hold)."""
        ...

    async def set_paused(
        self, workflow_id: str, trigger_id: str, paused: bool, *, tenant_id: str = DEFAULT_TENANT
    ) -> TriggerRecord:
        """Pause or resume a trigger (a resumed cron restarts from the next tick)."""
        ...

    async def start_runs(
        self, runs: Sequence[TriggeredRun], *, outbox_claimed_for: timedelta | None = None
    ) -> list[StartOutcome]:
        """Record runs not yet known by their idempotency keys, with their StartRun rows."""
        ...

    async def find_started(
        self, workflow_id: str, idempotency_key: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> RunRecord | None:
        """The run a trigger already started under this idempotency key, if any."""
        ...

    def claim_due_cron(
        self, now: datetime, limit: int, *, outbox_claimed_for: timedelta | None = None
    ) -> AbstractAsyncContextManager[CronClaim]:
        """Lock cron rows due at `now` (or never scheduled) that no replica holds."""
        ...

    async def delete_outbox(self, ids: Sequence[int]) -> None:
        """Forget outbox rows Kafka has acknowledged."""
        ...

    async def deferred_tenants(self) -> list[str]:
        """The tenants with deferred starts that no replica holds and whose wait is over."""
        ...

    async def claim_deferred(self, tenant_id: str, limit: int, claim_for: timedelta) -> list[int]:
        """Hold the tenant's oldest free deferred starts for `claim_for`; their ids, oldest
        first (rows another replica holds are skipped)."""
        ...

    async def release_deferred(
        self,
        start: Sequence[int],
        hold: Sequence[int],
        *,
        hold_for: timedelta,
        outbox_claimed_for: timedelta | None = None,
    ) -> list[ReleasedStart]:
        """In one transaction: record the runs of the deferred starts `start` with their
        StartRuns in the outbox (claimed by the caller for `outbox_claimed_for`; a run its
        key already names is left as it is, nothing sent) and leave `hold` untouched for
        `hold_for`; the outbox rows to send."""
        ...
