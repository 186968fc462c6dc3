"""Starting runs: resolve the version, validate the input, record the run, send StartRun.

The run row and the StartRun command are written in one transaction (the command as an
outbox row), so a run the API acknowledged always gets started: right away by our own
publish after the commit, or by the scheduler's outbox relay if that publish failed or
this process died in between. The outbox row is claimed for `settings.outbox_claim` (30 s)
so the relay leaves it to us meanwhile. Repeating a start with the same idempotency key
returns the run the first request created.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from tideflow.bus import BusError, Outgoing, encode_outgoing
from tideflow.core import (
    DefinitionError,
    Problem,
    StartRun,
    WorkflowDefinition,
    event_from_record,
    fork,
    ids,
    validate_input,
)
from tideflow.gateway.auth import Principal, Role
from tideflow.gateway.deps import Services
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.gateway.limits import check_size
from tideflow.gateway.safety import reject_nul
from tideflow.gateway.security import audit_entry
from tideflow.store import (
    AlreadyExists,
    AuditEntry,
    CommitBatch,
    NotFound,
    OutboxMessage,
    RunRecord,
    SentOutbox,
    WorkflowVersion,
)
from tideflow.telemetry import bound_run, tracer, tracing_enabled
from tideflow.wire import command_envelope

RUN_START_SPAN = "tideflow.run.start"

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Started:
    run: RunRecord
    created: bool


def problems_detail(problems: list[Problem]) -> dict[str, Any]:
    return {
        "problems": [
            {"code": str(p.code), "path": p.path, "message": p.message}
            | ({"node": p.node} if p.node else {})
            for p in problems
        ]
    }


def _version_error(workflow_id: str, version: int | None) -> ApiError:
    if version is not None:
        return ApiError(
            404,
            ErrorCode.VERSION_NOT_FOUND,
            f"workflow {workflow_id!r} has no published version {version}",
        )
    return ApiError(
        409,
        ErrorCode.NO_PUBLISHED_VERSION,
        f"workflow {workflow_id!r} has no published version; publish it first",
    )


def _definition(services: Services, tenant_id: str, version: WorkflowVersion) -> WorkflowDefinition:
    try:
        return services.versions.parse(tenant_id, version)
    except DefinitionError as e:
        raise ApiError(
            409,
            ErrorCode.INVALID_DEFINITION,
            f"version {version.version} no longer validates; publish a fixed version",
            problems_detail(e.problems),
        ) from e


def _check_input(services: Services, definition: WorkflowDefinition, value: Any) -> None:
    limit = services.settings.limits.input_bytes
    check_size(value, limit=limit, code=ErrorCode.INPUT_TOO_LARGE, what="the input")
    reject_nul(value, "input")
    problems = validate_input(definition, value)
    if problems:
        raise ApiError(
            422,
            ErrorCode.INPUT_INVALID,
            "the input does not match the workflow's input schema",
            problems_detail(problems),
        )


async def _maybe(lookup: Awaitable[T]) -> T | None:
    """`lookup`'s result, or None when the store says `NotFound`."""
    try:
        return await lookup
    except NotFound:
        return None


async def _no_run() -> None:
    return None


