"""Runs: start, list, read, time travel, replay, cancel and signal.

Reads come from the `runs`/`run_steps` projections, except time travel, which folds the
event log with the core (`state_at`) so the answer is exactly what the engine saw. Cancel
and signals are commands published straight to `tideflow.runs`; the scheduler decides
what they mean for the run, so the API only refuses what can never apply (unknown run,
run already ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status

from tideflow.bus import BusError, Outgoing
from tideflow.core import (
    Cancel,
    Command,
    DefinitionError,
    RunState,
    Signal,
    event_from_record,
    state_at,
)
from tideflow.gateway import schemas, views
from tideflow.gateway.auth import Principal, Role
from tideflow.gateway.budget import ValueBudget, encoded_size
from tideflow.gateway.cursors import decode_run_cursor, encode_run_cursor
from tideflow.gateway.deps import PrincipalDep, Services, ServicesDep
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.gateway.keyed import KeyedCommand, key_conflict
from tideflow.gateway.limits import check_size
from tideflow.gateway.safety import reject_nul
from tideflow.gateway.starting import replay_run, start_run
from tideflow.store import (
    TERMINAL_STATUSES,
    NotFound,
    RunFilter,
    RunRecord,
    StoredEvent,
)
from tideflow.wire import command_envelope

log = logging.getLogger(__name__)

router = APIRouter(prefix="/runs", tags=["runs"])

RunId = Annotated[str, Path(pattern=schemas.RUN_ID_PATTERN)]
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "compensated"})


def _budget(services: Services) -> ValueBudget:
    return ValueBudget(services.settings.limits)


async def load_run(
    services: Services, principal: Principal, run_id: str, *, preview_over: int | None = None
) -> RunRecord:
    """The run if it exists in the caller's tenant; 404 otherwise (no existence leak)."""
    try:
        run = await services.store.get_run(
            run_id, tenant_id=principal.tenant_id, preview_over=preview_over
        )
    except NotFound:
        run = None
    if run is None or run.tenant_id != principal.tenant_id:
        raise ApiError(404, ErrorCode.RUN_NOT_FOUND, f"no run {run_id!r}")
    return run


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Run,
    responses={200: {"model": schemas.Run, "description": "An earlier run with the same key."}},
)
async def start_any_run(
    body: schemas.StartRunAnyBody,
    services: ServicesDep,
    principal: PrincipalDep,
    response: Response,
) -> schemas.Run:
    """Same as `POST /workflows/{workflowId}/runs`, with the workflow in the body."""
    started = await start_run(
        services,
        principal,
        body.workflow_id,
        input_value=body.input,
        version=body.version,
        idempotency_key=body.idempotency_key,
    )
    if started.created:
        return views.run_view(
            started.run, [], _budget(services)
        )  # just recorded: no step has run yet
    response.status_code = status.HTTP_200_OK
    over = ValueBudget.preview_over(services.settings.limits)
    steps = await services.store.get_steps(
        started.run.run_id, tenant_id=principal.tenant_id, preview_over=over
    )
    return views.run_view(started.run, steps, _budget(services))


def _check_time(value: datetime | None) -> None:
    """422 for a time without an offset, or one outside what UTC can hold."""
    if value is None:
        return
    if value.tzinfo is None:
        raise ApiError(
            422, ErrorCode.VALIDATION_FAILED, "times need a UTC offset, e.g. 2025-01-01T00:00Z"
        )
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ApiError(
            422,
            ErrorCode.VALIDATION_FAILED,
            f"{value.isoformat()} is out of range once converted to UTC",
        ) from None


