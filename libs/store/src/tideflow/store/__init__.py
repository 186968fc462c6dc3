"""Tideflow event store: the Postgres event log, projections, outbox and timers.

Events are stored as a type string and a JSON object; the store does not know the core's
event classes. `EventStore` is the port, `PostgresEventStore` the production adapter and
`InMemoryEventStore` the in-process one; both pass one contract suite. `migrate(dsn)`
brings a database up to date (`tide db migrate`).
"""

from tideflow.store._errors import (
    AlreadyExists,
    ConcurrencyConflict,
    Immutable,
    InvalidData,
    MigrationError,
    NotFound,
    RunConflict,
    StoreError,
    StoreUnavailable,
)
from tideflow.store._identity_ports import AuditLog, Identities, SecretStore
from tideflow.store._identity_records import (
    TENANT_NAME,
    ApiTokenRecord,
    AuditEntry,
    AuditRecord,
    RefreshTokenRecord,
    SecretRecord,
    SigningKeyRecord,
    TenantRecord,
    UserRecord,
)
from tideflow.store._memory import InMemoryEventStore
from tideflow.store._memory_identity import InMemoryIdentities
from tideflow.store._migrate import migrate
from tideflow.store._port import (
    DEFAULT_RETENTION,
    EventStore,
    OutboxStore,
    Retention,
    RunLog,
    RunQueries,
    StepLogStore,
    TimerStore,
    WorkflowStore,
)
from tideflow.store._postgres import PostgresEventStore, create_pool
from tideflow.store._records import (
    DEFAULT_TENANT,
    CommitBatch,
    CommitResult,
    FollowedEvent,
    JSONObject,
    LogClaim,
    LogLine,
    NewEvent,
    OutboxMessage,
    ProcessedCommand,
    RunAppend,
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

APP_ROLE = "tideflow_app"
"""The database role the migrations create for services: no UPDATE/DELETE on the log."""

__all__ = [
    "APP_ROLE",
    "DEFAULT_RETENTION",
    "DEFAULT_TENANT",
    "TENANT_NAME",
    "AlreadyExists",
    "ApiTokenRecord",
    "AuditEntry",
    "AuditLog",
    "AuditRecord",
    "CommitBatch",
    "CommitResult",
    "ConcurrencyConflict",
    "EventStore",
    "FollowedEvent",
    "Identities",
    "Immutable",
    "InMemoryEventStore",
    "InMemoryIdentities",
    "InvalidData",
    "JSONObject",
    "LogClaim",
    "LogLine",
    "MigrationError",
    "NewEvent",
    "NotFound",
    "OutboxMessage",
    "OutboxStore",
    "PostgresEventStore",
    "ProcessedCommand",
    "RefreshTokenRecord",
    "Retention",
    "RunAppend",
    "RunConflict",
    "RunCursor",
    "RunFilter",
    "RunLog",
    "RunPage",
    "RunQueries",
    "RunRecord",
    "SecretRecord",
    "SecretStore",
    "SigningKeyRecord",
    "Snapshot",
    "StepLogStore",
    "StepRecord",
    "StoreError",
    "StoreUnavailable",
    "StoredEvent",
    "StoredLogLine",
    "StoredOutboxMessage",
    "TenantRecord",
    "Timer",
    "TimerKey",
    "TimerStore",
    "UserRecord",
    "WorkflowRecord",
    "WorkflowStore",
    "WorkflowVersion",
    "create_pool",
    "migrate",
]
