"""Outbound webhooks: records and the port (subscriptions, deliveries, their attempts).

Only the Postgres store implements it (`PostgresWebhooks`): deliveries are durable work
fed from the event log, which an in-memory twin could not make durable anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from datetime import datetime

RUN_EVENTS = {
    "RunStarted": "run.started",
    "RunSucceeded": "run.succeeded",
    "RunFailed": "run.failed",
    "RunCompensated": "run.compensated",
    "RunCancelled": "run.cancelled",
    "ApprovalRequested": "approval.requested",
    "ApprovalDecided": "approval.decided",
    "StepSucceeded": "step.succeeded",
    "StepFailed": "step.failed",
    "SignalReceived": "signal.received",
}
"""Event log type -> the public name subscriptions use."""
PUBLIC_EVENTS = frozenset(RUN_EVENTS.values())
ALL_EVENTS = "*"


@dataclass(frozen=True, slots=True)
class SealedSecret:
    ciphertext: bytes
    wrapped_key: bytes
    kek_id: str


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    subscription_id: str
    tenant_id: str
    url: str
    events: list[str]
    workflow_id: str | None
    status: str
    """`active`, or `failing` once a delivery was given up (cleared by a success)."""
    flagged_at: datetime | None
    flag_reason: str | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    delivery_id: str
    subscription_id: str
    event_id: str
    event_type: str
    run_id: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    give_up_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A due delivery leased to one dispatcher, with what sending it needs."""

    delivery_id: str
    tenant_id: str
    subscription_id: str
    url: str
    event_type: str
    payload: dict[str, Any]
    attempt: int
    give_up_at: datetime
    secret: SealedSecret


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one attempt did, and what follows (`next_attempt_at` None: final)."""

    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None
    error: str | None
    succeeded: bool
    next_attempt_at: datetime | None


@runtime_checkable
class WebhookStore(Protocol):
    async def create_subscription(
        self,
        *,
        tenant_id: str,
        url: str,
        events: list[str],
        workflow_id: str | None,
        secret: SealedSecret,
        subscription_id: str,
        created_by: str,
    ) -> SubscriptionRecord: ...

    async def list_subscriptions(self, tenant_id: str) -> list[SubscriptionRecord]: ...

    async def get_subscription(self, tenant_id: str, subscription_id: str) -> SubscriptionRecord:
        """NotFound when the tenant has no such subscription."""
        ...

    async def delete_subscription(self, tenant_id: str, subscription_id: str) -> None:
        """NotFound when absent; its pending deliveries go with it."""
        ...

    async def list_deliveries(
        self, tenant_id: str, subscription_id: str, *, limit: int
    ) -> list[DeliveryRecord]: ...

    async def fan_out_webhooks(self, *, limit: int, retry_for_s: float) -> int | None:
        """Turn the next events of the log into deliveries (one transaction with the
        follower's position); how many events were read, None when another holds it."""
        ...

    async def claim_deliveries(
        self, *, now: datetime, limit: int, lease_s: float
    ) -> list[ClaimedDelivery]: ...

    async def record_attempt(self, delivery: ClaimedDelivery, outcome: AttemptOutcome) -> None:
        """Store the attempt and the delivery's new state (flags the subscription when the
        delivery is given up; a success clears the flag)."""
        ...
