"""Forwarding the trigger service's management routes, so one API address serves them.

An ingress routes whole prefixes (`/hooks`, `/approvals`, `/collab`) to their services,
but the trigger management routes live under `/workflows/{id}/triggers`, inside the
gateway's own `/workflows` prefix, which no portable ingress rule can split off. In the
full stack the gateway therefore forwards them to the trigger service
(`TIDEFLOW_GATEWAY_TRIGGER_URL`) as they came: the trigger service authenticates, limits
and answers; the gateway only relays. Under `tide dev` the trigger routes are mounted on
the gateway itself and nothing is forwarded. The routes are documented once, from the
trigger service's own description, in the merged `/openapi.json`.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI, Request, Response

from tideflow.gateway.errors import ApiError, ErrorCode

router = APIRouter(include_in_schema=False)

_FORWARDED_HEADERS = ("authorization", "content-type", "accept", "traceparent", "tracestate")
_RETURNED_HEADERS = ("content-type", "retry-after", "www-authenticate")


def install(app: FastAPI, trigger_url: str, transport: httpx.AsyncBaseTransport | None) -> None:
    """Forward the trigger management routes of `app` to the service at `trigger_url`."""
    app.state.trigger_forward = httpx.AsyncClient(
        base_url=trigger_url, transport=transport, timeout=30.0
    )
    app.include_router(router)


async def close(app: FastAPI) -> None:
    client: httpx.AsyncClient | None = getattr(app.state, "trigger_forward", None)
    if client is not None:
        await client.aclose()


@router.get("/workflows/{workflow_id}/triggers")
async def list_triggers(workflow_id: str, request: Request) -> Response:
    return await _relay(request, workflow_id)


@router.post("/workflows/{workflow_id}/triggers/{trigger_id}/pause")
async def pause_trigger(workflow_id: str, trigger_id: str, request: Request) -> Response:
    return await _relay(request, workflow_id, trigger_id)


@router.post("/workflows/{workflow_id}/triggers/{trigger_id}/resume")
async def resume_trigger(workflow_id: str, trigger_id: str, request: Request) -> Response:
    return await _relay(request, workflow_id, trigger_id)


async def _relay(request: Request, *ids: str) -> Response:
    """The request as it came (path, query, body, credentials) and the answer as it came."""
    del ids  # in the path already; named above so the routes declare their parameters
    client: httpx.AsyncClient = request.app.state.trigger_forward
    headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_HEADERS}
    try:
        answer = await client.request(
            request.method,
            request.url.path,
            params=request.url.query,
            headers=headers,
            content=await request.body(),
        )
    except httpx.HTTPError:
        raise ApiError(
            503, ErrorCode.UNAVAILABLE, "the trigger service is unavailable; retry shortly"
        ) from None
    returned = {k: v for k, v in answer.headers.items() if k.lower() in _RETURNED_HEADERS}
    return Response(answer.content, status_code=answer.status_code, headers=returned)
