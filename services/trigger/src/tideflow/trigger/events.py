"""Event triggers: a message on a subscribed topic starts a run of every trigger it matches.

Messages are what other systems publish: JSON (anything else is given to templates as
text). Each event trigger of the topic evaluates its `filter` (CEL over `message`, `key`,
`topic`, `partition`, `offset`, `headers`); a match starts a run whose input is the
message (or the `input` template) and whose idempotency key is the `key` template, else
the message's topic/partition/offset. Delivery is at-least-once (offsets are committed
after the runs are recorded), and the key makes it exactly one run per message.

Every run takes a token of its tenant's run-start limit first. When the bucket is empty
the batch waits for it (back-pressure: the messages stay uncommitted, nothing is dropped),
logged and counted (`tideflow_trigger_throttled_total{type="event"}`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tideflow.core import (
    DefinitionError,
    EventTrigger,
    ExpressionError,
    Scope,
    evaluate_expression,
    render,
)
from tideflow.store import StoreError, TriggeredRun
from tideflow.trigger import metrics
from tideflow.trigger.starting import Definitions, prepare, publish, take_start

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from tideflow.auth import TenantQuotas
    from tideflow.bus import Bus
    from tideflow.store import StartOutcome, TriggerRecord, TriggerStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message of a user topic, with its coordinates."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Subscriptions:
    """The event triggers per topic, refreshed from the registrations."""

    by_topic: dict[str, list[TriggerRecord]] = field(default_factory=dict)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self.by_topic)


def decode_value(value: bytes) -> Any:
    """JSON when it is JSON, else UTF-8 text, else None (templates see `message == null`)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def context_of(message: Incoming, trigger: TriggerRecord) -> dict[str, Any]:
    return {
        "message": decode_value(message.value),
        "key": message.key.decode("utf-8", "replace") if message.key is not None else None,
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "headers": {k: v.decode("utf-8", "replace") for k, v in message.headers},
        "trigger": {"id": trigger.trigger_id, "workflow": trigger.workflow_id},
    }


class EventTriggers:
    """Turns messages into runs; shared by the Kafka and the in-process sources."""

    def __init__(
        self,
        *,
        store: TriggerStore,
        bus: Bus,
        definitions: Definitions,
        outbox_claim: timedelta,
        quotas: TenantQuotas | None = None,
    ) -> None:
        self._quotas = quotas
        self._store = store
        self._bus = bus
        self._definitions = definitions
        self._outbox_claim = outbox_claim
        self.subscriptions = Subscriptions()

    async def refresh(self) -> frozenset[str]:
        """Reload the registrations; the topics to subscribe to."""
        by_topic: dict[str, list[TriggerRecord]] = {}
        for trigger in await self._store.event_triggers():
            if trigger.topic and not trigger.paused:
                by_topic.setdefault(trigger.topic, []).append(trigger)
        self.subscriptions = Subscriptions(by_topic)
        return self.subscriptions.topics

    async def handle(self, messages: Sequence[Incoming]) -> list[StartOutcome]:
        """Record the runs these messages start (in one transaction), then send them."""
        now = datetime.now(UTC)
        runs: list[TriggeredRun] = []
        for message in messages:
            matched = False
            for trigger in self.subscriptions.by_topic.get(message.topic, []):
                triggered = await self._prepare(trigger, message, now)
                if triggered is not None:
                    matched = True
                    await self._take_start(trigger)
                    runs.append(triggered)
            if not matched:
                metrics.FILTERED.inc()
        if not runs:
            return []
        try:
            outcomes = await self._store.start_runs(runs, outbox_claimed_for=self._outbox_claim)
        except StoreError:
            log.warning("recording %d event-started run(s) failed; redelivered", len(runs))
            raise
        await publish(self._store, self._bus, runs, outcomes)
        created = sum(1 for o in outcomes if o.created)
        metrics.STARTS.labels("event").inc(created)
        metrics.DUPLICATES.labels("event").inc(len(outcomes) - created)
        return outcomes

    async def _take_start(self, trigger: TriggerRecord) -> None:
        """Wait until the tenant's run-start bucket has a token for this run."""
        while (refused := await take_start(self._quotas, trigger)) is not None:
            metrics.THROTTLED.labels("event").inc()
            log.info(
                "event trigger %s/%s waits %.2f s: the tenant %s is over its run-start limit",
                trigger.workflow_id, trigger.trigger_id, refused.retry_after, trigger.tenant_id,
            )  # fmt: skip
            await asyncio.sleep(refused.retry_after)

    async def _prepare(
        self, trigger: TriggerRecord, message: Incoming, now: datetime
    ) -> TriggeredRun | None:
        spec = EventTrigger.model_validate(trigger.spec)
        context = context_of(message, trigger)
        try:
            if spec.filter is not None:
                passed = evaluate_expression(spec.filter, context, Scope.EVENT)
                if passed is not True:
                    return None
            run_input = (
                context["message"]
                if spec.input is None
                else render(spec.input, context, Scope.EVENT).value
            )
            key = (
                f"key:{render(spec.key, context, Scope.EVENT).value}"
                if spec.key
                else f"{message.topic}:{message.partition}:{message.offset}"
            )
        except ExpressionError as e:
            # A message the trigger's expressions cannot read does not start a run; it must
            # not block the partition either.
            where = f"{message.topic}[{message.partition}]@{message.offset}"
            log.warning(
                "event trigger %s/%s skips %s: %s", trigger.workflow_id, trigger.trigger_id,
                where, e,
            )  # fmt: skip
            return None
        try:
            definition = await self._definitions.get(trigger)
        except DefinitionError:
            log.exception("workflow %s version %d no longer validates", trigger.workflow_id,
                          trigger.version)  # fmt: skip
            return None
        return prepare(
            trigger, definition, run_input=run_input, key=f"event:{key}",
            topic=self._bus.topics.runs, now=now,
        )  # fmt: skip
