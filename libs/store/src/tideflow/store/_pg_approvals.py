"""The approval inbox on Postgres (asyncpg)."""

# ruff: noqa: S608 - the statements join fixed column lists, never input

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from tideflow.store import _pg_sql as sql
from tideflow.store._approvals import (
    ApprovalCursor,
    ApprovalFilter,
    ApprovalOutcome,
    ApprovalPage,
    ApprovalRecord,
    ApprovalStatus,
    ApprovalStore,
    ApprovalVote,
    Decided,
    Judge,
)
from tideflow.store._errors import NotFound
from tideflow.store._pg_errors import translated
from tideflow.store._pg_outbox import write_outbox
from tideflow.store._pg_scope import PLATFORM, scoped
from tideflow.store._records import DEFAULT_TENANT

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime, timedelta

    import asyncpg

    from tideflow.store._codecs import Connection

_COLUMNS = """approval_id, tenant_id, run_id, node_id, step, attempt, workflow_id, title,
    description, assignees, role, quorum, on_timeout, status, decision, decided_by, comment,
    decided_at, requested_at, expires_at"""

_INSERT = """
INSERT INTO approvals (approval_id, tenant_id, run_id, node_id, step, attempt, workflow_id,
    title, description, assignees, role, quorum, on_timeout, status, requested_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'pending', $14, $15)
ON CONFLICT (approval_id) DO NOTHING
"""

# The log is the source of truth: a decided or expired outcome overwrites what the service
# wrote when it closed the approval (a vote that lost the race with the timeout never
# applied); cancellation only ends an approval still open.
_OUTCOME = """
UPDATE approvals SET
    status = $2,
    decision = CASE WHEN $2 = 'cancelled' THEN decision ELSE $3 END,
    decided_by = CASE WHEN $2 = 'cancelled' THEN decided_by ELSE $4 END,
    comment = CASE WHEN $2 = 'cancelled' THEN comment ELSE $5 END,
    decided_at = CASE WHEN $2 = 'cancelled' THEN decided_at ELSE $6 END,
    updated_at = now()
WHERE approval_id = $1 AND ($2 IN ('decided', 'expired') OR status = 'pending')
"""

_GET = f"SELECT {_COLUMNS} FROM approvals WHERE approval_id = $1 AND tenant_id = $2"
_LOCK = f"{_GET} FOR UPDATE"
_VOTES = """
SELECT approval_id, decided_by, decision, comment, decided_at FROM approval_decisions
WHERE approval_id = ANY($1::text[]) ORDER BY decided_at, decided_by
"""
_INSERT_VOTE = """
INSERT INTO approval_decisions (approval_id, tenant_id, decided_by, decision, comment, decided_at)
VALUES ($1, $2, $3, $4, $5, $6)
"""
_CLOSE = """
UPDATE approvals SET status = 'decided', decision = $2, decided_by = $3, comment = $4,
    decided_at = $5, updated_at = now()
WHERE approval_id = $1
"""
# Closed approvals of finished runs, oldest first, in bounded batches (votes cascade).
_PURGE = """
DELETE FROM approvals WHERE approval_id IN (
    SELECT approval_id FROM approvals
    WHERE status <> 'pending' AND updated_at < $1
    ORDER BY updated_at LIMIT $2
)
"""
_LIST = f"""
SELECT {_COLUMNS} FROM approvals
WHERE tenant_id = $1
  AND ($2::text IS NULL
       OR (status = $2 AND NOT ($2 = 'pending' AND coalesce(expires_at <= $8, false)))
       OR ($2 = 'expired' AND status = 'pending' AND coalesce(expires_at <= $8, false)))
  AND ($3::text IS NULL OR workflow_id = $3)
  AND ($4::text IS NULL OR run_id = $4)
  AND ($5::timestamptz IS NULL OR (requested_at, approval_id) < ($5, $6))
ORDER BY requested_at DESC, approval_id DESC
LIMIT $7
"""


