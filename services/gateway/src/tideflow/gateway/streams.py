"""Live streams: run events over SSE and step logs over WebSocket.

Both follow the store by polling with a short interval rather than LISTEN/NOTIFY: the
store port has no notification channel, a poll per open stream is cheap at the event
log's indexes, and it works the same on the in-memory store. A stream ends on its own
once the run has ended and everything was sent, and when the server shuts down (so a
stream never holds a shutdown open); SSE clients resume with `Last-Event-ID`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from tideflow.auth import AuthError
from tideflow.gateway import schemas, views
from tideflow.gateway.auth import Role, as_api_error
from tideflow.gateway.budget import ValueBudget
from tideflow.gateway.deps import PrincipalDep, Services, ServicesDep, ws_services
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.gateway.runs import TERMINAL, RunId, load_run
from tideflow.store import StoredLogLine, StoreError

log = logging.getLogger(__name__)

router = APIRouter(tags=["streams"])

TERMINAL_EVENTS = frozenset({"RunSucceeded", "RunFailed", "RunCompensated", "RunCancelled"})
BATCH = 500
KEEPALIVE_SECONDS = 15.0
MAX_POSITION = 2**62
"""The largest resume point taken (seqs and log ids are bigints), as for `afterSeq`."""


async def _pause(services: Services, seconds: float, *others: asyncio.Future[Any]) -> None:
    """Wait `seconds`, or less if the server starts closing or another future finishes."""
    closing = asyncio.ensure_future(services.closing.wait())
    try:
        await asyncio.wait([closing, *others], timeout=seconds, return_when="FIRST_COMPLETED")
    finally:
        closing.cancel()


def _sse(event: schemas.Event) -> str:
    data = json.dumps(event.model_dump(mode="json", by_alias=True), separators=(",", ":"))
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"


async def _follow_events(
    services: Services, run_id: str, after: int, tenant_id: str
) -> AsyncIterator[str]:
    poll = services.settings.stream_poll_interval.total_seconds()
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    yield "retry: 1000\n\n"
    try:
        while not services.closing.is_set():
            events = await services.store.read(run_id, after, BATCH, tenant_id=tenant_id)
            for stored in events:
                after = stored.seq
                # each event on its own budget: a huge one is a marker, never a 60 MB frame
                budget = ValueBudget(services.settings.limits)
                yield _sse(views.event_view(stored, budget))
                if stored.type in TERMINAL_EVENTS:
                    return
            if events:
                quiet_since = loop.time()
                continue
            run = await services.store.get_run(run_id, tenant_id=tenant_id)
            if run.status in TERMINAL and run.last_seq <= after:
                return
            if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = loop.time()
                yield ": keep-alive\n\n"
            await _pause(services, poll)
    except StoreError as e:
        # the client reconnects with Last-Event-ID and resumes where it was
        log.warning("event stream of %s stopped: %s", run_id, e)


def _resume_point(last_event_id: str | None, after_seq: int) -> int:
    if last_event_id is None or not last_event_id.strip():
        return after_seq
    try:
        value = int(last_event_id.strip())
    except ValueError:
        raise ApiError(
            400, ErrorCode.BAD_REQUEST, "Last-Event-ID must be the seq of an event"
        ) from None
    if value < 0:
        raise ApiError(400, ErrorCode.BAD_REQUEST, "Last-Event-ID must not be negative")
    if value > MAX_POSITION:  # the store's seqs are bigints: a larger one broke the stream
        raise ApiError(400, ErrorCode.BAD_REQUEST, "Last-Event-ID is not the seq of an event")
    return value


@router.get(
    "/runs/{run_id}/events/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `id` is the seq, `event` the event type, "
            "`data` the event as in `GET /runs/{runId}/events`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream_events(
    *,
    run_id: RunId,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    after_seq: Annotated[int, Query(alias="afterSeq", ge=0, le=MAX_POSITION)] = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> StreamingResponse:
    """Live events of a run; ends after the run's final event. Resumable (Last-Event-ID)."""
    principal.require(Role.VIEWER)
    await load_run(services, principal, run_id)
    start = _resume_point(last_event_id, after_seq)
    _ = request
    return StreamingResponse(
        _follow_events(services, run_id, start, principal.tenant_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _log_message(line: StoredLogLine) -> dict[str, Any]:
    return {
        "type": "log",
        "id": line.id,
        "ts": line.ts.isoformat(),
        "nodeId": line.node_id,
        "attempt": line.attempt,
        "level": line.level,
        "message": line.message,
    }


async def _refuse(websocket: WebSocket, error: ApiError) -> None:
    await websocket.accept()
    await websocket.send_json(
        {"type": "error", "error": {"code": str(error.code), "message": error.message}}
    )
    await websocket.close(code=4000 + error.status)


class _Logs:
    """Sends a run's log lines from `after_id` on; remembers where it got to."""

    def __init__(
        self,
        websocket: WebSocket,
        services: Services,
        run_id: str,
        node_id: str | None,
        after: int,
        *,
        tenant_id: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.websocket = websocket
        self.services = services
        self.run_id = run_id
        self.node_id = node_id
        self.after = after

    async def send_available(self) -> None:
        while True:
            lines = await self.services.store.read_logs(
                self.run_id,
                node_id=self.node_id,
                after_id=self.after,
                limit=BATCH,
                tenant_id=self.tenant_id,
            )
            for line in lines:
                await self.websocket.send_json(_log_message(line))
                self.after = line.id
            if len(lines) < BATCH:
                return

    async def follow(self) -> bool:
        """Send lines as they come until the run ends, the client leaves or we shut down.

        Returns whether the client is still there.
        """
        poll = self.services.settings.stream_poll_interval.total_seconds()
        gone = asyncio.ensure_future(self._disconnected())
        try:
            while not gone.done() and not self.services.closing.is_set():
                await self.send_available()
                run = await self.services.store.get_run(self.run_id, tenant_id=self.tenant_id)
                if run.status in TERMINAL:
                    await self.send_available()  # lines written just before the end
                    return True
                await _pause(self.services, poll, gone)
            return not gone.done()
        finally:
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone

    async def _disconnected(self) -> None:
        """Returns when the client goes away; whatever else it sends is ignored."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


@router.websocket("/runs/{run_id}/logs")
async def stream_logs(
    *,
    websocket: WebSocket,
    run_id: str,
    follow: bool = True,
    node_id: Annotated[str | None, Query(alias="nodeId", pattern=schemas.STEP_ID_PATTERN)] = None,
    after_id: Annotated[int, Query(alias="afterId", ge=0, le=MAX_POSITION)] = 0,
    token: Annotated[str | None, Query()] = None,
) -> None:
    """Step log lines as JSON messages, then `{"type": "end"}` once the run has ended.

    Browsers cannot set headers on a WebSocket, so `?token=` is accepted as well as the
    `Authorization` header. With `follow=false` the lines so far are sent, then `end`.
    """
    services = ws_services(websocket)
    authorization = websocket.headers.get("authorization") or (f"Bearer {token}" if token else None)
    try:
        principal = await services.authenticator.authenticate(authorization)
        principal.require(Role.VIEWER)
        await load_run(services, principal, run_id)
    except AuthError as e:
        await _refuse(websocket, as_api_error(e))
        return
    except ApiError as e:
        await _refuse(websocket, e)
        return
    await websocket.accept()
    logs = _Logs(websocket, services, run_id, node_id, after_id, tenant_id=principal.tenant_id)
    try:
        if follow:
            if not await logs.follow():
                return
        else:
            await logs.send_available()
        await websocket.send_json({"type": "end", "lastId": logs.after})
        await websocket.close()
    except WebSocketDisconnect:
        return
    except StoreError as e:
        log.warning("log stream of %s stopped: %s", run_id, e)
        if websocket.client_state is WebSocketState.CONNECTED:
            await websocket.close(code=1011)