def canonical_json(value: Any) -> bytes:
    """`value` as JSON with sorted keys: equal values, equal bytes (idempotent repeats)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _repeat(existing: RunRecord, key: str | None, input_value: Any, version: int | None) -> Started:
    """The earlier run of `key`, if this request asks for the same thing; 409 otherwise.

    A request without `version` means "the newest", so it matches whatever version the
    first request got: a retry after a publish still finds its run.
    """
    differs = [
        *(["input"] if canonical_json(existing.input) != canonical_json(input_value) else []),
        *(["version"] if version is not None and version != existing.version else []),
    ]
    if differs:
        raise ApiError(
            409,
            ErrorCode.IDEMPOTENCY_CONFLICT,
            f"idempotency key {key!r} already started run {existing.run_id} with a different "
            f"{' and '.join(differs)}",
            {"runId": existing.run_id, "differs": differs, "version": existing.version},
        )
    return Started(existing, created=False)


async def start_run(
    services: Services,
    principal: Principal,
    workflow_id: str,
    *,
    input_value: Any,
    version: int | None,
    idempotency_key: str | None,
) -> Started:
    """Record a new run (or find the one `idempotency_key` already started) and send it.

    The workflow, the version and the idempotent repeat are looked up concurrently (three
    independent reads: one round trip of latency instead of three); the answers are then
    judged in the order the contract gives them priority.
    """
    store, tenant = services.store, principal.tenant_id
    workflow, published, existing = await asyncio.gather(
        _maybe(store.get_workflow(workflow_id, tenant_id=tenant)),
        _maybe(store.get_version(workflow_id, version, tenant_id=tenant)),
        store.find_run_by_idempotency_key(workflow_id, idempotency_key, tenant_id=tenant)
        if idempotency_key is not None
        else _no_run(),
    )
    if workflow is None:
        raise ApiError(404, ErrorCode.WORKFLOW_NOT_FOUND, f"no workflow {workflow_id!r}")
    # the role is checked once the workflow is known to be the caller's: another tenant's
    # workflow is a 404 whatever the role (nothing to probe), a viewer's start a 403
    principal.require(Role.EDITOR)
    if workflow.archived:
        raise ApiError(409, ErrorCode.WORKFLOW_ARCHIVED, f"workflow {workflow_id!r} is archived")
    if existing is not None:
        return _repeat(existing, idempotency_key, input_value, version)
    if published is None:
        raise _version_error(workflow_id, version)
    definition = _definition(services, tenant, published)
    _check_input(services, definition, input_value)
    await services.security.check_rate(tenant, "runs")
    run_id = str(uuid.uuid4())
    command = StartRun(
        command_id=ids.start_command_id(run_id),
        run_id=run_id,
        workflow=workflow_id,
        version=published.version,
        definition=definition,
        input=input_value,
    )
    record = RunRecord(
        run_id=run_id,
        workflow_id=workflow_id,
        version=published.version,
        status="pending",
        tenant_id=tenant,
        input=input_value,
        idempotency_key=idempotency_key,
        started_at=datetime.now(UTC),
    )
    audit = audit_entry(
        principal,
        "run.start",
        f"run/{run_id}",
        details={"workflow": workflow_id, "version": published.version},
    )
    try:
        stored = await _record_and_send(services, command, record, audit)
    except AlreadyExists:
        if idempotency_key is None:
            raise
        # a concurrent request with the same key won the race: answer with its run
        existing = await store.find_run_by_idempotency_key(
            workflow_id, idempotency_key, tenant_id=tenant
        )
        if existing is None:
            raise
        return _repeat(existing, idempotency_key, input_value, version)
    services.metrics.runs_started.labels(kind="start").inc()
    return Started(stored, created=True)


async def replay_run(
    services: Services,
    principal: Principal,
    source: RunRecord,
    *,
    from_seq: int,
    new_input: Any,
    input_given: bool,
) -> RunRecord:
    """A new run continuing from the state of `source` after event `from_seq`."""
    await services.security.check_rate(principal.tenant_id, "runs")
    records = await services.store.read(source.run_id, tenant_id=source.tenant_id)
    if not 1 <= from_seq <= len(records):
        raise ApiError(
            422,
            ErrorCode.SEQ_OUT_OF_RANGE,
            f"fromSeq must be between 1 and {len(records)} for this run",
            {"lastSeq": len(records)},
        )
    events = [event_from_record(r.type, r.data) for r in records]
    run_id = str(uuid.uuid4())
    try:
        if input_given:
            command = fork(
                events,
                from_seq,
                run_id=run_id,
                command_id=ids.start_command_id(run_id),
                input=new_input,
            )
        else:
            command = fork(events, from_seq, run_id=run_id, command_id=ids.start_command_id(run_id))
    except ValueError as e:
        raise ApiError(422, ErrorCode.SEQ_OUT_OF_RANGE, str(e)) from e
    if input_given:
        _check_input(services, command.definition, new_input)
    record = RunRecord(
        run_id=run_id,
        workflow_id=source.workflow_id,
        version=command.version,
        status="pending",
        tenant_id=principal.tenant_id,
        input=command.input,
        parent_run_id=source.parent_run_id,
        replay_of=source.run_id,
        started_at=datetime.now(UTC),
    )
    stored = await _record_and_send(services, command, record)
    services.metrics.runs_started.labels(kind="replay").inc()
    return stored


async def _record_and_send(
    services: Services, command: StartRun, record: RunRecord, audit: AuditEntry | None = None
) -> RunRecord:
    """`_commit_and_publish` in the span that starts the run's trace (the scheduler's
    `tracing` module follows it further)."""
    if not tracing_enabled():
        with bound_run(record.run_id):
            return await _commit_and_publish(services, command, record, audit)
    attributes: dict[str, str | int] = {
        "tideflow.run_id": record.run_id,
        "tideflow.workflow": record.workflow_id,
        "tideflow.workflow.version": record.version,
        "tideflow.tenant_id": record.tenant_id,
    }
    with (
        bound_run(record.run_id),
        tracer().start_as_current_span(RUN_START_SPAN, attributes=attributes),
    ):
        return await _commit_and_publish(services, command, record, audit)


async def _commit_and_publish(
    services: Services, command: StartRun, record: RunRecord, audit: AuditEntry | None
) -> RunRecord:
    """Commit the run with its outbox row (and its audit entry), publish, and answer with
    the run as committed.

    `record` carries its own `started_at`, so it is exactly the row written: no read back.
    Dropping the outbox row after the publish is cleanup, so it rides along with a later
    start's commit (`OutboxDrops`).
    """
    store, bus = services.store, services.bus
    envelope = command_envelope(command, tenant_id=record.tenant_id)
    # encoded once: the outbox row holds what is published (same headers if relayed)
    raw = encode_outgoing(Outgoing(bus.topics.runs, record.run_id, envelope))
    # earlier starts' sent rows of this tenant ride along (the commit is scoped to it)
    sent = services.outbox_drops.take(record.tenant_id)
    commit = CommitBatch(
        runs=[record],
        outbox=[
            OutboxMessage(
                topic=raw.topic,
                payload=raw.value,
                key=raw.key,
                headers=raw.headers,
                tenant_id=record.tenant_id,
            )
        ],
        outbox_claimed_for=services.settings.outbox_claim,
        audit=() if audit is None else (audit,),
        sent_outbox=sent,
    )
    try:
        result = await store.commit_batch(commit)
    except BaseException:
        services.outbox_drops.add(sent)
        raise
    try:
        await bus.publish_raw_batch([raw])
    except BusError:
        services.bus_health.failing = True
        log.warning("publishing StartRun of %s failed; the outbox relay will", record.run_id)
    else:
        services.bus_health.failing = False
        services.outbox_drops.add(SentOutbox(i, record.tenant_id) for i in result.outbox_ids)
    return record
