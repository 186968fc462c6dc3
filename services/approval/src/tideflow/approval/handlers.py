"""The approval API: the inbox, one approval, and deciding it; plus health and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from tideflow.approval.access import DECIDES
from tideflow.approval.deciding import decide
from tideflow.approval.settings import ApprovalSettings
from tideflow.approval.views import (
    Approval,
    ApprovalList,
    DecisionRequest,
    approval_view,
)
from tideflow.auth import Principal, Role, TenantQuotas, requires
from tideflow.bus import Bus
from tideflow.runtime import (
    ApiError,
    answers,
    cursor_time,
    decode_cursor,
    encode_cursor,
    operations_router,
    readiness_response,
)
from tideflow.store import (
    ApprovalCursor,
    ApprovalFilter,
    ApprovalStatus,
    ApprovalStore,
    AuditEntry,
    AuditLog,
    NotFound,
    StoreError,
)


@dataclass(slots=True)
class Services:
    """What the routes use; `create_app` puts one on `app.state`."""

    settings: ApprovalSettings
    store: ApprovalStore
    bus: Bus
    audit_log: AuditLog | None = None
    """Where `approval.decide` is recorded (the tenant's audit log)."""
    quotas: TenantQuotas | None = None
    """The tenants' API rate limits (the standalone service; under `tide dev` the gateway's)."""
    ready: dict[str, bool] = field(default_factory=dict)
    """Readiness of the background parts (the event-stream consumer), by name."""


async def _services(request: Request) -> Services:
    found: Services = request.app.state.approval_services
    return found


ServicesDep = Annotated[Services, Depends(_services)]
ApprovalId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,200}$")]
"""A uuid; text Postgres cannot take (a NUL) was a 500 from the store."""
ReaderDep = Annotated[Principal, Depends(requires(Role.VIEWER))]
DeciderDep = Annotated[Principal, Depends(requires(DECIDES))]

router = APIRouter(tags=["approvals"])


def _not_found(approval_id: str) -> ApiError:
    return ApiError(404, "APPROVAL_NOT_FOUND", f"no approval {approval_id!r}")


def _cursor(cursor: str) -> ApprovalCursor:
    value = decode_cursor(cursor)
    if not isinstance(value, dict) or not isinstance(value.get("i"), str):
        raise ApiError(400, "BAD_REQUEST", "the cursor is not valid")
    return ApprovalCursor(requested_at=cursor_time(value.get("t")), approval_id=value["i"])


@router.get("/approvals", response_model=ApprovalList, response_model_exclude_none=False)
async def list_approvals(
    services: ServicesDep,
    principal: ReaderDep,
    status: Annotated[Literal["pending", "decided", "expired", "cancelled"] | None, Query()] = None,
    workflow_id: Annotated[
        str | None, Query(alias="workflowId", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
    ] = None,
    run_id: Annotated[
        str | None, Query(alias="runId", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> ApprovalList:
    """The inbox of the caller's tenant, newest first; `nextCursor` fetches the next page.

    A pending approval past its `expiresAt` is listed (and filtered) as `expired`: it takes
    no vote any more, so it is not shown as open."""
    now = datetime.now(UTC)
    page = await services.store.list_approvals(
        ApprovalFilter(
            tenant_id=principal.tenant_id,
            status=ApprovalStatus(status) if status else None,
            workflow_id=workflow_id,
            run_id=run_id,
            as_of=now,
        ),
        limit=min(limit, services.settings.page_size_max),
        after=_cursor(cursor) if cursor else None,
    )
    next_cursor = (
        encode_cursor({"t": page.next_cursor.requested_at.isoformat(),
                       "i": page.next_cursor.approval_id})
        if page.next_cursor else None
    )  # fmt: skip
    return ApprovalList(items=[approval_view(a, now) for a in page.items], next_cursor=next_cursor)


@router.get("/approvals/{approval_id}", response_model=Approval)
async def get_approval(
    approval_id: ApprovalId, services: ServicesDep, principal: ReaderDep
) -> Approval:
    """One approval with every vote cast so far."""
    try:
        record = await services.store.get_approval(approval_id, tenant_id=principal.tenant_id)
    except NotFound:
        raise _not_found(approval_id) from None
    return approval_view(record, datetime.now(UTC))


@router.post(
    "/approvals/{approval_id}/decision",
    response_model=Approval,
    responses={
        403: {"description": "The caller may not decide this approval."},
        409: {"description": "The approval is closed, expired, or the caller already voted."},
    },
)
async def decide_approval(
    approval_id: ApprovalId,
    body: DecisionRequest,
    request: Request,
    services: ServicesDep,
    principal: DeciderDep,
) -> Approval:
    """Approve or reject. With a quorum the approval stays pending until enough agree;
    one rejection rejects."""
    try:
        record = await decide(
            store=services.store,
            bus=services.bus,
            principal=principal,
            approval_id=approval_id,
            decision=body.decision,
            comment=body.comment,
            outbox_claim=services.settings.outbox_claim,
        )
    except NotFound:
        raise _not_found(approval_id) from None
    if services.audit_log is not None:
        await services.audit_log.record_audit(
            [
                AuditEntry(
                    tenant_id=principal.tenant_id,
                    actor=principal.subject,
                    action="approval.decide",
                    resource=f"approval/{approval_id}",
                    source=request.client.host if request.client else None,
                    details={
                        "decision": body.decision,
                        "comment": body.comment,
                        "runId": record.run_id,
                        "status": str(record.status),
                    },
                )
            ]
        )
    return approval_view(record)


async def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: the database answers and the event-stream consumer runs."""
    store_ok = await answers(services.store.list_approvals(ApprovalFilter(), limit=1), StoreError)
    return readiness_response({"store": store_ok, **services.ready})


operations = operations_router(readyz)
