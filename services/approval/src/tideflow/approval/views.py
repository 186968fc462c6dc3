"""The JSON shapes of the approval API (camelCase, as everywhere in the API)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from tideflow.store import ApprovalRecord, ApprovalStatus


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Vote(_Model):
    by: str
    decision: Literal["approve", "reject"]
    comment: str | None = None
    decided_at: datetime


class Approval(_Model):
    """One approval of the inbox."""

    id: str
    run_id: str
    node_id: str
    workflow_id: str
    title: str | None = None
    description: str | None = None
    assignees: list[str]
    role: str | None = None
    quorum: int
    decisions: list[Vote]
    requested_at: datetime
    expires_at: datetime | None = None
    status: Literal["pending", "decided", "expired", "cancelled"]
    decision: Literal["approve", "reject"] | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    on_timeout: Literal["approve", "reject", "fail"]


class ApprovalList(_Model):
    items: list[Approval]
    next_cursor: str | None = None


class DecisionRequest(_Model):
    """`POST /approvals/{id}/decision`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=10_000)

    @field_validator("comment")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        """Text Postgres can store and JSON can carry: no NUL, no lone surrogate (what
        `json` reads from `\\u0000` and `\\ud800`); once a 500 on `tide serve approval`."""
        if value is not None:
            if "\x00" in value:
                raise ValueError("the comment contains a NUL character (\\u0000)")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("the comment contains a lone surrogate") from None
        return value


class ErrorBody(_Model):
    code: str
    message: str
    details: dict[str, object] = Field(default_factory=dict)


class ErrorResponse(_Model):
    error: ErrorBody


def lapsed(record: ApprovalRecord, now: datetime | None) -> bool:
    """A `pending` approval past its `expiresAt`: it takes no vote any more (409
    APPROVAL_EXPIRED), and the run's timeout, which fires a short grace later (so that a
    vote accepted just before the deadline reaches the run first), will close it as
    `expired` with its `onTimeout` decision. Reads show it so already, never as open."""
    return (
        record.status.value == "pending"
        and now is not None
        and record.expires_at is not None
        and now >= record.expires_at
    )


def approval_view(record: ApprovalRecord, now: datetime | None = None) -> Approval:
    """The approval as the API shows it; `now` (reads) applies the deadline to `pending`."""
    if lapsed(record, now):
        timeout_decision = record.on_timeout if record.on_timeout != "fail" else None
        record = replace(
            record,
            status=ApprovalStatus.EXPIRED,
            decision=timeout_decision,
            decided_at=record.expires_at,
        )
    return Approval(
        id=record.approval_id,
        run_id=record.run_id,
        node_id=record.node_id,
        workflow_id=record.workflow_id,
        title=record.title,
        description=record.description,
        assignees=list(record.assignees),
        role=record.role,
        quorum=record.quorum,
        decisions=[
            Vote(
                by=v.decided_by,
                decision="reject" if v.decision == "reject" else "approve",
                comment=v.comment,
                decided_at=v.decided_at,
            )
            for v in record.decisions
        ],
        requested_at=record.requested_at,
        expires_at=record.expires_at,
        status=record.status.value,
        decision=record.decision,
        decided_by=record.decided_by,
        decided_at=record.decided_at,
        comment=record.comment,
        on_timeout=record.on_timeout,
    )
