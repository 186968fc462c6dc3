"""Event triggers: a message on a subscribed topic starts a run of every trigger it matches.

Messages are what other systems publish: JSON (anything else is given to templates as
text). Each event trigger of the topic evaluates its `filter` (CEL over `message`, `key`,
`topic`, `partition`, `offset`, `headers`); a match starts a run whose input is the
message (or the `input` template) and whose idempotency key is the `key` template, else
the message's topic/partition/offset. Delivery is at-least-once (offsets are committed
after the runs are recorded), and the key makes it exactly one run per message.

A message that cannot start a run however often it comes (its input holds a NUL or NaN,
nests too deep, is larger than a run input may be, or fails the workflow's input schema)
goes to the DLQ with the reason and its stable code; the rest of its batch goes on.

Every run takes a token of its tenant's run-start limit first. When the tenant's bucket is
empty the run is deferred: parked in the store with the batch, keyed as the run is, until
`DeferredStarts` takes a token for it and records it. So the batch never waits for one
tenant's bucket, and other tenants' messages on a shared topic start at once; nothing is
dropped (the deferral commits before the offset does) or doubled (a redelivery finds the
run, or the parked start, by its key). Logged and counted
(`tideflow_trigger_throttled_total{type="event"}`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tideflow.bus import BusConnectionError, Record
from tideflow.core import (
    DefinitionError,
    EventTrigger,
    ExpressionError,
    LimitViolation,
    Scope,
    evaluate_expression,
    render,
    reserved_topic,
    validate_input,
)
from tideflow.settings import LimitsSettings
from tideflow.store import StoreError, StoreUnavailable, TriggeredRun
from tideflow.trigger import metrics
from tideflow.trigger.payloads import TooDeepError, load_json, screen, too_deep
from tideflow.trigger.starting import Definitions, prepare, publish, take_start

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from tideflow.auth import TenantQuotas
    from tideflow.bus import Bus
    from tideflow.core import WorkflowDefinition
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
    """JSON when it is JSON, else UTF-8 text, else None (templates see `message == null`).

    TooDeepError when it is JSON nested deeper than the parser follows (not text: it is
    refused, not handed to templates as a string of brackets)."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        return load_json(text)
    except TooDeepError:
        raise
    except ValueError:
        return text


MAX_ATTEMPTS = 8
"""Failures of a message (other than outages) before it is dead-lettered; outages of the
database, the broker or Redis are retried without bound."""
OUTAGES: tuple[type[BaseException], ...] = (StoreUnavailable, BusConnectionError, OSError)

