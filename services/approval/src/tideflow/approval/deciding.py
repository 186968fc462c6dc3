"""Deciding an approval: count the vote, and when it closes the approval, tell the run.

One transaction locks the approval, checks the vote (open, allowed, not a second vote of
the same person), records it, and when the quorum is reached (or anyone rejects) closes
the approval and writes the `ApprovalDecision` command as an outbox row. The command is
published right after the commit; if that fails or the process dies, the scheduler's
outbox relay publishes it. Its id is derived from the approval, so the run applies it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tideflow.approval import metrics
from tideflow.approval.access import may_decide
from tideflow.bus import BusError, Outgoing, RawOutgoing, encode_outgoing
from tideflow.core import ApprovalDecision, ApprovalVote, ids
from tideflow.runtime import ApiError
from tideflow.store import (
    ApprovalRecord,
    ApprovalStatus,
    Judgement,
    OutboxMessage,
    StoreError,
)
from tideflow.store import ApprovalVote as StoredVote
from tideflow.wire import command_envelope

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tideflow.auth import Principal
    from tideflow.bus import Bus
    from tideflow.store import ApprovalStore

log = logging.getLogger(__name__)

APPROVE = "approve"
REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Vote:
    principal: Principal
    decision: str
    comment: str | None
    at: datetime


def outcome(approval: ApprovalRecord, votes: list[StoredVote]) -> str | None:
    """`reject` as soon as anyone rejects, `approve` once `quorum` people approved."""
    if any(v.decision == REJECT for v in votes):
        return REJECT
    if sum(1 for v in votes if v.decision == APPROVE) >= approval.quorum:
        return APPROVE
    return None


def decision_command(
    approval: ApprovalRecord, votes: list[StoredVote], closes: str
) -> ApprovalDecision:
    """The command that resumes the run; its id names the approval, so it applies once."""
    last = votes[-1]
    return ApprovalDecision(
        command_id=ids.approval_decision_command_id(approval.approval_id),
        run_id=approval.run_id,
        step=approval.step,
        attempt=approval.attempt,
        approved=closes == APPROVE,
        decided_by=last.decided_by,
        comment=last.comment,
        decided_at=last.decided_at,
        decisions=tuple(
            ApprovalVote(by=v.decided_by, decision=v.decision, comment=v.comment,
                         decided_at=v.decided_at)
            for v in votes
        ),
    )  # fmt: skip


def judge_vote(vote: Vote, *, topic: str) -> Callable[[ApprovalRecord], Judgement]:
    """The rule the store applies to the locked approval."""

    def judge(approval: ApprovalRecord) -> Judgement:
        if not may_decide(vote.principal, approval):
            metrics.REFUSED.labels("forbidden").inc()
            raise ApiError(403, "FORBIDDEN", "you may not decide this approval")
        if approval.status is not ApprovalStatus.PENDING:
            metrics.REFUSED.labels("closed").inc()
            raise ApiError(
                409, "APPROVAL_CLOSED", f"this approval is already {approval.status}",
                {"status": str(approval.status), "decision": approval.decision},
            )  # fmt: skip
        if approval.expires_at is not None and vote.at >= approval.expires_at:
            metrics.REFUSED.labels("expired").inc()
            raise ApiError(409, "APPROVAL_EXPIRED", "this approval has expired")
        if any(v.decided_by == vote.principal.subject for v in approval.decisions):
            metrics.REFUSED.labels("repeated").inc()
            raise ApiError(409, "ALREADY_DECIDED", "you already decided this approval")
        cast = StoredVote(
            decided_by=vote.principal.subject, decision=vote.decision, comment=vote.comment,
            decided_at=vote.at,
        )  # fmt: skip
        votes = [*approval.decisions, cast]
        closes = outcome(approval, votes)
        messages: list[OutboxMessage] = []
        if closes is not None:
            envelope = command_envelope(
                decision_command(approval, votes, closes), tenant_id=approval.tenant_id
            )
            raw = encode_outgoing(Outgoing(topic, approval.run_id, envelope))
            messages.append(
                OutboxMessage(
                    topic=raw.topic, payload=raw.value, key=raw.key, headers=raw.headers,
                    tenant_id=approval.tenant_id,
                )
            )  # fmt: skip
        return Judgement(vote=cast, closes_with=closes, outbox=messages)

    return judge


async def decide(
    *,
    store: ApprovalStore,
    bus: Bus,
    principal: Principal,
    approval_id: str,
    decision: str,
    comment: str | None,
    outbox_claim: timedelta,
    now: datetime | None = None,
) -> ApprovalRecord:
    """Record `principal`'s vote; ApiError 403/404/409 when it cannot count."""
    vote = Vote(principal, decision, comment, now or datetime.now(UTC))
    decided = await store.decide(
        approval_id,
        judge_vote(vote, topic=bus.topics.runs),
        tenant_id=principal.tenant_id,
        outbox_claimed_for=outbox_claim,
    )
    metrics.VOTES.labels(decision).inc()
    if decided.outbox_ids:
        await _publish(store, bus, decided.outbox, decided.outbox_ids, approval_id)
    return decided.approval


async def _publish(
    store: ApprovalStore,
    bus: Bus,
    messages: Sequence[OutboxMessage],
    outbox_ids: list[int],
    approval_id: str,
) -> None:
    """Send the committed decision now; the outbox relay covers a failure."""
    try:
        await bus.publish_raw_batch(
            [RawOutgoing(m.topic, m.key, m.payload, m.headers) for m in messages]
        )
    except BusError:
        log.warning("publishing the decision of %s failed; the outbox relay will", approval_id)
        return
    try:
        await store.delete_outbox(outbox_ids)
    except StoreError:
        log.warning("could not delete the outbox row of approval %s", approval_id)
