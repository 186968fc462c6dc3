"""asyncpg rows to store records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.store._records import (
    RunRecord,
    Snapshot,
    StepRecord,
    StoredEvent,
    StoredLogLine,
    StoredOutboxMessage,
    Timer,
    WorkflowRecord,
    WorkflowVersion,
)

if TYPE_CHECKING:
    import asyncpg


def event(row: asyncpg.Record) -> StoredEvent:
    return StoredEvent(
        run_id=row["run_id"],
        seq=row["seq"],
        type=row["type"],
        data=row["data"],
        recorded_at=row["recorded_at"],
        position=row["position"],
        tenant_id=row["tenant_id"],
    )


def run(row: asyncpg.Record) -> RunRecord:
    return RunRecord(**dict(row.items()))


def step(row: asyncpg.Record) -> StepRecord:
    return StepRecord(**dict(row.items()))


def snapshot(row: asyncpg.Record) -> Snapshot:
    return Snapshot(**dict(row.items()))


def timer(row: asyncpg.Record) -> Timer:
    return Timer(**dict(row.items()))


def log_line(row: asyncpg.Record) -> StoredLogLine:
    return StoredLogLine(**dict(row.items()))


def workflow(row: asyncpg.Record) -> WorkflowRecord:
    return WorkflowRecord(**dict(row.items()))


def version(row: asyncpg.Record) -> WorkflowVersion:
    return WorkflowVersion(**dict(row.items()))


def outbox_message(row: asyncpg.Record) -> StoredOutboxMessage:
    return StoredOutboxMessage(
        id=row["id"],
        topic=row["topic"],
        payload=row["payload"],
        key=row["key"],
        headers=tuple(zip(row["header_keys"], row["header_values"], strict=True)),
        created_at=row["created_at"],
        tenant_id=row["tenant_id"],
    )
