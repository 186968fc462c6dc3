"""The trigger API: webhooks, the triggers of a workflow (next fire times, pause/resume),
events fed in by hand under `tide dev`, the AsyncAPI document, health and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from tideflow.auth import DEFAULT_TENANT, Principal, Role, TenantQuotas, requires
from tideflow.bus import Bus, KafkaBus, RawOutgoing
from tideflow.core import CronTrigger, next_ticks
from tideflow.runtime import ApiError, answers, operations_router, readiness_response
from tideflow.store import (
    TENANT_NAME,
    NotFound,
    StoreError,
    TriggerRecord,
    TriggerStore,
    TriggerType,
)
from tideflow.trigger.asyncapi import document
from tideflow.trigger.settings import TriggerSettings
from tideflow.trigger.webhooks import Hook, Webhooks

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$"
TENANT = TENANT_NAME.pattern


@dataclass(slots=True)
class Services:
    """What the routes use; `create_app` puts one on `app.state`."""

    settings: TriggerSettings
    store: TriggerStore
    bus: Bus
    webhooks: Webhooks
    quotas: TenantQuotas | None = None
    """The tenants' rate limits: API requests here, and run starts from every trigger."""
    dev_events: bool = False
    """`POST /events/{topic}` feeds the process's bus (only under `tide dev`)."""
    ready: dict[str, bool] = field(default_factory=dict)
    subscribed: Callable[[], frozenset[str]] | None = None
    """The topics the event source holds (for readiness), once it runs."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Started(_Model):
    run_id: str


class TriggerView(_Model):
    id: str
    type: str
    workflow_id: str
    version: int
    paused: bool
    next_fire_times: list[datetime] | None = None
    last_fired_at: datetime | None = None
    spec: dict[str, Any]


class TriggerList(_Model):
    items: list[TriggerView]


class Published(_Model):
    topic: str


async def _services(request: Request) -> Services:
    found: Services = request.app.state.trigger_services
    return found


ServicesDep = Annotated[Services, Depends(_services)]
ReaderDep = Annotated[Principal, Depends(requires(Role.VIEWER))]
EditorDep = Annotated[Principal, Depends(requires(Role.EDITOR))]
WorkflowPath = Annotated[str, Path(pattern=NAME)]
TriggerPath = Annotated[str, Path(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]

hooks = APIRouter(tags=["triggers"])
router = APIRouter(tags=["triggers"])
dev = APIRouter(tags=["triggers"])


async def _body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) past `limit` without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


HOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Bad or stale signature; nothing was started."},
    429: {
        "description": "The tenant's run-start limit is exhausted (`RATE_LIMITED`); nothing "
        "was started; retry after `Retry-After` seconds."
    },
}


async def _receive(
    services: Services, request: Request, tenant_id: str, workflow_id: str, trigger_id: str
) -> Started:
    body = await _body(request, services.settings.max_body_bytes)
    accepted = await services.webhooks.receive(
        Hook(
            tenant_id=tenant_id,
            workflow_id=workflow_id,
            trigger_id=trigger_id,
            body=body,
            headers=dict(request.headers),
            query=dict(request.query_params),
        )
    )
    return Started(run_id=accepted.run.run_id)


@hooks.post(
    "/hooks/{workflow_id}/{trigger_id}",
    status_code=202,
    response_model=Started,
    responses=HOOK_RESPONSES,
)
async def receive_hook(
    workflow_id: WorkflowPath, trigger_id: TriggerPath, request: Request, services: ServicesDep
) -> Started:
    """Start a run of a `default`-tenant workflow from a signed webhook; the same delivery
    answers with the same run."""
    return await _receive(services, request, DEFAULT_TENANT, workflow_id, trigger_id)


@hooks.post(
    "/hooks/{tenant_id}/{workflow_id}/{trigger_id}",
    status_code=202,
    response_model=Started,
    responses=HOOK_RESPONSES,
)
async def receive_tenant_hook(
    tenant_id: Annotated[str, Path(pattern=TENANT)],
    workflow_id: WorkflowPath,
    trigger_id: TriggerPath,
    request: Request,
    services: ServicesDep,
) -> Started:
    """The same for a workflow of tenant `tenant_id` (workflow names are per tenant)."""
    return await _receive(services, request, tenant_id, workflow_id, trigger_id)


def view(trigger: TriggerRecord, *, count: int, now: datetime) -> TriggerView:
    """A trigger as the API shows it; a cron trigger's next `count` fire times (none paused)."""
    upcoming: list[datetime] | None = None
    if trigger.type is TriggerType.CRON:
        spec = CronTrigger.model_validate(trigger.spec)
        if trigger.paused:
            upcoming = []
        elif trigger.next_fire_at is not None:
            after = next_ticks(spec.schedule, spec.timezone, trigger.next_fire_at, count - 1)
            upcoming = [trigger.next_fire_at, *after]
        else:
            upcoming = next_ticks(spec.schedule, spec.timezone, now, count)
    return TriggerView(
        id=trigger.trigger_id,
        type=str(trigger.type),
        workflow_id=trigger.workflow_id,
        version=trigger.version,
        paused=trigger.paused,
        next_fire_times=upcoming,
        last_fired_at=trigger.last_fired_at,
        spec=trigger.spec,
    )