@router.get("", response_model=schemas.Page[schemas.RunSummary])
async def list_runs(
    *,
    services: ServicesDep,
    principal: PrincipalDep,
    workflow_id: Annotated[
        str | None, Query(alias="workflowId", pattern=schemas.WORKFLOW_ID_PATTERN)
    ] = None,
    status_: Annotated[
        list[str] | None,
        Query(
            alias="status",
            description="Repeat or comma-separate: " + ", ".join(schemas.RUN_STATUSES),
        ),
    ] = None,
    started_after: Annotated[datetime | None, Query(alias="startedAfter")] = None,
    started_before: Annotated[datetime | None, Query(alias="startedBefore")] = None,
    parent_run_id: Annotated[
        str | None, Query(alias="parentRunId", pattern=schemas.RUN_ID_PATTERN)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> schemas.Page[schemas.RunSummary]:
    """Runs newest first; `startedAfter` is inclusive, `startedBefore` exclusive."""
    principal.require(Role.VIEWER)
    statuses = None
    if status_:
        statuses = tuple(s.strip() for value in status_ for s in value.split(",") if s.strip())
        unknown = sorted(set(statuses) - set(schemas.RUN_STATUSES))
        if unknown:
            raise ApiError(
                422,
                ErrorCode.VALIDATION_FAILED,
                f"unknown run status {', '.join(unknown)}",
                {"allowed": list(schemas.RUN_STATUSES)},
            )
    for value in (started_after, started_before):
        _check_time(value)
    page = await services.store.list_runs(
        RunFilter(
            tenant_id=principal.tenant_id,
            workflow_id=workflow_id,
            statuses=statuses or None,
            started_after=started_after,
            started_before=started_before,
            parent_run_id=parent_run_id,
        ),
        limit=min(limit, services.settings.page_size_max),
        after=decode_run_cursor(cursor) if cursor else None,
    )
    return schemas.Page[schemas.RunSummary](
        items=[views.run_summary(r) for r in page.runs],
        next_cursor=encode_run_cursor(page.next_cursor) if page.next_cursor else None,
    )


MAX_WAIT_S = 60.0


@router.get("/{run_id}", response_model=schemas.Run)
async def get_run(
    run_id: RunId,
    services: ServicesDep,
    principal: PrincipalDep,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_S,
            description="Seconds to wait for the run to end before answering (long poll, "
            "at most 60); the answer comes as soon as the run ends, or with the run as it "
            "is when the time is up. 0: answer at once.",
        ),
    ] = 0,
) -> schemas.Run:
    """The run with its steps (latest attempt of each)."""
    principal.require(Role.VIEWER)
    if wait <= 0:
        return await _run_answer(services, principal, run_id)
    # watching starts before the first read, so an end in between still wakes us; that
    # read is the run row alone (its steps are read once, for the answer)
    over = ValueBudget.preview_over(services.settings.limits)
    async with services.store.watch_run_end(run_id) as ended:
        run = await load_run(services, principal, run_id, preview_over=over)
        if run.status in TERMINAL_STATUSES:
            steps = await services.store.get_steps(
                run_id, tenant_id=principal.tenant_id, preview_over=over
            )
            return views.run_view(run, steps, _budget(services))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await ended.wait()
    return await _run_answer(services, principal, run_id)


async def _run_answer(services: Services, principal: Principal, run_id: str) -> schemas.Run:
    # both reads at once (one round trip of latency); the steps of a run the caller may
    # not see are dropped unread, so nothing leaks
    over = ValueBudget.preview_over(services.settings.limits)
    steps = services.store.get_steps(run_id, tenant_id=principal.tenant_id, preview_over=over)
    run, found = await asyncio.gather(
        load_run(services, principal, run_id, preview_over=over), steps
    )
    return views.run_view(run, found, _budget(services))


@router.get("/{run_id}/state", response_model=schemas.RunState)
async def get_state(
    run_id: RunId,
    services: ServicesDep,
    principal: PrincipalDep,
    at_seq: Annotated[
        int | None,
        Query(alias="atSeq", description="Event seq (1-based); default: the latest."),
    ] = None,
) -> schemas.RunState:
    """Time travel: the run exactly as it was right after event `atSeq`."""
    principal.require(Role.VIEWER)
    run = await load_run(services, principal, run_id)
    state, seq = await _state(services, run_id, at_seq, principal.tenant_id)
    return views.state_view(run, state, seq, _budget(services))


