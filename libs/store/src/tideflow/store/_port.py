"""The store's narrow ports: one per concern, each naming the tenant it works for.

`RunLog` (the scheduler's event log and its followers), `RunQueries` (what the API reads
about runs), `WorkflowStore`, `OutboxStore`, `TimerStore`, `StepLogStore`, `Retention`, and
in `_identity_ports` `Identities`, `SecretStore` and `AuditLog`. A service asks for the
ports it uses; `EventStore` is all of them together, what an adapter implements and what a
composition root passes around. Reads that serve a caller take `tenant_id` and see only
that tenant's rows (row-level security in Postgres); `None` is the platform scope of the
scheduler's own cross-tenant work. Two implementations pass one contract suite per port:
`PostgresEventStore` (production) and `InMemoryEventStore` (tests, embedded use).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from tideflow.store._command_keys import CommandKeys
from tideflow.store._identity_ports import AuditLog, Identities, SecretStore
from tideflow.store._observability import Backlogs, RunTraces
from tideflow.store._records import (
    DEFAULT_TENANT,
    CommitBatch,
    CommitResult,
    JSONObject,
    LogClaim,
    LogLine,
    NewEvent,
    RunCursor,
    RunFilter,
    RunPage,
    RunRecord,
    Snapshot,
    StepRecord,
    StoredEvent,
    StoredLogLine,
    StoredOutboxMessage,
    Timer,
    TimerKey,
    WorkflowRecord,
    WorkflowVersion,
)

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Collection, Sequence
    from contextlib import AbstractAsyncContextManager

DEFAULT_RETENTION = timedelta(days=90)


TRUNCATED = "$truncated"
"""The key of the marker that stands for a value too large to load (`preview_over`)."""


class RunLog(Protocol):
    """The event log: optimistic appends, whole-batch commits, rebuilds and followers."""

    async def append(
        self,
        run_id: str,
        expected_seq: int,
        events: Sequence[NewEvent],
        *,
        tenant_id: str = DEFAULT_TENANT,
    ) -> list[StoredEvent]:
        """Append after `expected_seq` (0 for a new run) or raise `ConcurrencyConflict`."""
        ...

    async def commit_batch(self, batch: CommitBatch) -> CommitResult:
        """Write a whole scheduler batch atomically; any conflicting append aborts it all."""
        ...

    async def read(
        self,
        run_id: str,
        after_seq: int = 0,
        limit: int | None = None,
        *,
        tenant_id: str | None = None,
    ) -> list[StoredEvent]:
        """A run's events with seq > after_seq, in seq order ([] for another tenant's)."""
        ...

    async def read_many(self, run_ids: Collection[str]) -> dict[str, list[StoredEvent]]:
        """Every event of each run, in seq order (runs without events map to []).

        A scheduler batch loads all the runs it does not hold in memory at once: one round
        trip instead of one per run. This default reads run by run.
        """
        return {run_id: await self.read(run_id) for run_id in run_ids}

    async def load_runs(
        self, run_ids: Collection[str]
    ) -> dict[str, tuple[Snapshot | None, list[StoredEvent]]]:
        """For each run: its latest snapshot (if any) and the events after it.

        What a scheduler needs to rebuild runs it does not hold in memory, however long
        their logs are. This default reads run by run.
        """
        loaded: dict[str, tuple[Snapshot | None, list[StoredEvent]]] = {}
        for run_id in run_ids:
            snapshot = await self.latest_snapshot(run_id)
            after = snapshot.seq if snapshot is not None else 0
            loaded[run_id] = (snapshot, await self.read(run_id, after_seq=after))
        return loaded

    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Events of every run with position > after_position, in commit order."""
        ...

    async def last_position(self) -> int:
        """The highest committed position (0 when empty), where a new follower starts."""
        ...

    def follow(self, name: str, limit: int = 500) -> AbstractAsyncContextManager[LogClaim | None]:
        """Hold follower `name`'s place in the log and read up to `limit` events after it.

        Yields None while someone else holds it: exactly one holder at a time (a replica
        that dies releases it), so replicas can all try and only one reads each batch.
        A new name starts at position 0. The position moves only when the block ends
        without an exception after `LogClaim.advance`, which is how a publisher records
        its place durably *after* its messages were acknowledged (at-least-once).
        """
        ...

    async def follower_position(self, name: str) -> int:
        """Where follower `name` stands (0 if it never advanced), e.g. to report its lag."""
        ...

    async def latest_snapshot(self, run_id: str) -> Snapshot | None:
        """The snapshot with the highest seq, if any."""
        ...

    async def is_processed(self, command_ids: Collection[str]) -> set[str]:
        """The subset of `command_ids` whose effects are already committed."""
        ...


