"""Starting runs from triggers: resolve the version, build the run and its StartRun, send.

`prepare` turns (trigger, input, idempotency key) into the `runs` row and the outbox row
holding its StartRun; the store writes both in one transaction and answers with the run
the key already named when there is one. `publish` sends what a commit created right away
and drops the outbox rows; if that fails (or the process dies first) the scheduler's
outbox relay sends them. Either way the scheduler applies each StartRun once (its id is
`<run>:start`).
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tideflow.auth import Quota
from tideflow.bus import BusError, Outgoing, RawOutgoing, encode_outgoing
from tideflow.core import (
    BUILTIN_NODE_TYPES,
    NodeTypes,
    StartRun,
    WorkflowDefinition,
    ids,
    parse_definition,
)
from tideflow.store import OutboxMessage, RunRecord, StoreError, TriggeredRun
from tideflow.wire import command_envelope

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tideflow.auth import RateDecision, TenantQuotas
    from tideflow.bus import Bus
    from tideflow.store import StartOutcome, TriggerRecord, TriggerStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A run ready to record, with the definition it was checked against."""

    triggered: TriggeredRun
    definition: WorkflowDefinition


def idempotency_key(trigger: TriggerRecord, key: str) -> str:
    """The run's idempotency key: scoped by trigger, so two triggers never collide."""
    return f"trigger:{trigger.trigger_id}:{key}"


class Definitions:
    """Parsed published versions, kept per (tenant, workflow, version); versions never change."""

    def __init__(
        self, store: TriggerStore, capacity: int = 256, types: NodeTypes = BUILTIN_NODE_TYPES
    ) -> None:
        self._store = store
        self._types = types
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str, int], WorkflowDefinition] = OrderedDict()

    async def get(self, trigger: TriggerRecord) -> WorkflowDefinition:
        key = (trigger.tenant_id, trigger.workflow_id, trigger.version)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        raw = await self._store.get_definition(
            trigger.workflow_id, trigger.version, tenant_id=trigger.tenant_id
        )
        parsed = parse_definition(raw, self._types)
        self._entries[key] = parsed
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return parsed


async def take_start(quotas: TenantQuotas | None, trigger: TriggerRecord) -> RateDecision | None:
    """One token of the trigger's tenant's run-start limit (`runStartsPerSecond`), shared
    with the API's starts; None when it was taken (or no limit applies), else the refusal."""
    return await take_tenant_start(quotas, trigger.tenant_id)


async def take_tenant_start(quotas: TenantQuotas | None, tenant_id: str) -> RateDecision | None:
    """`take_start` for a tenant (a deferred start knows its tenant, not its trigger)."""
    if quotas is None:
        return None
    decision = await quotas.take(tenant_id, Quota.RUNS)
    return None if decision.allowed else decision


def prepare(
    trigger: TriggerRecord,
    definition: WorkflowDefinition,
    *,
    run_input: Any,
    key: str,
    topic: str,
    now: datetime | None = None,
) -> TriggeredRun:
    """The run row and StartRun outbox row for one trigger firing."""
    run_id = str(uuid.uuid4())
    command = StartRun(
        command_id=ids.start_command_id(run_id),
        run_id=run_id,
        workflow=trigger.workflow_id,
        version=trigger.version,
        definition=definition,
        input=run_input,
    )
    envelope = command_envelope(command, tenant_id=trigger.tenant_id)
    record = RunRecord(
        run_id=run_id,
        workflow_id=trigger.workflow_id,
        version=trigger.version,
        status="pending",
        tenant_id=trigger.tenant_id,
        input=run_input,
        idempotency_key=idempotency_key(trigger, key),
        started_at=now or datetime.now(UTC),
    )
    raw = encode_outgoing(Outgoing(topic, run_id, envelope))
    start = OutboxMessage(
        topic=raw.topic,
        payload=raw.value,
        key=raw.key,
        headers=raw.headers,
        tenant_id=trigger.tenant_id,
    )
    return TriggeredRun(run=record, start=start)


async def publish(
    store: TriggerStore,
    bus: Bus,
    runs: Sequence[TriggeredRun],
    outcomes: Sequence[StartOutcome],
) -> None:
    """Send the StartRun of every run the commit created (and did not defer), then drop
    their outbox rows."""
    by_run = {t.run.run_id: t.start for t in runs}
    await send(
        store,
        bus,
        [
            (o.outbox_id, by_run[o.run.run_id])
            for o in outcomes
            if o.created and o.outbox_id is not None and o.run.run_id in by_run
        ],
    )


async def send(
    store: TriggerStore, bus: Bus, messages: Sequence[tuple[int, OutboxMessage]]
) -> None:
    """Publish outbox rows this process holds, then delete them; on a failure the outbox
    relay sends them once the claim runs out."""
    if not messages:
        return
    try:
        await bus.publish_raw_batch(
            [RawOutgoing(m.topic, m.key, m.payload, m.headers) for _, m in messages]
        )
    except BusError:
        log.warning("publishing %d StartRun(s) failed; the outbox relay will", len(messages))
        return
    ids = [outbox_id for outbox_id, _ in messages]
    try:
        await store.delete_outbox(ids)
    except StoreError:
        log.warning("could not delete %d outbox row(s); relayed again later", len(ids))
