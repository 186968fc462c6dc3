"""The inbox projection: run events from the public stream -> the `approvals` table.

Consumes `tideflow.events` in its own group. A batch is written before its offsets are
committed, and every write is idempotent (requests are inserted once by id; outcomes set
what the log says), so redelivery changes nothing. The log is the source of truth: when it
says an approval was decided or timed out, that is what the inbox shows, whatever a
decision in flight here believed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tideflow.approval import metrics
from tideflow.bus import load_json, payload_of, pb
from tideflow.core import ids
from tideflow.store import ApprovalOutcome, ApprovalRecord, ApprovalStatus

if TYPE_CHECKING:
    from tideflow.bus import Batch
    from tideflow.store import ApprovalStore

log = logging.getLogger(__name__)

GROUP = "tideflow-approval"


def approval_id(run_id: str, step: str, attempt: int) -> str:
    """The id of the approval an attempt of a step asks for: the same on every replica."""
    return ids.approval_id(run_id, step, attempt)


def _time(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def request_of(tenant_id: str, event: pb.RunEvent, data: dict[str, Any]) -> ApprovalRecord:
    """The inbox row an `ApprovalRequested` event asks for."""
    recorded = event.recorded_at.ToDatetime(tzinfo=UTC)
    raw = data.get("config")
    config: dict[str, Any] = raw if isinstance(raw, dict) else {}
    step, attempt = str(data["step"]), int(data.get("attempt", 1))
    assignees = config.get("assignees")
    quorum = config.get("quorum", 1)
    on_timeout = config.get("onTimeout", "fail")
    return ApprovalRecord(
        approval_id=approval_id(event.run_id, step, attempt),
        tenant_id=tenant_id,
        run_id=event.run_id,
        node_id=step,
        step=step,
        attempt=attempt,
        workflow_id=event.workflow_id,
        title=_text(config.get("title")),
        description=_text(config.get("description")) or _text(config.get("message")),
        assignees=tuple(str(a) for a in assignees) if isinstance(assignees, list) else (),
        role=_text(config.get("role")),
        quorum=quorum if isinstance(quorum, int) and quorum > 0 else 1,
        on_timeout=on_timeout if on_timeout in {"approve", "reject", "fail"} else "fail",
        requested_at=_time(data.get("at"), recorded),
        expires_at=_time(data.get("deadline"), recorded) if data.get("deadline") else None,
    )


def outcome_of(event: pb.RunEvent, data: dict[str, Any]) -> ApprovalOutcome | None:
    """What an event says about an approval, if anything."""
    recorded = event.recorded_at.ToDatetime(tzinfo=UTC)
    if event.type == "ApprovalDecided":
        attempt = int(data.get("attempt") or 1)
        timed_out = bool(data.get("timedOut"))
        return ApprovalOutcome(
            approval_id=approval_id(event.run_id, str(data["step"]), attempt),
            status=ApprovalStatus.EXPIRED if timed_out else ApprovalStatus.DECIDED,
            decision="approve" if data.get("approved") else "reject",
            decided_by=_text(data.get("decidedBy")),
            comment=_text(data.get("comment")),
            decided_at=_time(data.get("decidedAt") or data.get("at"), recorded),
        )
    if event.type in {"StepTimedOut", "StepCancelled"}:
        status = (
            ApprovalStatus.EXPIRED if event.type == "StepTimedOut" else ApprovalStatus.CANCELLED
        )
        return ApprovalOutcome(
            approval_id=approval_id(event.run_id, str(data["step"]), int(data.get("attempt", 1))),
            status=status,
            decided_at=_time(data.get("at"), recorded)
            if status is ApprovalStatus.EXPIRED
            else None,
        )
    return None


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("event data is not an object")
    return value


_RELEVANT = frozenset({"ApprovalRequested", "ApprovalDecided", "StepTimedOut", "StepCancelled"})


class InboxProjection:
    """The batch handler of the event-stream consumer."""

    def __init__(self, *, store: ApprovalStore) -> None:
        self._store = store

    async def __call__(self, batch: Batch) -> None:
        requests: list[ApprovalRecord] = []
        outcomes: list[ApprovalOutcome] = []
        for message in batch:
            event = payload_of(message.envelope)
            if not isinstance(event, pb.RunEvent) or event.type not in _RELEVANT:
                continue
            tenant_id = message.envelope.tenant_id or "default"
            try:
                data = _object(load_json(event.data_json))
                if event.type == "ApprovalRequested":
                    requests.append(request_of(tenant_id, event, data))
                else:
                    outcome = outcome_of(event, data)
                    if outcome is not None:
                        outcomes.append(outcome)
            except (KeyError, TypeError, ValueError) as exc:
                # A malformed event cannot become an approval; keep the stream moving.
                log.warning("ignoring %s of run %s: %s", event.type, event.run_id, exc)
        await self._store.record_requests(requests)
        await self._store.record_outcomes(outcomes)
        metrics.REQUESTED.inc(len(requests))
        for outcome in outcomes:
            metrics.CLOSED.labels(str(outcome.status), outcome.decision or "").inc()