@router.get("/workflows/{workflow_id}/triggers", response_model=TriggerList)
async def list_triggers(
    workflow_id: WorkflowPath,
    services: ServicesDep,
    principal: ReaderDep,
    count: Annotated[int, Query(ge=1, le=100)] = 5,
) -> TriggerList:
    """The triggers the latest published version registered; cron ones with next fire times."""
    try:
        triggers = await services.store.list_triggers(workflow_id, tenant_id=principal.tenant_id)
    except NotFound:
        raise ApiError(404, "WORKFLOW_NOT_FOUND", f"no workflow {workflow_id!r}") from None
    now = datetime.now(UTC)
    return TriggerList(items=[view(t, count=count, now=now) for t in triggers])


async def _pause(
    services: Services, principal: Principal, workflow_id: str, trigger_id: str, paused: bool
) -> TriggerView:
    try:
        trigger = await services.store.set_paused(
            workflow_id, trigger_id, paused, tenant_id=principal.tenant_id
        )
    except NotFound:
        raise ApiError(
            404, "TRIGGER_NOT_FOUND", f"workflow {workflow_id!r} has no trigger {trigger_id!r}"
        ) from None
    return view(trigger, count=5, now=datetime.now(UTC))


@router.post("/workflows/{workflow_id}/triggers/{trigger_id}/pause", response_model=TriggerView)
async def pause_trigger(
    workflow_id: WorkflowPath, trigger_id: TriggerPath, services: ServicesDep,
    principal: EditorDep,
) -> TriggerView:  # fmt: skip
    """Stop a trigger from starting runs (webhooks answer 409, cron ticks are skipped)."""
    return await _pause(services, principal, workflow_id, trigger_id, paused=True)


@router.post("/workflows/{workflow_id}/triggers/{trigger_id}/resume", response_model=TriggerView)
async def resume_trigger(
    workflow_id: WorkflowPath, trigger_id: TriggerPath, services: ServicesDep,
    principal: EditorDep,
) -> TriggerView:  # fmt: skip
    """Start again; a cron trigger resumes at its next tick (no catch-up for the pause)."""
    return await _pause(services, principal, workflow_id, trigger_id, paused=False)


@dev.post(
    "/events/{topic}",
    status_code=202,
    response_model=Published,
    dependencies=[Depends(requires(Role.EDITOR))],
)
async def publish_event(
    topic: Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,249}$")],
    request: Request,
    services: ServicesDep,
    key: Annotated[str | None, Query(max_length=1000)] = None,
) -> Published:
    """Put a message on `topic` of the in-process bus, as another system would on Kafka."""
    if not services.dev_events:
        raise ApiError(404, "NOT_FOUND", "events are fed by hand only under `tide dev`")
    if topic.startswith(f"{services.bus.topics.prefix}."):
        # the platform's own topics carry commands and run events whose tenant and
        # authority come from the message itself: a forged one would bypass every check
        raise ApiError(
            403, "FORBIDDEN",
            f"{topic!r} is one of the platform's own topics; feed your own topics only",
        )  # fmt: skip
    body = await _body(request, services.settings.max_body_bytes)
    await services.bus.publish_raw_batch(
        [RawOutgoing(topic=topic, key=key.encode() if key else None, value=body)]
    )
    return Published(topic=topic)


@router.get("/asyncapi.json")
async def asyncapi(services: ServicesDep, principal: ReaderDep) -> JSONResponse:
    """The AsyncAPI 3.0 document of the topics this service reads and writes."""
    triggers = [
        t for t in await services.store.event_triggers() if t.tenant_id == principal.tenant_id
    ]
    return JSONResponse(
        document(
            runs_topic=services.bus.topics.runs,
            bootstrap=services.settings.kafka.bootstrap
            if isinstance(services.bus, KafkaBus)
            else None,  # the in-process bus of `tide dev`: no Kafka server to name
            triggers=triggers,
        )
    )


async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: the database answers and the cron and event loops run."""
    checks = {"store": await answers(services.store.event_triggers(), StoreError), **services.ready}
    if services.subscribed is None:
        return readiness_response(checks)
    return readiness_response(checks, subscribed=sorted(services.subscribed()))


operations = operations_router(readyz)