async def _state(
    services: Services, run_id: str, at_seq: int | None, tenant_id: str
) -> tuple[RunState, int]:
    """The run folded up to `at_seq` (default: every event), and the seq it stopped at."""
    records = await services.store.read(run_id, tenant_id=tenant_id)
    seq = len(records) if at_seq is None else at_seq
    if not 1 <= seq <= len(records):
        raise ApiError(
            422,
            ErrorCode.SEQ_OUT_OF_RANGE,
            f"atSeq must be between 1 and {len(records)} for this run"
            if records
            else "the run has no events yet",
            {"lastSeq": len(records)},
        )
    # decoding and folding a big run takes seconds of CPU: off the event loop, so other
    # requests (and, under `tide dev`, other runs) go on meanwhile
    return await asyncio.to_thread(_fold, records[:seq], seq), seq


def _fold(records: Sequence[StoredEvent], seq: int) -> RunState:
    return state_at([event_from_record(r.type, r.data) for r in records], seq)


@router.get("/{run_id}/value", response_model=schemas.Value)
async def get_value(
    *,
    run_id: RunId,
    services: ServicesDep,
    principal: PrincipalDep,
    field: Annotated[
        Literal["input", "output", "error", "vars"],
        Query(description="Which value; `nodeId` narrows `output`/`error` to one step."),
    ],
    node_id: Annotated[str | None, Query(alias="nodeId", pattern=schemas.STEP_ID_PATTERN)] = None,
    at_seq: Annotated[
        int | None,
        Query(alias="atSeq", description="As of this event (time travel); default: now."),
    ] = None,
) -> schemas.Value:
    """One whole value of a run, the link of a `$truncated` marker in a run answer."""
    principal.require(Role.VIEWER)
    run = await load_run(services, principal, run_id)
    if at_seq is not None or field == "vars":
        state, _ = await _state(services, run_id, at_seq, principal.tenant_id)
        found, value = views.state_value(state, field, node_id)
    elif node_id is None:
        found, value = True, {"input": run.input, "output": run.output, "error": run.error}[field]
    else:
        found_steps = await services.store.get_steps(run_id, tenant_id=principal.tenant_id)
        steps = {s.node_id: s for s in found_steps}
        step = steps.get(node_id)
        found = step is not None and field in {"output", "error"}
        value = getattr(step, field, None) if found else None
    if not found:
        raise ApiError(
            404, ErrorCode.STEP_NOT_FOUND, f"run {run_id!r} has no {field} of step {node_id!r}"
        )
    size, _ = encoded_size(value)
    limit = int(services.settings.limits.value_bytes)
    if size > limit:
        raise ApiError(
            422,
            ErrorCode.VALUE_TOO_LARGE,
            f"the value is {size} bytes, over TIDEFLOW_LIMITS_VALUE_BYTES ({limit})",
            {"bytes": size, "limit": limit},
        )
    return schemas.Value(value=value, bytes=size)


