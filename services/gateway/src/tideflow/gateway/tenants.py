"""Tenants and their limits: managed by the platform admin (`TIDEFLOW_ADMIN_TOKEN`); a
tenant's own admins read their tenant (its limits), never change them or see another."""

from __future__ import annotations

from fastapi import APIRouter, status

from tideflow.auth import Principal, Role
from tideflow.gateway import security_schemas as s
from tideflow.gateway.deps import PrincipalDep, ServicesDep
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.store import AlreadyExists, NotFound, TenantRecord

router = APIRouter(prefix="/tenants", tags=["tenants"])


def require_platform(principal: Principal) -> None:
    if not principal.platform_admin:
        raise ApiError(403, ErrorCode.FORBIDDEN, "only the platform admin manages tenants")


def tenant_view(record: TenantRecord) -> s.Tenant:
    return s.Tenant(
        name=record.name,
        created_at=record.created_at,
        run_starts_per_second=record.run_starts_per_second,
        api_requests_per_second=record.api_requests_per_second,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=s.Tenant)
async def create_tenant(
    body: s.TenantBody, services: ServicesDep, principal: PrincipalDep
) -> s.Tenant:
    require_platform(principal)
    try:
        record = await services.security.identities.create_tenant(body.name)
    except AlreadyExists:
        raise ApiError(409, ErrorCode.TENANT_EXISTS, f"tenant {body.name!r} exists") from None
    await services.security.audit(principal, "tenant.create", f"tenant/{body.name}")
    return tenant_view(record)


@router.get("", response_model=s.TenantList)
async def list_tenants(services: ServicesDep, principal: PrincipalDep) -> s.TenantList:
    """Every tenant: the platform admin's (a tenant admin reads its own by name)."""
    require_platform(principal)
    tenants = await services.security.identities.list_tenants()
    return s.TenantList(items=[tenant_view(t) for t in tenants])


@router.get("/{name}", response_model=s.Tenant)
async def get_tenant(name: str, services: ServicesDep, principal: PrincipalDep) -> s.Tenant:
    """The tenant with its limits: any for the platform admin, its own for a tenant admin
    (another tenant is 404, as every cross-tenant read is)."""
    return await _readable(services, principal, name)


@router.get("/{name}/limits", response_model=s.Tenant)
async def get_limits(name: str, services: ServicesDep, principal: PrincipalDep) -> s.Tenant:
    """What `PUT` on this address answers: the tenant with its limits (read as `GET
    /tenants/{name}`), so a tenant admin can see its own limits without changing them."""
    return await _readable(services, principal, name)


async def _readable(services: ServicesDep, principal: Principal, name: str) -> s.Tenant:
    """404 for a tenant not the caller's (whatever the role: nothing to probe), then 403
    below admin; the platform admin reads every tenant."""
    if not principal.platform_admin:
        if name != principal.tenant_id:
            raise ApiError(404, ErrorCode.TENANT_NOT_FOUND, f"no tenant {name!r}")
        principal.require(Role.ADMIN)
    try:
        return tenant_view(await services.security.identities.get_tenant(name))
    except NotFound:
        raise ApiError(404, ErrorCode.TENANT_NOT_FOUND, f"no tenant {name!r}") from None


@router.put("/{name}/limits", response_model=s.Tenant)
async def set_limits(
    name: str, body: s.LimitsBody, services: ServicesDep, principal: PrincipalDep
) -> s.Tenant:
    """Per-tenant rate limits; null removes a limit (the deployment default applies)."""
    require_platform(principal)
    try:
        before = await services.security.identities.get_tenant(name)
        record = await services.security.identities.set_tenant_limits(
            name,
            run_starts_per_second=body.run_starts_per_second,
            api_requests_per_second=body.api_requests_per_second,
        )
    except NotFound:
        raise ApiError(404, ErrorCode.TENANT_NOT_FOUND, f"no tenant {name!r}") from None
    services.security.limits.put(record)
    await services.security.audit(
        principal,
        "tenant.limits",
        f"tenant/{name}",
        tenant_id=name,
        before=tenant_view(before).model_dump(mode="json", by_alias=True),
        after=tenant_view(record).model_dump(mode="json", by_alias=True),
    )
    return tenant_view(record)