DEAD_LETTER_VALUE_BYTES = 64 * 1024
"""The most of a refused message's value its dead letter keeps (Kafka's default request
limit is 1 MiB, and the letter wraps the value in an envelope)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """A message that can never start its trigger's run, and why (its DLQ reason)."""

    code: str
    reason: str


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
        limits: LimitsSettings | None = None,
        group: str = "tideflow-trigger",
    ) -> None:
        self._quotas = quotas
        self._limits = limits or LimitsSettings()
        self._group = group
        self._store = store
        self._bus = bus
        self._definitions = definitions
        self._outbox_claim = outbox_claim
        self.subscriptions = Subscriptions()
        self._warned: set[tuple[str, str, str]] = set()

    async def refresh(self) -> frozenset[str]:
        """Reload the registrations; the topics to subscribe to."""
        by_topic: dict[str, list[TriggerRecord]] = {}
        prefix = self._bus.topics.prefix
        for trigger in await self._store.event_triggers():
            if not trigger.topic or trigger.paused:
                continue
            if reserved_topic(trigger.topic, prefix):
                # refused at publish; one written before (or by a path that did not know
                # the prefix) must still not read every tenant's commands and run events
                if (trigger.tenant_id, trigger.workflow_id, trigger.trigger_id) not in self._warned:
                    self._warned.add((trigger.tenant_id, trigger.workflow_id, trigger.trigger_id))
                    log.warning(
                        "event trigger %s/%s of tenant %s names the platform's topic %s; "
                        "not subscribed", trigger.workflow_id, trigger.trigger_id,
                        trigger.tenant_id, trigger.topic,
                    )  # fmt: skip
                continue
            by_topic.setdefault(trigger.topic, []).append(trigger)
        self.subscriptions = Subscriptions(by_topic)
        return self.subscriptions.topics

    async def handle(self, messages: Sequence[Incoming]) -> list[StartOutcome]:
        """Record the runs these messages start (in one transaction), then send them."""
        now = datetime.now(UTC)
        runs: list[TriggeredRun] = []
        throttled: set[str] = set()  # tenants whose bucket was empty in this batch
        for message in messages:
            matched = False
            for trigger in self.subscriptions.by_topic.get(message.topic, []):
                triggered = await self._prepare(trigger, message, now)
                if isinstance(triggered, Refused):
                    matched = True
                    await self._dead_letter(trigger, message, triggered)
                elif triggered is not None:
                    matched = True
                    if not await self._take_start(trigger, throttled):
                        triggered = replace(triggered, deferred=True)
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
        metrics.DUPLICATES.labels("event").inc(
            sum(1 for o in outcomes if not o.created and not o.deferred)
        )
        return outcomes

    async def give_up(self, message: Incoming, error: BaseException) -> None:
        """Dead-letter a message whose runs failed to start `MAX_ATTEMPTS` times for a
        reason of its own (not an outage), so its partition moves on."""
        where = f"{message.topic}[{message.partition}]@{message.offset}"
        log.error("event message %s failed %d times; dead-lettered: %s", where,
                  MAX_ATTEMPTS, error)  # fmt: skip
        metrics.EVENTS_REFUSED.labels("START_FAILED").inc()
        record = Record(
            topic=message.topic, partition=message.partition, offset=message.offset,
            key=message.key, value=message.value[:DEAD_LETTER_VALUE_BYTES],
            headers=message.headers,
        )  # fmt: skip
        reason = f"starting its runs failed {MAX_ATTEMPTS} times: {error}"
        await self._bus.dead_letter(record, reason=reason, code="START_FAILED", group=self._group)

    async def _dead_letter(
        self, trigger: TriggerRecord, message: Incoming, refused: Refused
    ) -> None:
        """Send a message that can never start this trigger's run to the DLQ, with why;
        the batch goes on (the letter's id names the message: a redelivery is recognisable)."""
        where = f"{message.topic}[{message.partition}]@{message.offset}"
        log.warning(
            "event trigger %s/%s refuses %s: %s", trigger.workflow_id, trigger.trigger_id,
            where, refused.reason,
        )  # fmt: skip
        metrics.EVENTS_REFUSED.labels(refused.code).inc()
        value, reason = message.value, f"trigger {trigger.workflow_id}/{trigger.trigger_id}: "
        if len(value) > DEAD_LETTER_VALUE_BYTES:
            # the letter must fit in one broker request, or dead-lettering fails for ever
            kept = DEAD_LETTER_VALUE_BYTES
            reason += f"(value cut to its first {kept:,} of {len(value):,} bytes) "
            value = value[:DEAD_LETTER_VALUE_BYTES]
        reason += refused.reason
        record = Record(
            topic=message.topic, partition=message.partition, offset=message.offset,
            key=message.key, value=value, headers=message.headers,
        )  # fmt: skip
        await self._bus.dead_letter(record, reason=reason, code=refused.code, group=self._group)

    async def _take_start(self, trigger: TriggerRecord, throttled: set[str]) -> bool:
        """Take a token of the tenant's run-start bucket; False when it is empty (the run is
        deferred, and so are the tenant's other runs of this batch, without asking again)."""
        if trigger.tenant_id in throttled:
            metrics.THROTTLED.labels("event").inc()
            return False
        refused = await take_start(self._quotas, trigger)
        if refused is None:
            return True
        throttled.add(trigger.tenant_id)
        metrics.THROTTLED.labels("event").inc()
        log.info(
            "event trigger %s/%s defers its start: the tenant %s is over its run-start limit "
            "(a token in %.2f s)", trigger.workflow_id, trigger.trigger_id, trigger.tenant_id,
            refused.retry_after,
        )  # fmt: skip
        return False

    async def _prepare(
        self, trigger: TriggerRecord, message: Incoming, now: datetime
    ) -> TriggeredRun | Refused | None:
        """The run this message starts; Refused when it never can; None when it does not
        match (or the trigger's own expressions cannot read it)."""
        spec = EventTrigger.model_validate(trigger.spec)
        try:
            context = context_of(message, trigger)
        except TooDeepError:
            violation = too_deep("the message")
            return Refused(str(violation.code), violation.message)
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
        refused = self._refusal(definition, run_input)
        if refused is not None:
            return refused
        return prepare(
            trigger, definition, run_input=run_input, key=f"event:{key}",
            topic=self._bus.topics.runs, now=now,
        )  # fmt: skip

    def _refusal(self, definition: WorkflowDefinition, run_input: Any) -> Refused | None:
        """Why `run_input` can never start a run of `definition`: a value the log cannot
        hold, or input the workflow's schema refuses; None when it can."""
        violation: LimitViolation | None = screen(run_input, self._limits, what="the input")
        if violation is not None:
            return Refused(str(violation.code), violation.message)
        problems = validate_input(definition, run_input)
        if problems:
            listed = "; ".join(f"{p.path or '$'}: {p.message}" for p in problems[:5])
            return Refused("INPUT_INVALID", f"the input does not match the schema: {listed}")
        return None
