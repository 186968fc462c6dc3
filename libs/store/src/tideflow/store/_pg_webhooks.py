"""`WebhookStore` on Postgres (migration 0012), mixed into `PostgresEventStore`.

Fan-out follows the log like the public event publisher, under its own follower name
(`webhooks`): the deliveries of a batch of events and the follower's new position commit
together, and (subscription, event) is unique, so a crash at any point neither loses a
delivery nor makes two. Deliveries are leased (`locked_until`) to one dispatcher at a
time; a dispatcher that dies mid-request leaves its lease to expire, and the delivery is
sent again with the same delivery id. A delivery whose success is recorded is never
claimed again.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tideflow.store._errors import NotFound
from tideflow.store._pg_errors import translated
from tideflow.store._pg_scope import PLATFORM, scoped
from tideflow.store._webhooks import (
    ALL_EVENTS,
    RUN_EVENTS,
    AttemptOutcome,
    AttemptRecord,
    ClaimedDelivery,
    DeliveryRecord,
    SealedSecret,
    SubscriptionRecord,
)

if TYPE_CHECKING:
    from datetime import datetime

    import asyncpg

FOLLOWER = "webhooks"
_NAMESPACE = uuid.UUID("6f1c2a52-0d2e-4a57-9d1e-3f0f7b1c9a10")
INSERT_SUBSCRIPTION = """
INSERT INTO webhook_subscriptions (subscription_id, tenant_id, url, events, workflow_id,
    secret_ciphertext, secret_wrapped_key, secret_kek_id, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING subscription_id::text, tenant_id, url, events, workflow_id, status, flagged_at,
    flag_reason, created_by, created_at
"""
LIST_SUBSCRIPTIONS = """
SELECT subscription_id::text, tenant_id, url, events, workflow_id, status, flagged_at,
    flag_reason, created_by, created_at
FROM webhook_subscriptions ORDER BY created_at
"""
GET_SUBSCRIPTION = """
SELECT subscription_id::text, tenant_id, url, events, workflow_id, status, flagged_at,
    flag_reason, created_by, created_at
FROM webhook_subscriptions WHERE subscription_id::text = $1
"""

FOLLOW = """
WITH follower AS (
    SELECT position FROM event_publisher_positions WHERE name = $1 FOR UPDATE SKIP LOCKED
)
SELECT f.position AS follower_position, e.run_id, e.seq, e.type, e.data, e.recorded_at,
       e.position, e.tenant_id, r.workflow_id, r.version
FROM follower f
LEFT JOIN LATERAL (
    SELECT * FROM run_events WHERE position > f.position ORDER BY position LIMIT $2
) e ON true
LEFT JOIN runs r ON r.run_id = e.run_id
ORDER BY e.position
"""

INSERT_DELIVERY = """
INSERT INTO webhook_deliveries (delivery_id, subscription_id, tenant_id, event_id, event_type,
    run_id, payload, give_up_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz + make_interval(secs => $9))
ON CONFLICT (subscription_id, event_id) DO NOTHING
"""

CLAIM = """
WITH due AS (
    SELECT delivery_id FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= $1
      AND (locked_until IS NULL OR locked_until <= $1)
    ORDER BY next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries d
SET locked_until = $1::timestamptz + make_interval(secs => $3), attempts = d.attempts + 1
FROM due, webhook_subscriptions s
WHERE d.delivery_id = due.delivery_id AND s.subscription_id = d.subscription_id
RETURNING d.delivery_id::text, d.tenant_id, d.subscription_id::text, s.url, d.event_type,
    d.payload, d.attempts, d.give_up_at, s.secret_ciphertext, s.secret_wrapped_key,
    s.secret_kek_id
"""

INSERT_ATTEMPT = """
INSERT INTO webhook_attempts (delivery_id, attempt, tenant_id, started_at, duration_ms,
    status_code, response_body, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (delivery_id, attempt) DO NOTHING
"""

SUCCEEDED = """
UPDATE webhook_deliveries
SET status = 'succeeded', finished_at = now(), locked_until = NULL, last_status = $2,
    last_error = NULL
WHERE delivery_id = $1 AND status = 'pending'
"""

RETRY = """
UPDATE webhook_deliveries
SET next_attempt_at = $3, locked_until = NULL, last_status = $4, last_error = $5
WHERE delivery_id = $1 AND status = 'pending' AND attempts = $2
"""

GIVE_UP = """
UPDATE webhook_deliveries
SET status = 'failed', finished_at = now(), locked_until = NULL, last_status = $3,
    last_error = $4
WHERE delivery_id = $1 AND status = 'pending' AND attempts = $2
"""

FLAG = """
UPDATE webhook_subscriptions
SET status = 'failing', flagged_at = now(), flag_reason = $2
WHERE subscription_id = $1
"""

UNFLAG = """
UPDATE webhook_subscriptions SET status = 'active', flagged_at = NULL, flag_reason = NULL
WHERE subscription_id = $1 AND status <> 'active'
"""


def _subscription(row: asyncpg.Record) -> SubscriptionRecord:
    return SubscriptionRecord(**dict(row.items()))


def _public_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    if event_type == "RunStarted":  # the pinned definition is not news to a subscriber
        return {k: v for k, v in data.items() if k != "definition"}
    return data


def _matches(sub: asyncpg.Record, event: asyncpg.Record, public: str) -> bool:
    """Same tenant, a wanted type, the workflow (if it names one), and not older than it."""
    return (
        sub["tenant_id"] == event["tenant_id"]
        and (public in sub["events"] or ALL_EVENTS in sub["events"])
        and sub["workflow_id"] in {None, event["workflow_id"]}
        and sub["created_at"] <= event["recorded_at"]
    )


def delivery_id(subscription_id: str, event_id: str) -> str:
    """Deterministic, so the same (subscription, event) always has the same id."""
    return str(uuid.uuid5(_NAMESPACE, f"{subscription_id}:{event_id}"))


class PostgresWebhooks:
    """Mixed into `PostgresEventStore`."""

    _pool: asyncpg.Pool

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
    ) -> SubscriptionRecord:
        with translated("create subscription"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(
                    INSERT_SUBSCRIPTION, subscription_id, tenant_id, url, events, workflow_id,
                    secret.ciphertext, secret.wrapped_key, secret.kek_id, created_by,
                )  # fmt: skip
        assert row is not None  # noqa: S101 - INSERT ... RETURNING returns its row
        return _subscription(row)

    async def list_subscriptions(self, tenant_id: str) -> list[SubscriptionRecord]:
        with translated("list subscriptions"):
            async with scoped(self._pool, tenant_id) as connection:
                rows = await connection.fetch(LIST_SUBSCRIPTIONS)
        return [_subscription(r) for r in rows]

    async def get_subscription(self, tenant_id: str, subscription_id: str) -> SubscriptionRecord:
        with translated("get subscription"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(GET_SUBSCRIPTION, subscription_id)
        if row is None:
            raise NotFound(f"subscription {subscription_id}")
        return _subscription(row)

    async def delete_subscription(self, tenant_id: str, subscription_id: str) -> None:
        with translated("delete subscription"):
            async with scoped(self._pool, tenant_id) as connection:
                deleted = await connection.fetchval(
                    "DELETE FROM webhook_subscriptions WHERE subscription_id::text = $1 "
                    "RETURNING 1",
                    subscription_id,
                )
        if deleted is None:
            raise NotFound(f"subscription {subscription_id}")

    async def list_deliveries(
        self, tenant_id: str, subscription_id: str, *, limit: int
    ) -> list[DeliveryRecord]:
        with translated("list deliveries"):
            async with scoped(self._pool, tenant_id) as connection:
                rows = await connection.fetch(
                    "SELECT delivery_id::text, subscription_id::text, event_id, event_type,"
                    " run_id, payload, status, attempts, next_attempt_at, give_up_at,"
                    " last_status, last_error, created_at, finished_at FROM webhook_deliveries"
                    " WHERE subscription_id::text = $1 ORDER BY created_at DESC, event_id DESC"
                    " LIMIT $2",
                    subscription_id, limit,
                )  # fmt: skip
                attempts = await connection.fetch(
                    "SELECT delivery_id::text, attempt, started_at, duration_ms, status_code,"
                    " response_body, error FROM webhook_attempts"
                    " WHERE delivery_id::text = ANY($1::text[]) ORDER BY attempt",
                    [r["delivery_id"] for r in rows],
                )
        by_delivery: dict[str, list[AttemptRecord]] = {}
        for a in attempts:
            fields = {k: v for k, v in a.items() if k != "delivery_id"}
            by_delivery.setdefault(a["delivery_id"], []).append(AttemptRecord(**fields))
        return [
            DeliveryRecord(**dict(r.items()), attempt_log=by_delivery.get(r["delivery_id"], []))
            for r in rows
        ]

    async def fan_out_webhooks(self, *, limit: int, retry_for_s: float) -> int | None:
        with translated("fan out webhooks"):
            async with scoped(self._pool, PLATFORM) as connection:
                await connection.execute(
                    "INSERT INTO event_publisher_positions (name) VALUES ($1) "
                    "ON CONFLICT (name) DO NOTHING",
                    FOLLOWER,
                )
                rows = await connection.fetch(FOLLOW, FOLLOWER, limit)
                if not rows:
                    return None  # another dispatcher holds the follower
                events = [r for r in rows if r["run_id"] is not None]
                if not events:
                    return 0
                await self._deliveries_for(connection, events, retry_for_s)
                await connection.execute(
                    "UPDATE event_publisher_positions SET position = greatest(position, $2),"
                    " updated_at = now() WHERE name = $1",
                    FOLLOWER, events[-1]["position"],
                )  # fmt: skip
        return len(events)

    async def _deliveries_for(
        self, connection: Any, events: list[asyncpg.Record], retry_for_s: float
    ) -> None:
        wanted = [e for e in events if e["type"] in RUN_EVENTS]
        if not wanted:
            return
        tenants = sorted({e["tenant_id"] for e in wanted})
        subscriptions = await connection.fetch(
            "SELECT subscription_id::text, tenant_id, events, workflow_id, created_at"
            " FROM webhook_subscriptions WHERE tenant_id = ANY($1::text[])",
            tenants,
        )
        rows = []
        for event in wanted:
            public = RUN_EVENTS[event["type"]]
            for sub in subscriptions:
                if (
                    sub["tenant_id"] != event["tenant_id"]
                    or (public not in sub["events"] and ALL_EVENTS not in sub["events"])
                    or (
                        sub["workflow_id"] is not None
                        and sub["workflow_id"] != event["workflow_id"]
                    )
                    or sub["created_at"] > event["recorded_at"]
                ):
                    continue
                event_id = f"{event['run_id']}:{event['seq']}"
                ident = delivery_id(sub["subscription_id"], event_id)
                payload = {
                    "id": ident, "type": public, "occurredAt": event["recorded_at"].isoformat(),
                    "tenantId": event["tenant_id"], "workflowId": event["workflow_id"],
                    "version": event["version"], "runId": event["run_id"], "seq": event["seq"],
                    "data": _public_data(event["type"], event["data"]),
                }  # fmt: skip
                rows.append((
                    ident, sub["subscription_id"], event["tenant_id"], event_id, public,
                    event["run_id"], payload, event["recorded_at"], retry_for_s,
                ))  # fmt: skip
        if rows:
            await connection.executemany(INSERT_DELIVERY, rows)

    async def claim_deliveries(
        self, *, now: datetime, limit: int, lease_s: float
    ) -> list[ClaimedDelivery]:
        with translated("claim deliveries"):
            async with scoped(self._pool, PLATFORM) as connection:
                rows = await connection.fetch(CLAIM, now, limit, lease_s)
        return [
            ClaimedDelivery(
                delivery_id=r["delivery_id"], tenant_id=r["tenant_id"],
                subscription_id=r["subscription_id"], url=r["url"], event_type=r["event_type"],
                payload=r["payload"], attempt=r["attempts"], give_up_at=r["give_up_at"],
                secret=SealedSecret(
                    r["secret_ciphertext"], r["secret_wrapped_key"], r["secret_kek_id"]
                ),
            )
            for r in rows
        ]  # fmt: skip

    async def record_attempt(self, delivery: ClaimedDelivery, outcome: AttemptOutcome) -> None:
        with translated("record delivery attempt"):
            async with scoped(self._pool, PLATFORM) as connection:
                await connection.execute(
                    INSERT_ATTEMPT, delivery.delivery_id, delivery.attempt, delivery.tenant_id,
                    outcome.started_at, outcome.duration_ms, outcome.status_code,
                    outcome.response_body, outcome.error,
                )  # fmt: skip
                if outcome.succeeded:
                    await connection.execute(SUCCEEDED, delivery.delivery_id, outcome.status_code)
                    await connection.execute(UNFLAG, delivery.subscription_id)
                elif outcome.next_attempt_at is not None:
                    await connection.execute(
                        RETRY, delivery.delivery_id, delivery.attempt, outcome.next_attempt_at,
                        outcome.status_code, outcome.error,
                    )  # fmt: skip
                else:
                    gave_up = await connection.execute(
                        GIVE_UP, delivery.delivery_id, delivery.attempt, outcome.status_code,
                        outcome.error,
                    )  # fmt: skip
                    if gave_up.endswith(" 1"):
                        reason = (
                            f"delivery {delivery.delivery_id} ({delivery.event_type}) given up "
                            f"after {delivery.attempt} attempt(s): {outcome.error or 'failed'}"
                        )
                        await connection.execute(FLAG, delivery.subscription_id, reason[:500])
