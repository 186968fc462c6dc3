"""Secrets per tenant: write and delete values, list names and metadata — never values.

Values are sealed (AES-256-GCM data key per secret, wrapped by the KEK provider) before
they reach the store, and only the executor opens them, for `{{ secrets.NAME }}` of the
run's own tenant. `TIDEFLOW_SECRET_<NAME>` variables show up in the default tenant's list
as read-only `environment` entries.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from tideflow.auth import Role
from tideflow.gateway import security_schemas as s
from tideflow.gateway.deps import PrincipalDep, ServicesDep
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.store import NotFound, SecretRecord

router = APIRouter(prefix="/secrets", tags=["secrets"])

SecretName = Annotated[str, Path(pattern=s.SECRET_NAME_PATTERN)]


def _view(record: SecretRecord) -> s.SecretInfo:
    return s.SecretInfo(
        name=record.name,
        version=record.version,
        kek_id=record.kek_id,
        algorithm=record.algorithm,
        created_at=record.created_at,
        updated_at=record.updated_at,
        updated_by=record.updated_by,
        source="store",
    )


@router.put("/{name}", response_model=s.SecretInfo)
async def put_secret(
    name: SecretName, body: s.SecretBody, services: ServicesDep, principal: PrincipalDep
) -> s.SecretInfo:
    """Create or replace a secret of the caller's tenant (the answer has no value)."""
    principal.require(Role.ADMIN)
    record = await services.security.secrets.put(
        principal.tenant_id, name, body.value, by=principal.subject
    )
    await services.security.audit(
        principal, "secret.put", f"secret/{name}", details={"version": record.version}
    )
    return _view(record)


@router.get("", response_model=s.SecretList)
async def list_secrets(services: ServicesDep, principal: PrincipalDep) -> s.SecretList:
    principal.require(Role.ADMIN)
    stored = await services.security.secrets.stored(principal.tenant_id)
    items = [_view(r) for r in stored]
    names = {r.name for r in stored}
    items += [
        s.SecretInfo(
            name=name,
            version=None,
            kek_id=None,
            algorithm=None,
            created_at=None,
            updated_at=None,
            updated_by=None,
            source="environment",
        )
        for name in services.security.secrets.fallback_names(principal.tenant_id)
        if name not in names
    ]
    return s.SecretList(items=sorted(items, key=lambda i: i.name))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_secret(
    name: SecretName, services: ServicesDep, principal: PrincipalDep
) -> Response:
    principal.require(Role.ADMIN)
    try:
        await services.security.secrets.delete(principal.tenant_id, name)
    except NotFound:
        raise ApiError(404, ErrorCode.SECRET_NOT_FOUND, f"no secret {name!r}") from None
    await services.security.audit(principal, "secret.delete", f"secret/{name}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
