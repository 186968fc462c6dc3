"""The approval inbox port: pending approvals, the decisions of a quorum, and outcomes.

The inbox is a projection the approval service builds from the public event stream
(`ApprovalRequested`, `ApprovalDecided`, timed-out or cancelled steps). A decision is one
transaction: the approval row is locked, the caller's `judge` says whether the vote counts
and whether it closes the approval, and the vote, the new status and the outbox message
carrying the decision to the run are written together. Whoever decides second on a closed
approval therefore always sees it closed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime  # noqa: TC003 - dataclass fields
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from tideflow.store._records import DEFAULT_TENANT, OutboxMessage

if TYPE_CHECKING:
    from datetime import timedelta


class ApprovalStatus(StrEnum):
    """Where an approval stands; only `pending` ones accept decisions."""

    PENDING = "pending"
    DECIDED = "decided"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ApprovalVote:
    """One person's decision."""

    decided_by: str
    decision: str
    comment: str | None
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """An approval as the inbox holds it."""

    approval_id: str
    run_id: str
    node_id: str
    step: str
    attempt: int
    workflow_id: str
    requested_at: datetime
    tenant_id: str = DEFAULT_TENANT
    title: str | None = None
    description: str | None = None
    assignees: tuple[str, ...] = ()
    role: str | None = None
    quorum: int = 1
    on_timeout: str = "fail"
    status: ApprovalStatus = ApprovalStatus.PENDING
    decision: str | None = None
    decided_by: str | None = None
    comment: str | None = None
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    decisions: tuple[ApprovalVote, ...] = ()


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    """What the run's log says happened to an approval (the source of truth)."""

    approval_id: str
    status: ApprovalStatus
    decision: str | None = None
    decided_by: str | None = None
    comment: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """The service's verdict on a vote: record it, and maybe close the approval."""

    vote: ApprovalVote
    closes_with: str | None = None
    """`approve` or `reject` when this vote decides the approval."""
    outbox: Sequence[OutboxMessage] = ()


Judge = Callable[[ApprovalRecord], Judgement]
"""Called with the locked approval (and its votes); raises to refuse the vote."""


@dataclass(frozen=True, slots=True)
class Decided:
    """The approval after a vote, and the outbox rows to delete once published."""

    approval: ApprovalRecord
    outbox_ids: list[int] = field(default_factory=list)
    outbox: Sequence[OutboxMessage] = ()
    """The messages written (in `outbox_ids` order), to publish after the commit."""


@dataclass(frozen=True, slots=True)
class ApprovalFilter:
    tenant_id: str = DEFAULT_TENANT
    status: ApprovalStatus | None = None
    workflow_id: str | None = None
    run_id: str | None = None
    as_of: datetime | None = None
    """When set, a `pending` approval whose `expires_at` is not after it takes no vote any
    more and is filtered as `expired` (what it will become once the run's timeout fires)."""


@dataclass(frozen=True, slots=True)
class ApprovalCursor:
    """Keyset position: the last item of the previous page."""

    requested_at: datetime
    approval_id: str


@dataclass(frozen=True, slots=True)
class ApprovalPage:
    items: list[ApprovalRecord]
    next_cursor: ApprovalCursor | None


class ApprovalStore(Protocol):
    """Persistence of the approval inbox."""

    async def record_requests(self, approvals: Sequence[ApprovalRecord]) -> None:
        """Add requested approvals; one already known is left as it is (redelivery)."""
        ...

    async def record_outcomes(self, outcomes: Sequence[ApprovalOutcome]) -> None:
        """Apply what the log says: decided, expired or cancelled (unknown ids are ignored)."""
        ...

    async def get_approval(
        self, approval_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> ApprovalRecord:
        """One approval with its votes, or `NotFound`."""
        ...

    async def list_approvals(
        self, approval_filter: ApprovalFilter, *, limit: int, after: ApprovalCursor | None = None
    ) -> ApprovalPage:
        """Approvals newest first, keyset-paginated."""
        ...

    async def decide(
        self,
        approval_id: str,
        judge: Judge,
        *,
        tenant_id: str = DEFAULT_TENANT,
        outbox_claimed_for: timedelta | None = None,
    ) -> Decided:
        """Lock the approval, let `judge` rule on the vote, and write what it says at once."""
        ...

    async def delete_outbox(self, ids: Sequence[int]) -> None:
        """Forget outbox rows Kafka has acknowledged."""
        ...

    async def purge_closed(self, before: datetime, limit: int = 1000) -> int:
        """Delete up to `limit` closed approvals last changed before `before`; how many."""
        ...