class PostgresApprovalStore(ApprovalStore):
    """`ApprovalStore` over a pool made by `create_pool` (JSON codecs installed)."""

    def __init__(self, pool: asyncpg.Pool, *, owns_pool: bool = False) -> None:
        self._pool = pool
        self._owns_pool = owns_pool

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 5, role: str | None = None
    ) -> Self:
        """Open a pool of its own (closed by `close`)."""
        from tideflow.store._postgres import create_pool  # noqa: PLC0415 - avoid a cycle

        pool = await create_pool(dsn, min_size=min_size, max_size=max_size, role=role)
        return cls(pool, owns_pool=True)

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()

    async def record_requests(self, approvals: Sequence[ApprovalRecord]) -> None:
        if not approvals:
            return
        with translated("record approvals"):
            async with scoped(self._pool, PLATFORM) as connection:
                await connection.executemany(
                    _INSERT,
                    [
                        (
                            a.approval_id,
                            a.tenant_id,
                            a.run_id,
                            a.node_id,
                            a.step,
                            a.attempt,
                            a.workflow_id,
                            a.title,
                            a.description,
                            list(a.assignees),
                            a.role,
                            a.quorum,
                            a.on_timeout,
                            a.requested_at,
                            a.expires_at,
                        )
                        for a in approvals
                    ],
                )

    async def record_outcomes(self, outcomes: Sequence[ApprovalOutcome]) -> None:
        if not outcomes:
            return
        with translated("record approval outcomes"):
            async with scoped(self._pool, PLATFORM) as connection:
                await connection.executemany(
                    _OUTCOME,
                    [
                        (
                            o.approval_id,
                            str(o.status),
                            o.decision,
                            o.decided_by,
                            o.comment,
                            o.decided_at,
                        )
                        for o in outcomes
                    ],
                )

    async def get_approval(
        self, approval_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> ApprovalRecord:
        with translated("get approval"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(_GET, approval_id, tenant_id)
                if row is None:
                    raise NotFound(f"no approval {approval_id}")
                return (await _with_votes(connection, [row]))[0]

    async def list_approvals(
        self, approval_filter: ApprovalFilter, *, limit: int, after: ApprovalCursor | None = None
    ) -> ApprovalPage:
        f = approval_filter
        with translated("list approvals"):
            async with scoped(self._pool, f.tenant_id) as connection:
                rows = await connection.fetch(
                    _LIST, f.tenant_id, str(f.status) if f.status else None, f.workflow_id,
                    f.run_id, after.requested_at if after else None,
                    after.approval_id if after else None, limit + 1, f.as_of,
                )  # fmt: skip
                items = await _with_votes(connection, rows[:limit])
        cursor = None
        if len(rows) > limit and items:
            cursor = ApprovalCursor(items[-1].requested_at, items[-1].approval_id)
        return ApprovalPage(items=items, next_cursor=cursor)

    async def decide(
        self,
        approval_id: str,
        judge: Judge,
        *,
        tenant_id: str = DEFAULT_TENANT,
        outbox_claimed_for: timedelta | None = None,
    ) -> Decided:
        with translated("decide approval"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(_LOCK, approval_id, tenant_id)
                if row is None:
                    raise NotFound(f"no approval {approval_id}")
                current = (await _with_votes(connection, [row]))[0]
                judgement = judge(current)
                vote = judgement.vote
                await connection.execute(
                    _INSERT_VOTE, approval_id, tenant_id, vote.decided_by, vote.decision,
                    vote.comment, vote.decided_at,
                )  # fmt: skip
                if judgement.closes_with is not None:
                    await connection.execute(
                        _CLOSE, approval_id, judgement.closes_with, vote.decided_by,
                        vote.comment, vote.decided_at,
                    )  # fmt: skip
                ids = await write_outbox(connection, judgement.outbox, outbox_claimed_for)
                row = await connection.fetchrow(_GET, approval_id, tenant_id)
                updated = (await _with_votes(connection, [row]))[0]
        return Decided(approval=updated, outbox_ids=ids, outbox=tuple(judgement.outbox))

    async def purge_closed(self, before: datetime, limit: int = 1000) -> int:
        with translated("purge approvals"):
            async with scoped(self._pool, PLATFORM) as connection:
                status = await connection.execute(_PURGE, before, limit)
        return int(status.split()[-1])

    async def delete_outbox(self, ids: Sequence[int]) -> None:
        if ids:
            with translated("delete outbox"):
                async with scoped(self._pool, PLATFORM) as connection:
                    await connection.execute(sql.DELETE_OUTBOX, list(ids))


async def _with_votes(connection: Connection, rows: Sequence[Any]) -> list[ApprovalRecord]:
    if not rows:
        return []
    votes: dict[str, list[ApprovalVote]] = {}
    for vote in await connection.fetch(_VOTES, [r["approval_id"] for r in rows]):
        votes.setdefault(vote["approval_id"], []).append(
            ApprovalVote(
                decided_by=vote["decided_by"],
                decision=vote["decision"],
                comment=vote["comment"],
                decided_at=vote["decided_at"],
            )
        )
    out = []
    for row in rows:
        values = dict(row.items())
        values["assignees"] = tuple(values["assignees"] or ())
        values["status"] = ApprovalStatus(values["status"])
        values["decisions"] = tuple(votes.get(values["approval_id"], ()))
        out.append(ApprovalRecord(**values))
    return out
