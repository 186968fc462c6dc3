"""A run whose StartRun the scheduler cannot decide ends `failed`, never stays `pending`.

The gateway (or a trigger, or a parent run) has already answered with the run's id, so
someone is waiting on it: when its start is dead-lettered (its workflow is not published,
or the command is unprocessable), the run is closed in the log with one `RunFailed` event
whose error names the reason, and its `runs` row says `failed`. Later commands to the run
decide nothing (it is terminal); a redelivered StartRun finds it started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.core import RunError, RunFailed, event_to_record
from tideflow.store import CommitBatch, NewEvent, RunAppend, RunRecord

if TYPE_CHECKING:
    from datetime import datetime

    from tideflow.wire import StartRequest

START_REJECTED = "StartRejected"
"""Error type of a run whose start was unprocessable (the reason says why)."""
MAX_REASON = 4096


def rejected_start_batch(
    request: StartRequest,
    *,
    error_type: str,
    reason: str,
    now: datetime,
    keep_input: bool,
    after_seq: int = 0,
) -> CommitBatch:
    """The commit that fails a run that never started.

    `keep_input` writes the request's input back to the row (the gateway stored it); it
    is dropped when the input itself may be what could not be written. `after_seq`: the
    events the run has (signals that came before its start).
    """
    message = reason.replace("\x00", "\\u0000")[:MAX_REASON]
    error = RunError(type=error_type, message=message)
    failed = RunFailed(at=now, command_id=request.command_id, error=error)
    event_type, data = event_to_record(failed)
    record = RunRecord(
        run_id=request.run_id,
        workflow_id=request.workflow,
        version=request.version,
        status="failed",
        tenant_id=request.tenant_id,
        input=request.input if keep_input else None,
        error=error.model_dump(mode="json"),
        parent_run_id=request.parent.run_id if request.parent else None,
        replay_of=request.replay_of.run_id if request.replay_of else None,
        ended_at=now,
        last_seq=after_seq + 1,
    )
    append = RunAppend(
        run_id=request.run_id,
        expected_seq=after_seq,
        events=[NewEvent(event_type, data)],
        tenant_id=request.tenant_id,
    )
    return CommitBatch(appends=[append], runs=[record])
