"""The rows the store reads and writes, as plain frozen dataclasses.

The store knows nothing of the core's event classes: an event is a type string and a JSON
object, and projections are generic rows that the scheduler computes. That keeps the
adapter independent of the state machine and lets the core evolve its events freely.
"""

from __future__ import annotations

# Imported at run time (not under TYPE_CHECKING) so that pydantic or FastAPI can resolve
# the dataclasses' annotations when the gateway uses them in its models.
from collections.abc import Sequence  # noqa: TC003
from dataclasses import dataclass, field
from datetime import datetime, timedelta  # noqa: TC003
from typing import Any, NamedTuple

from tideflow.store._identity_records import AuditEntry  # noqa: TC001 - a dataclass field

DEFAULT_TENANT = "default"

JSONObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: the store assigns seq, position and recorded_at."""

    type: str
    data: JSONObject


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as recorded in the log."""

    run_id: str
    seq: int
    type: str
    data: JSONObject
    recorded_at: datetime
    position: int
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class RunAppend:
    """Events for one run in a batch, valid only if the run's last seq is `expected_seq`."""

    run_id: str
    expected_seq: int
    events: Sequence[NewEvent]
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The `runs` projection row. `last_seq` is overwritten by the store when the same
    commit appends events to the run, so it always matches the log."""

    run_id: str
    workflow_id: str
    version: int
    status: str
    tenant_id: str = DEFAULT_TENANT
    input: Any = None
    output: Any = None
    error: Any = None
    parent_run_id: str | None = None
    replay_of: str | None = None
    idempotency_key: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    updated_at: datetime | None = None
    last_seq: int = 0
    traceparent: str | None = None
    """W3C trace context of the run's trace (None: untraced; a later None keeps it)."""


@dataclass(frozen=True, slots=True)
class StepRecord:
    """The `run_steps` projection row: the latest attempt of one node of one run."""

    run_id: str
    node_id: str
    status: str
    attempt: int = 1
    tenant_id: str = DEFAULT_TENANT
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: Any = None
    output: Any = None
    child_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The folded state of a run after event `seq`, to skip replaying the whole log."""

    run_id: str
    seq: int
    state: JSONObject
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A Kafka message to publish once the transaction that wrote it has committed."""

    topic: str
    payload: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class SentOutbox:
    """An outbox row whose message went out: a later commit of the same writer deletes it
    (`CommitBatch.sent_outbox`), or `OutboxDrops` does when none comes soon."""

    id: int
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class StoredOutboxMessage:
    """An outbox row handed to a relay; delete it by `id` once Kafka has acknowledged it."""

    id: int
    topic: str
    payload: bytes
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    created_at: datetime
    tenant_id: str = DEFAULT_TENANT


class TimerKey(NamedTuple):
    """What identifies a timer: its id is unique within its run only (`pause/delay/1`)."""

    run_id: str
    timer_id: str


@dataclass(frozen=True, slots=True)
class Timer:
    """A durable timer. Scheduling an existing key replaces it (and releases any claim)."""

    timer_id: str
    run_id: str
    fire_at: datetime
    kind: str
    payload: JSONObject = field(default_factory=dict)
    tenant_id: str = DEFAULT_TENANT

    @property
    def key(self) -> TimerKey:
        """The timer's identity among the timers of every run."""
        return TimerKey(self.run_id, self.timer_id)


@dataclass(frozen=True, slots=True)
class ProcessedCommand:
    """Idempotency record: the effects of `command_id` are committed."""

    command_id: str
    run_id: str | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class CommitBatch:
    """Everything one scheduler batch writes, committed in one transaction or not at all.

    `outbox_claimed_for` inserts the outbox rows already claimed by the committer for that
    long, so relays leave them to the scheduler that publishes them right after the commit
    and only pick them up if it crashed.
    """

    appends: Sequence[RunAppend] = ()
    runs: Sequence[RunRecord] = ()
    steps: Sequence[StepRecord] = ()
    snapshots: Sequence[Snapshot] = ()
    outbox: Sequence[OutboxMessage] = ()
    outbox_claimed_for: timedelta | None = None
    timers: Sequence[Timer] = ()
    cancel_timers: Sequence[TimerKey] = ()
    processed: Sequence[ProcessedCommand] = ()
    audit: Sequence[AuditEntry] = ()
    """Audit-log entries of the change, recorded with it or not at all (a run start)."""
    sent_outbox: Sequence[SentOutbox] = ()
    """Rows of earlier commits whose messages went out: their cleanup rides along instead
    of being a transaction (and an fsync) of its own. Deleted only if this commits."""


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What a commit recorded: the stored events per run and the ids of its outbox rows."""

    events: dict[str, list[StoredEvent]]
    outbox_ids: list[int]


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Run list criteria; `None` means "any". Start times are [started_after, started_before)."""

    tenant_id: str | None = DEFAULT_TENANT
    workflow_id: str | None = None
    statuses: tuple[str, ...] | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    parent_run_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunCursor:
    """Keyset position in a run list ordered by (started_at, run_id) descending."""

    started_at: datetime
    run_id: str


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of runs and the cursor of the next page (None on the last page)."""

    runs: list[RunRecord]
    next_cursor: RunCursor | None


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """A workflow and its mutable draft; `revision` increments on every draft update."""

    workflow_id: str
    name: str
    draft: JSONObject
    revision: int
    archived: bool
    created_at: datetime
    updated_at: datetime
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class WorkflowVersion:
    """An immutable published version; `source_version` is set when it is a rollback."""

    workflow_id: str
    version: int
    definition: JSONObject
    published_at: datetime
    published_by: str | None = None
    source_version: int | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class LogLine:
    """A log line emitted by a step attempt; `ts` defaults to the time of writing."""

    run_id: str
    node_id: str
    level: str
    message: str
    attempt: int = 1
    ts: datetime | None = None
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class StoredLogLine:
    """A recorded log line; follow a run's logs with `after_id`."""

    id: int
    run_id: str
    node_id: str
    level: str
    message: str
    attempt: int
    ts: datetime
    tenant_id: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class FollowedEvent:
    """An event of the log with its run's workflow, as the public stream describes it.

    The workflow id and version come from the `runs` row (written in the same transaction
    as the run's first event), so a follower that starts in the middle of a run needs no
    history; "" and 0 when the log has no such run row (events appended outside a batch).
    """

    event: StoredEvent
    workflow_id: str
    version: int


class LogClaim:
    """A follower's hold on its place in the log for one batch (see `EventStore.follow`).

    `advance` only records where the follower got to; the store writes it when the `follow`
    block ends without an exception, so an error (e.g. Kafka refusing the batch) leaves the
    position where it was and the same events are read again next time.
    """

    __slots__ = ("advanced_to", "events", "name", "position")

    def __init__(self, name: str, position: int, events: list[FollowedEvent]) -> None:
        self.name = name
        self.position = position
        self.events = events
        self.advanced_to: int | None = None

    def advance(self, position: int) -> None:
        """Move the follower to `position` once the block ends well; never backwards."""
        if position < self.position:
            raise ValueError(f"follower {self.name} cannot move back to {position}")
        self.advanced_to = position