class RunQueries(Protocol):
    """The run projections the API reads, always for one tenant."""

    async def get_run(
        self, run_id: str, *, tenant_id: str | None = None, preview_over: int | None = None
    ) -> RunRecord:
        """The run's projection row, or `NotFound` (also for another tenant's run).

        With `preview_over`, an input, output or error whose JSON is longer than that
        comes back as `{"$truncated": {"bytes", "preview"}}` (`TRUNCATED`), cut before it
        is loaded: what an API answer about the run needs, whatever the run produced.
        """
        ...

    async def find_run_by_idempotency_key(
        self, workflow_id: str, idempotency_key: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> RunRecord | None:
        """The run started earlier with this idempotency key, if any."""
        ...

    async def list_runs(
        self, run_filter: RunFilter, *, limit: int = 50, after: RunCursor | None = None
    ) -> RunPage:
        """Runs newest first, keyset-paginated."""
        ...

    def watch_run_end(self, run_id: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """While entered, the event is set when the run's row turns terminal (written by
        any process). Enter it before reading the run, so an end in between is not missed;
        it may also be set without an end (the store lost its source of ends): read again."""
        ...

    async def get_steps(
        self, run_id: str, *, tenant_id: str | None = None, preview_over: int | None = None
    ) -> list[StepRecord]:
        """The run's step rows ordered by start time then node id (`preview_over` as in
        `get_run`, for each step's output and error)."""
        ...


class WorkflowStore(Protocol):
    """Drafts and immutable published versions, per tenant (names are per tenant)."""

    async def create_workflow(
        self, workflow_id: str, name: str, draft: JSONObject, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowRecord:
        """A new workflow with its first draft, or `AlreadyExists`."""
        ...

    async def get_workflow(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowRecord:
        """The workflow and its draft, or `NotFound`."""
        ...

    async def list_workflows(
        self, *, tenant_id: str = DEFAULT_TENANT, include_archived: bool = False
    ) -> list[WorkflowRecord]:
        """Workflows ordered by id."""
        ...

    async def update_draft(
        self,
        workflow_id: str,
        draft: JSONObject,
        *,
        name: str | None = None,
        expected_revision: int | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> WorkflowRecord:
        """Replace the draft; with `expected_revision`, `ConcurrencyConflict` if it moved."""
        ...

    async def set_archived(
        self, workflow_id: str, archived: bool, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowRecord:
        """Archive (hide, freeze) or restore a workflow."""
        ...

    async def publish(
        self,
        workflow_id: str,
        *,
        definition: JSONObject | None = None,
        published_by: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> WorkflowVersion:
        """Publish `definition` (default: the current draft) as the next version number."""
        ...

    async def rollback(
        self,
        workflow_id: str,
        version: int,
        *,
        published_by: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> WorkflowVersion:
        """Publish an old version's definition again as a new version."""
        ...

    async def get_version(
        self, workflow_id: str, version: int | None = None, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowVersion:
        """A published version (default: the latest), or `NotFound`."""
        ...

    async def list_versions(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> list[WorkflowVersion]:
        """Every published version, oldest first."""
        ...


class OutboxStore(Protocol):
    """Messages committed with the events that caused them, until Kafka has them."""

    async def claim_outbox(
        self, limit: int, *, lease: timedelta = timedelta(seconds=30)
    ) -> list[StoredOutboxMessage]:
        """Claim unclaimed (or lease-expired) outbox rows, oldest first, for one relay."""
        ...

    async def delete_outbox(self, ids: Collection[int]) -> None:
        """Forget rows Kafka has acknowledged."""
        ...


class TimerStore(Protocol):
    """Durable timers, claimed under a lease by one scheduler replica at a time."""

    async def schedule_timers(self, timers: Sequence[Timer]) -> None:
        """Create or replace timers outside a batch (e.g. from the gateway)."""
        ...

    async def claim_due_timers(self, now: datetime, limit: int, lease: timedelta) -> list[Timer]:
        """Claim timers due at `now` that nobody holds; each is handed to one claimer per lease."""
        ...

    async def complete_timers(self, timers: Collection[TimerKey]) -> None:
        """Delete fired timers once their `FireTimer` command is durable.

        Timer ids are unique within their run only, so timers are named by `TimerKey`.
        """
        ...


class StepLogStore(Protocol):
    """Step log lines: written by the scheduler from results, read per tenant by the API."""

    async def append_logs(self, lines: Sequence[LogLine]) -> list[StoredLogLine]:
        """Record step log lines."""
        ...

    async def read_logs(
        self,
        run_id: str,
        *,
        node_id: str | None = None,
        after_id: int = 0,
        limit: int | None = None,
        tenant_id: str | None = None,
    ) -> list[StoredLogLine]:
        """A run's log lines in write order, optionally for one node."""
        ...


class Retention(Protocol):
    """Bulk removal of old runs, off the hot path."""

    async def purge_runs_older_than(self, cutoff: datetime, batch_size: int = 500) -> int:
        """Delete finished runs that ended before `cutoff` with all their rows; the count."""
        ...


class EventStore(
    RunLog,
    RunQueries,
    WorkflowStore,
    OutboxStore,
    TimerStore,
    StepLogStore,
    Retention,
    CommandKeys,
    Backlogs,
    RunTraces,
    Identities,
    SecretStore,
    AuditLog,
    Protocol,
):
    """Every port at once: what an adapter implements and a composition root wires."""
