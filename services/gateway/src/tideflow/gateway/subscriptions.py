"""Outbound run-event webhooks: subscriptions and what was delivered (docs/webhooks.md).

A subscription names a URL, the public event types it wants (`run.failed`,
`approval.requested`, ... or `*`), optionally one workflow, and the secret deliveries are
signed with. The secret is sealed (envelope encryption, like stored secrets) before it
reaches the store and is never returned. The trigger service's dispatcher delivers.
Editors manage subscriptions, viewers read them; every route sees only its tenant.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import Field, field_validator

from tideflow.auth import Envelope, Role
from tideflow.gateway.deps import PrincipalDep, Services, ServicesDep
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.gateway.schemas import WORKFLOW_ID_PATTERN, ApiModel
from tideflow.store import (
    PUBLIC_EVENTS,
    DeliveryRecord,
    NotFound,
    SealedSecret,
    SubscriptionRecord,
    WebhookStore,
)

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])

SubscriptionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
"""A uuid; anything else (a NUL reached the store as a 500) is refused before the store."""
EVENT_NAMES = sorted(PUBLIC_EVENTS)


class SubscriptionBody(ApiModel):
    url: str = Field(max_length=2048, description="Where deliveries are POSTed (http or https).")
    events: list[str] = Field(
        min_length=1, max_length=32,
        description=f"Event types to deliver: {', '.join(EVENT_NAMES)}, or `*` for all.",
    )  # fmt: skip
    workflow_id: str | None = Field(
        default=None, pattern=WORKFLOW_ID_PATTERN, description="Only this workflow's runs."
    )
    secret: str = Field(
        min_length=16, max_length=512,
        description="Signs every delivery (HMAC-SHA256); stored sealed, never returned.",
    )  # fmt: skip

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("url must be an absolute http(s) URL")
        if parts.username or parts.password:
            raise ValueError("url must not carry credentials (the secret signs deliveries)")
        try:  # a port past 65535 or not a number could never be delivered to
            _ = parts.port
        except ValueError:
            raise ValueError("url has an invalid port (a number from 0 to 65535)") from None
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        unknown = [e for e in value if e != "*" and e not in PUBLIC_EVENTS]
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {', '.join(EVENT_NAMES)}")
        return sorted(set(value))


class SubscriptionView(ApiModel):
    id: str
    url: str
    events: list[str]
    workflow_id: str | None
    status: str = Field(description="`active`, or `failing` once a delivery was given up.")
    flagged_at: datetime | None
    flag_reason: str | None
    created_by: str
    created_at: datetime


class SubscriptionList(ApiModel):
    items: list[SubscriptionView]


class AttemptView(ApiModel):
    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None = Field(description="The start of the answer (2 KB).")
    error: str | None


class DeliveryView(ApiModel):
    id: str = Field(description="The `X-Tideflow-Delivery` header of every attempt.")
    event_id: str = Field(description="`<runId>:<seq>` of the event in the run's log.")
    event_type: str
    run_id: str
    status: str = Field(description="`pending`, `succeeded` or `failed` (given up).")
    attempts: int
    next_attempt_at: datetime | None
    give_up_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    payload: dict[str, Any]
    attempt_log: list[AttemptView]


class DeliveryList(ApiModel):
    items: list[DeliveryView]


def _store(services: Services) -> WebhookStore:
    store = services.store
    if not isinstance(store, WebhookStore):
        raise ApiError(503, ErrorCode.UNAVAILABLE, "webhook subscriptions need the Postgres store")
    return store


def _view(record: SubscriptionRecord) -> SubscriptionView:
    return SubscriptionView(
        id=record.subscription_id, url=record.url, events=record.events,
        workflow_id=record.workflow_id, status=record.status, flagged_at=record.flagged_at,
        flag_reason=record.flag_reason, created_by=record.created_by,
        created_at=record.created_at,
    )  # fmt: skip


def _delivery(record: DeliveryRecord) -> DeliveryView:
    return DeliveryView(
        id=record.delivery_id, event_id=record.event_id, event_type=record.event_type,
        run_id=record.run_id, status=record.status, attempts=record.attempts,
        next_attempt_at=record.next_attempt_at if record.status == "pending" else None,
        give_up_at=record.give_up_at, last_status=record.last_status,
        last_error=record.last_error, created_at=record.created_at,
        finished_at=record.finished_at, payload=record.payload,
        attempt_log=[
            AttemptView(
                attempt=a.attempt, started_at=a.started_at, duration_ms=a.duration_ms,
                status_code=a.status_code, response_body=a.response_body, error=a.error,
            )
            for a in record.attempt_log
        ],
    )  # fmt: skip


def _not_found(subscription_id: str) -> ApiError:
    return ApiError(404, ErrorCode.SUBSCRIPTION_NOT_FOUND, f"no subscription {subscription_id!r}")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionView)
async def create_subscription(
    body: SubscriptionBody, services: ServicesDep, principal: PrincipalDep
) -> SubscriptionView:
    """Subscribe a URL to run events of the caller's tenant (editor)."""
    principal.require(Role.EDITOR)
    store = _store(services)
    subscription_id = str(uuid.uuid4())
    envelope = Envelope(services.security.secrets.provider)
    sealed = await envelope.seal(
        principal.tenant_id, f"subscription:{subscription_id}", body.secret
    )
    record = await store.create_subscription(
        tenant_id=principal.tenant_id, url=body.url, events=body.events,
        workflow_id=body.workflow_id, subscription_id=subscription_id,
        secret=SealedSecret(sealed.ciphertext, sealed.wrapped_key, sealed.kek_id),
        created_by=principal.subject,
    )  # fmt: skip
    await services.security.audit(
        principal, "subscription.create", f"subscription/{subscription_id}",
        details={"url": body.url, "events": body.events, "workflowId": body.workflow_id},
    )  # fmt: skip
    return _view(record)


@router.get("", response_model=SubscriptionList)
async def list_subscriptions(services: ServicesDep, principal: PrincipalDep) -> SubscriptionList:
    principal.require(Role.VIEWER)
    records = await _store(services).list_subscriptions(principal.tenant_id)
    return SubscriptionList(items=[_view(r) for r in records])


@router.get("/{subscription_id}", response_model=SubscriptionView)
async def get_subscription(
    subscription_id: SubscriptionId, services: ServicesDep, principal: PrincipalDep
) -> SubscriptionView:
    principal.require(Role.VIEWER)
    try:
        record = await _store(services).get_subscription(principal.tenant_id, subscription_id)
    except NotFound:
        raise _not_found(subscription_id) from None
    return _view(record)


@router.delete(
    "/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def delete_subscription(
    subscription_id: SubscriptionId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Stop delivering (pending deliveries are dropped with it)."""
    principal.require(Role.EDITOR)
    try:
        await _store(services).delete_subscription(principal.tenant_id, subscription_id)
    except NotFound:
        raise _not_found(subscription_id) from None
    await services.security.audit(
        principal, "subscription.delete", f"subscription/{subscription_id}"
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{subscription_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    subscription_id: SubscriptionId,
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryList:
    """The newest deliveries with every attempt: status code, answer, error, timing."""
    principal.require(Role.VIEWER)
    store = _store(services)
    try:
        await store.get_subscription(principal.tenant_id, subscription_id)
    except NotFound:
        raise _not_found(subscription_id) from None
    records = await store.list_deliveries(principal.tenant_id, subscription_id, limit=limit)
    return DeliveryList(items=[_delivery(r) for r in records])
