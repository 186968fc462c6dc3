"""API tokens, users, login and refresh, and the JWKS.

A tenant admin manages the credentials of its own tenant and never grants a role above
its own; the platform admin may do so for any tenant. Another tenant's token is a 404,
exactly like a token that does not exist.
"""

from __future__ import annotations

import secrets as random
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response, status

from tideflow.auth import (
    REQUEST_SOURCE,
    InvalidCredentials,
    PasswordHasher,
    Principal,
    PrincipalKind,
    RefreshReused,
    Role,
    issue,
)
from tideflow.gateway import security_schemas as s
from tideflow.gateway.deps import PrincipalDep, ServicesDep
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.store import AlreadyExists, ApiTokenRecord, NotFound, UserRecord

router = APIRouter(tags=["auth"])


async def _target_tenant(services: ServicesDep, principal: Principal, wanted: str | None) -> str:
    """The tenant a credential is made for: one's own, or any for the platform admin."""
    tenant = wanted or principal.tenant_id
    if tenant != principal.tenant_id and not principal.platform_admin:
        raise ApiError(404, ErrorCode.TENANT_NOT_FOUND, f"no tenant {tenant!r}")
    try:
        await services.security.identities.get_tenant(tenant)
    except NotFound:
        raise ApiError(404, ErrorCode.TENANT_NOT_FOUND, f"no tenant {tenant!r}") from None
    return tenant


def _not_above(principal: Principal, role: Role) -> None:
    if not principal.role.includes(role):
        raise ApiError(403, ErrorCode.FORBIDDEN, f"a {principal.role} cannot grant the {role} role")


def _token_view(record: ApiTokenRecord) -> s.TokenInfo:
    return s.TokenInfo(
        id=record.token_id,
        tenant=record.tenant_id,
        role=record.role,
        name=record.name,
        created_by=record.created_by,
        created_at=record.created_at,
        revoked_at=record.revoked_at,
    )


def _scope(principal: Principal) -> str | None:
    """Whose credentials a caller sees: its tenant's, or every tenant's (platform)."""
    return None if principal.platform_admin else principal.tenant_id


@router.post("/auth/tokens", status_code=status.HTTP_201_CREATED, response_model=s.CreatedToken)
async def create_token(
    body: s.TokenBody, services: ServicesDep, principal: PrincipalDep
) -> s.CreatedToken:
    """An API token for machines; the token is in this answer only, stored hashed."""
    principal.require(Role.ADMIN)
    tenant = await _target_tenant(services, principal, body.tenant)
    role = Role(body.role)
    _not_above(principal, role)
    minted = issue()
    record = ApiTokenRecord(
        token_id=minted.id,
        tenant_id=tenant,
        name=body.name,
        role=role.value,
        secret_hash=minted.secret_hash,
        created_by=principal.subject,
        created_at=datetime.now(UTC),
    )
    await services.security.identities.create_api_token(record)
    await services.security.audit(
        principal,
        "token.create",
        f"token/{minted.id}",
        tenant_id=tenant,
        details={"name": body.name, "role": role.value},
    )
    return s.CreatedToken(
        id=minted.id, token=minted.token, tenant=tenant, role=body.role, name=body.name
    )


@router.get("/auth/tokens", response_model=s.TokenList)
async def list_tokens(services: ServicesDep, principal: PrincipalDep) -> s.TokenList:
    principal.require(Role.ADMIN)
    found = await services.security.identities.list_api_tokens(tenant_id=_scope(principal))
    return s.TokenList(items=[_token_view(t) for t in found])