@router.get("/{run_id}/events", response_model=schemas.EventPage)
async def list_events(
    run_id: RunId,
    services: ServicesDep,
    principal: PrincipalDep,
    after_seq: Annotated[int, Query(alias="afterSeq", ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> schemas.EventPage:
    """The event history in seq order, after `afterSeq`."""
    principal.require(Role.VIEWER)
    await load_run(services, principal, run_id)
    events = await services.store.read(run_id, after_seq, limit + 1, tenant_id=principal.tenant_id)
    budget = _budget(services)
    items: list[schemas.Event] = []
    for event in events[:limit]:
        if items and budget.remaining <= 0:  # the page is full: the rest on the next one
            break
        items.append(views.event_view(event, budget))
    more = len(events) > len(items)
    return schemas.EventPage(items=items, next_after_seq=items[-1].seq if more else None)


@router.post("/{run_id}/replay", status_code=status.HTTP_201_CREATED, response_model=schemas.Run)
async def replay(
    run_id: RunId, body: schemas.ReplayBody, services: ServicesDep, principal: PrincipalDep
) -> schemas.Run:
    """A new run that continues from the state after event `fromSeq`, linked to this one."""
    source = await load_run(services, principal, run_id)  # 404 before 403: no probing
    principal.require(Role.EDITOR)
    started = await replay_run(
        services,
        principal,
        source,
        from_seq=body.from_seq,
        new_input=body.input,
        input_given="input" in body.model_fields_set,
    )
    await services.security.audit(
        principal,
        "run.replay",
        f"run/{started.run_id}",
        details={"source": run_id, "fromSeq": body.from_seq},
    )
    return views.run_view(started, [], _budget(services))


async def _send(services: Services, command: Command, tenant_id: str) -> None:
    envelope = command_envelope(command, tenant_id=tenant_id)
    try:
        await services.bus.publish_batch(
            [Outgoing(services.bus.topics.runs, command.run_id, envelope)]
        )
    except BusError as e:
        services.bus_health.failing = True
        log.warning("publishing %s for %s failed: %s", command.type, command.run_id, e)
        raise ApiError(
            503, ErrorCode.UNAVAILABLE, "the command bus is unavailable; retry the request"
        ) from e
    services.bus_health.failing = False


def _refuse_ended(run: RunRecord) -> None:
    if run.status in TERMINAL:
        raise ApiError(
            409,
            ErrorCode.RUN_ALREADY_ENDED,
            f"run {run.run_id!r} already ended ({run.status})",
            {"status": run.status},
        )


async def _awaited_signals(services: Services, run: RunRecord) -> set[str] | None:
    """The signal names the run's version waits for; None when a name is only known at
    run time (a template) or the version cannot be read, so nothing is refused."""
    try:
        version = await services.store.get_version(
            run.workflow_id, run.version, tenant_id=run.tenant_id
        )
        definition = services.versions.parse(run.tenant_id, version)
    except (NotFound, DefinitionError):
        return None
    names = {
        str(node.config.get("name"))
        for node in definition.spec.nodes
        if node.type == "signal" and isinstance(node.config, dict)
    }
    return None if any("{{" in name for name in names) else names


def _command_id(run_id: str, kind: str, key: str | None) -> str:
    """Derived from the client's key when given, so a retried request is one command."""
    return f"{run_id}:{kind}:{key}" if key else f"{run_id}:{kind}:{uuid.uuid4()}"


@router.post(
    "/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED, response_model=schemas.Accepted
)
async def cancel(
    run_id: RunId,
    services: ServicesDep,
    principal: PrincipalDep,
    body: schemas.CancelBody | None = None,
) -> schemas.Accepted:
    """Ask the scheduler to cancel the run (active steps are cancelled, compensations run).

    With an `idempotencyKey` the request is one command: a repeat with the same reason gets
    the same answer (even once the cancel ended the run), another reason is 409
    IDEMPOTENCY_CONFLICT."""
    body = body or schemas.CancelBody()
    return await _stop(services, principal, run_id, body.reason, body.idempotency_key, fail=False)


@router.post(
    "/{run_id}/fail", status_code=status.HTTP_202_ACCEPTED, response_model=schemas.Accepted
)
async def fail(
    run_id: RunId, body: schemas.FailBody, services: ServicesDep, principal: PrincipalDep
) -> schemas.Accepted:
    """End the run as failed (editor): its active steps are cancelled, the compensations
    of its succeeded steps run as for any failure, and it ends `failed` (`compensated`
    when compensations ran) with the error type `ManuallyFailed` and the reason. Audited.
    A run unwinding after a cancel ends failed instead of cancelled; a pending run ends
    failed without a step (the scheduler decides both, whichever command comes first).
    409 RUN_ALREADY_ENDED for a run that ended; an `idempotencyKey` as for cancel."""
    return await _stop(services, principal, run_id, body.reason, body.idempotency_key, fail=True)


async def _stop(
    services: Services,
    principal: Principal,
    run_id: str,
    reason: str | None,
    key: str | None,
    *,
    fail: bool,
) -> schemas.Accepted:
    """Cancel or fail a run, once per idempotency key (see `keyed`)."""
    run = await load_run(services, principal, run_id)
    principal.require(Role.EDITOR)
    kind = "fail" if fail else "cancel"
    command = Cancel(
        command_id=_command_id(run_id, kind, key),
        run_id=run_id,
        reason=reason,
        by=principal.subject,
        fail=fail,
    )
    keyed = KeyedCommand.of(
        run, command.command_id, key, {"reason": reason},
        key_conflict(
            f"idempotency key already used to {kind} run {run_id} with a different reason",
            {"runId": run_id, "command": kind, "differs": ["reason"]},
        ),
    )  # fmt: skip
    accepted = schemas.Accepted(run_id=run_id, command_id=command.command_id)
    if await keyed.was_sent(services.store):
        return accepted
    _refuse_ended(run)
    if not await keyed.claim(services.store):
        return accepted
    await _send(services, command, run.tenant_id)
    await keyed.mark_sent(services.store)
    await services.security.audit(
        principal, f"run.{kind}", f"run/{run_id}", details={"reason": reason}
    )
    return accepted


@router.post(
    "/{run_id}/signals/{name}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.Accepted,
)
async def signal(
    run_id: RunId,
    name: Annotated[str, Path(pattern=schemas.SIGNAL_NAME_PATTERN)],
    services: ServicesDep,
    principal: PrincipalDep,
    body: schemas.SignalBody | None = None,
) -> schemas.Accepted:
    """Deliver a named signal; a `signal` step waiting for `name` consumes it.

    A name no `signal` node of the run's version waits for can never be consumed, so it
    is refused (422 UNKNOWN_SIGNAL, with the names it does wait for) instead of being
    accepted and silently dropped. A signal sent before its node waits is still buffered.
    """
    run = await load_run(services, principal, run_id)
    principal.require(Role.EDITOR)
    body = body or schemas.SignalBody()
    check_size(
        body.data,
        limit=services.settings.limits.signal_bytes,
        code=ErrorCode.SIGNAL_TOO_LARGE,
        what="the signal data",
    )
    reject_nul(body.data, "data")
    command = Signal(
        command_id=_command_id(run_id, f"signal:{name}", body.idempotency_key),
        run_id=run_id,
        name=name,
        data=body.data,
    )
    keyed = KeyedCommand.of(
        run, command.command_id, body.idempotency_key, body.data,
        key_conflict(
            f"idempotency key already sent signal {name!r} to run {run_id} with different data",
            {"runId": run_id, "signal": name, "differs": ["data"]},
        ),
    )  # fmt: skip
    accepted = schemas.Accepted(run_id=run_id, command_id=command.command_id)
    if await keyed.was_sent(services.store):
        return accepted
    _refuse_ended(run)
    awaited = await _awaited_signals(services, run)
    if awaited is not None and name not in awaited:
        raise ApiError(
            422,
            ErrorCode.UNKNOWN_SIGNAL,
            f"no node of {run.workflow_id} v{run.version} waits for a signal named {name!r}"
            + (f"; it waits for {', '.join(sorted(awaited))}" if awaited else
               "; it waits for no signal"),
            {"signal": name, "awaited": sorted(awaited)},
        )  # fmt: skip
    if not await keyed.claim(services.store):
        return accepted
    await _send(services, command, run.tenant_id)
    await keyed.mark_sent(services.store)
    await services.security.audit(
        principal, "run.signal", f"run/{run_id}", details={"signal": name}
    )
    return accepted
