"""The collaboration API: the room WebSocket, the shared draft, publishing; plus health.

`WS /collab/{workflow_id}?token=...` speaks the y-websocket protocol (what the npm
`y-websocket` provider connects to: it appends the room name to its server URL). The
tenant is the caller's, from the token; the client names only the workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tideflow.auth import (
    REQUEST_SOURCE,
    AuthError,
    Forbidden,
    Principal,
    RateLimited,
    Role,
    requires,
)
from tideflow.collab import metrics
from tideflow.collab.changes import Change
from tideflow.collab.channel import ClientChannel
from tideflow.collab.publishing import WORKFLOW_ID, current_definition, publish
from tideflow.collab.rooms import RoomKey, Rooms
from tideflow.collab.session import SessionAccess
from tideflow.collab.settings import CollabSettings
from tideflow.core import NodeTypes
from tideflow.plugins import load_registry
from tideflow.runtime import ApiError, answers, operations_router, readiness_response
from tideflow.store import AuditLog, NotFound, StoreError

log = logging.getLogger(__name__)

WorkflowId = Annotated[str, Path(pattern=WORKFLOW_ID.pattern)]
CLOSE_CODES = {401: 4401, 403: 4403, 404: 4404}
"""WebSocket close codes for refused joins (4000 + the HTTP status)."""


@dataclass(slots=True)
class Services:
    """What the routes use; `install` puts one on `app.state`."""

    settings: CollabSettings
    rooms: Rooms
    audit_log: AuditLog | None = None
    ready: dict[str, bool] = field(default_factory=dict)
    node_types: NodeTypes = field(default_factory=lambda: load_registry().types)
    """Built-in and plugin node types: what a shared draft is validated against."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SharedDraft(_Model):
    """`GET /collab/workflows/{id}`: the shared draft as the service holds it now."""

    workflow_id: str
    room: str
    subject: str
    """Who the caller is (the name others see in presence)."""
    role: str
    read_only: bool
    clients: int
    definition: dict[str, Any]


class PublishedVersion(_Model):
    workflow_id: str
    version: int
    created: bool = True
    contributors: dict[str, list[Change]] = Field(default_factory=dict)


async def _services(request: Request) -> Services:
    found: Services = request.app.state.collab_services
    return found


ServicesDep = Annotated[Services, Depends(_services)]
ViewerDep = Annotated[Principal, Depends(requires(Role.VIEWER))]
EditorDep = Annotated[Principal, Depends(requires(Role.EDITOR))]

router = APIRouter(tags=["collaboration"])


async def _refuse(websocket: WebSocket, status: int, code: str, message: str) -> None:
    await websocket.accept()
    await websocket.send_json({"error": {"code": code, "message": message}})
    await websocket.close(code=CLOSE_CODES.get(status, 4000 + status), reason=code)


async def _access(websocket: WebSocket, token: str | None, recheck_every: float) -> SessionAccess:
    header = websocket.headers.get("authorization")
    if header is None and token:
        header = f"Bearer {token}"
    authenticator = websocket.app.state.authenticator
    REQUEST_SOURCE.set(websocket.client.host if websocket.client else None)  # for the audit log
    principal: Principal = await authenticator.authenticate(header)
    principal.require(Role.VIEWER)
    return SessionAccess(authenticator, header, principal, recheck_every=recheck_every)


async def _watch(websocket: WebSocket, access: SessionAccess, channel: ClientChannel) -> None:
    """Keep the member's access current: at every interval, and at once when the identity
    store tells of a change to its credential (revoked, deleted, disabled, another role)."""
    identities = websocket.app.state.authenticator.identities
    key = access.credential_key()
    async with contextlib.AsyncExitStack() as stack:
        changed = None
        if identities is not None and key is not None:
            try:
                changed = await stack.enter_async_context(identities.watch_credential(key))
            except StoreError as e:  # the interval's checks still hold
                log.warning("collab: not told of changes to %s (%s)", access.principal.subject, e)
        await access.watch(channel.end, changed)


