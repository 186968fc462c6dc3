"""The audit log of a tenant, newest first, for its admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tideflow.auth import Role
from tideflow.gateway import cursors
from tideflow.gateway import security_schemas as s
from tideflow.gateway.deps import PrincipalDep, ServicesDep
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.gateway.schemas import Page

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[s.AuditItem])
async def list_audit(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[s.AuditItem]:
    """Who did what to which resource, when and from where; append-only."""
    principal.require(Role.ADMIN)
    before: int | None = None
    if cursor is not None:
        value = cursors.decode(cursor)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**63:
            raise ApiError(400, ErrorCode.BAD_REQUEST, "the cursor is not valid")
        before = value
    records = await services.security.audit_log.list_audit(
        tenant_id=principal.tenant_id, limit=limit + 1, before_id=before
    )
    page = records[:limit]
    items = [
        s.AuditItem(
            id=r.id,
            at=r.at,
            tenant=r.entry.tenant_id,
            actor=r.entry.actor,
            action=r.entry.action,
            resource=r.entry.resource,
            source=r.entry.source,
            before=r.entry.before,
            after=r.entry.after,
            details=r.entry.details,
        )
        for r in page
    ]
    more = len(records) > limit
    return Page[s.AuditItem](items=items, next_cursor=cursors.encode(page[-1].id) if more else None)