@router.delete(
    "/auth/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
async def revoke_token(token_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Revoked at once: the next request with it is refused."""
    principal.require(Role.ADMIN)
    try:
        record = await services.security.identities.revoke_api_token(
            token_id, tenant_id=_scope(principal), at=datetime.now(UTC)
        )
    except NotFound:
        raise ApiError(404, ErrorCode.TOKEN_NOT_FOUND, f"no token {token_id!r}") from None
    await services.security.audit(
        principal, "token.revoke", f"token/{token_id}", tenant_id=record.tenant_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _user_view(record: UserRecord) -> s.User:
    return s.User(
        id=record.user_id,
        username=record.username,
        tenant=record.tenant_id,
        role=record.role,
        created_at=record.created_at,
        disabled=record.disabled,
    )


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=s.User)
async def create_user(body: s.UserBody, services: ServicesDep, principal: PrincipalDep) -> s.User:
    """A human user; the password is stored as an argon2id hash."""
    principal.require(Role.ADMIN)
    tenant = await _target_tenant(services, principal, body.tenant)
    role = Role(body.role)
    _not_above(principal, role)
    hasher: PasswordHasher = services.security.authenticator.passwords
    record = UserRecord(
        user_id=random.token_hex(8),
        tenant_id=tenant,
        username=body.username,
        password_hash=await hasher.hash(body.password),
        role=role.value,
        created_at=datetime.now(UTC),
    )
    try:
        await services.security.identities.create_user(record)
    except AlreadyExists:
        raise ApiError(409, ErrorCode.USER_EXISTS, f"user {body.username!r} exists") from None
    await services.security.audit(
        principal,
        "user.create",
        f"user/{body.username}",
        tenant_id=tenant,
        details={"role": role.value},
    )
    return _user_view(record)


@router.get("/users", response_model=s.UserList)
async def list_users(services: ServicesDep, principal: PrincipalDep) -> s.UserList:
    principal.require(Role.ADMIN)
    found = await services.security.identities.list_users(tenant_id=_scope(principal))
    return s.UserList(items=[_user_view(u) for u in found])


@router.patch("/users/{user_id}", response_model=s.User)
async def update_user(
    user_id: str, body: s.UserUpdate, services: ServicesDep, principal: PrincipalDep
) -> s.User:
    """Change a user's role or disable it; its next request (any service) sees the change."""
    principal.require(Role.ADMIN)
    if body.role is not None:
        _not_above(principal, Role(body.role))
    identities = services.security.identities
    try:
        before = await _user_in_scope(services, principal, user_id)
        record = await identities.update_user(
            user_id, tenant_id=_scope(principal), role=body.role, disabled=body.disabled
        )
    except NotFound:
        raise ApiError(404, ErrorCode.USER_NOT_FOUND, f"no user {user_id!r}") from None
    await services.security.audit(
        principal,
        "user.update",
        f"user/{record.username}",
        tenant_id=record.tenant_id,
        before={"role": before.role, "disabled": before.disabled},
        after={"role": record.role, "disabled": record.disabled},
    )
    return _user_view(record)


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_user(user_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Delete a user and its refresh tokens; its access tokens are refused at once."""
    principal.require(Role.ADMIN)
    try:
        record = await services.security.identities.delete_user(
            user_id, tenant_id=_scope(principal)
        )
    except NotFound:
        raise ApiError(404, ErrorCode.USER_NOT_FOUND, f"no user {user_id!r}") from None
    await services.security.audit(
        principal, "user.delete", f"user/{record.username}", tenant_id=record.tenant_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _user_in_scope(services: ServicesDep, principal: Principal, user_id: str) -> UserRecord:
    """The user if the caller may see it; `NotFound` otherwise (another tenant's user)."""
    found = await services.security.identities.find_user(user_id)
    if found is None or _scope(principal) not in {None, found.tenant_id}:
        raise NotFound(f"user {user_id} not found")
    return found


def _tokens_view(pair: Any) -> s.Tokens:
    return s.Tokens(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post("/auth/login", response_model=s.Tokens)
async def login(body: s.LoginBody, services: ServicesDep, request: Request) -> s.Tokens:
    """A JWT access token (15 min) and a refresh token for a user's name and password."""
    REQUEST_SOURCE.set(request.client.host if request.client else None)
    security = services.security
    await security.check_login_rate(body.username)
    try:
        pair = await security.sessions.login(body.username, body.password)
    except InvalidCredentials:
        await security.failed_login(body.username)
        raise
    await security.audit(pair.principal, "login", f"user/{body.username}")
    return _tokens_view(pair)


@router.post("/auth/refresh", response_model=s.Tokens)
async def refresh(body: s.RefreshBody, services: ServicesDep, request: Request) -> s.Tokens:
    """A new access token and the next refresh token; the presented one is used up.

    Presented again within the reuse grace window (`TIDEFLOW_SECURITY_REFRESH_REUSE_GRACE`,
    10 s; a page reloaded while its refresh was in flight) it answers the same next refresh
    token again; later it answers 401 and revokes its whole family.
    """
    try:
        pair = await services.security.sessions.refresh(body.refresh_token)
    except RefreshReused as e:
        # a leaked copy (or a client replaying long after the grace): worth an audit line
        REQUEST_SOURCE.set(request.client.host if request.client else None)
        user = Principal(e.subject, e.tenant_id, Role.VIEWER, PrincipalKind.USER)
        await services.security.audit(
            user, "refresh.reused", f"user/{e.subject}", details={"revoked": "family"}
        )
        raise ApiError(
            401, ErrorCode.UNAUTHENTICATED, "the refresh token was already used; log in again"
        ) from None
    return _tokens_view(pair)


@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(services: ServicesDep, response: Response) -> dict[str, Any]:
    """The public keys that verify access tokens (current and recently retired)."""
    await services.security.keys.ensure_current()
    response.headers["Cache-Control"] = "public, max-age=60"
    return services.security.keys.jwks()