@router.websocket("/collab/{workflow_id}")
async def room(
    websocket: WebSocket, workflow_id: str, token: Annotated[str | None, Query()] = None
) -> None:
    """Join the room of a workflow's draft: viewers read, editors write; the credential
    is checked again while the session lasts (`SessionAccess`)."""
    services: Services = websocket.app.state.collab_services
    try:
        access = await _access(websocket, token, services.settings.recheck_every.total_seconds())
    except Forbidden as e:
        await _refuse(websocket, 403, "FORBIDDEN", str(e))
        return
    except RateLimited as e:  # too many wrong passwords for this user over HTTP Basic
        await _refuse(websocket, 429, "RATE_LIMITED", str(e))
        return
    except AuthError as e:
        await _refuse(websocket, 401, "UNAUTHENTICATED", str(e))
        return
    if not WORKFLOW_ID.fullmatch(workflow_id):
        await _refuse(websocket, 404, "WORKFLOW_NOT_FOUND", "not a workflow id")
        return
    principal = access.principal
    key = RoomKey(principal.tenant_id, workflow_id)
    try:
        joined = await services.rooms.join(key)
    except NotFound:
        await _refuse(websocket, 404, "WORKFLOW_NOT_FOUND", f"no workflow {workflow_id!r}")
        return
    except StoreError as e:
        log.warning("collab: cannot open room %s: %s", key.name, e)
        await websocket.accept()
        await websocket.close(code=1013, reason="STORE_UNAVAILABLE")
        return
    await websocket.accept()
    channel = ClientChannel(
        websocket, joined, principal, max_bytes=services.settings.max_update_bytes
    )
    metrics.CLIENTS.inc()
    watch = asyncio.create_task(
        _watch(websocket, access, channel), name=f"access {principal.subject}"
    )
    try:
        presence = joined.presence()
        if presence is not None:
            await channel.send(presence)
        await joined.yroom.serve(channel)
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        metrics.CLIENTS.dec()
        await services.rooms.leave(joined)


def _not_found(workflow_id: str) -> ApiError:
    return ApiError(404, "WORKFLOW_NOT_FOUND", f"no workflow {workflow_id!r}")


@router.get("/collab/workflows/{workflow_id}", response_model=SharedDraft)
async def shared_draft(
    workflow_id: WorkflowId, services: ServicesDep, principal: ViewerDep
) -> SharedDraft:
    """The shared draft now (what a publish would validate), and what the caller may do."""
    key = RoomKey(principal.tenant_id, workflow_id)
    try:
        definition = await current_definition(services.rooms, key)
    except NotFound:
        raise _not_found(workflow_id) from None
    open_room = services.rooms.get(key)
    return SharedDraft(
        workflow_id=workflow_id,
        room=key.name,
        subject=principal.subject,
        role=str(principal.role),
        read_only=not principal.allows(Role.EDITOR),
        clients=len(open_room.yroom.clients) if open_room else 0,
        definition=definition,
    )


@router.post(
    "/collab/workflows/{workflow_id}/publish",
    status_code=201,
    response_model=PublishedVersion,
    responses={
        200: {"description": "Unchanged since the newest version: that version."},
        422: {"description": "The merged document has problems (listed)."},
    },
)
async def publish_shared(
    workflow_id: WorkflowId,
    request: Request,
    response: Response,
    services: ServicesDep,
    principal: EditorDep,
) -> PublishedVersion:
    """Validate the merged document and publish it as a version attributed to everyone
    who changed it since the last one (recorded in the audit log)."""
    published = await publish(
        rooms=services.rooms,
        audit_log=services.audit_log,
        principal=principal,
        workflow_id=workflow_id,
        source=request.client.host if request.client else None,
        types=services.node_types,
        policy=services.settings.publish_policy,
    )
    if not published.created:
        response.status_code = 200
    return PublishedVersion(
        workflow_id=workflow_id,
        version=published.version,
        created=published.created,
        contributors=published.contributors,
    )


async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: the database answers (and Redis, when replicas share rooms through it)."""
    store_ok = await answers(services.rooms.store.attribution("-", tenant_id="default"), StoreError)
    return readiness_response({"store": store_ok, **services.ready})


operations = operations_router(readyz)
