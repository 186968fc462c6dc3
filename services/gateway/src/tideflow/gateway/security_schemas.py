"""Request and response bodies of tenants, credentials, secrets and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from tideflow.gateway.schemas import ApiModel

TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # noqa: S105
RoleName = Literal["viewer", "editor", "approver", "admin"]


class TenantBody(ApiModel):
    name: str = Field(pattern=TENANT_PATTERN, description="Lowercase letters, digits, - and _.")


class LimitsBody(ApiModel):
    run_starts_per_second: float | None = Field(default=None, gt=0, le=1_000_000)
    api_requests_per_second: float | None = Field(default=None, gt=0, le=1_000_000)


class Tenant(ApiModel):
    name: str
    created_at: datetime
    run_starts_per_second: float | None
    api_requests_per_second: float | None


class TokenBody(ApiModel):
    tenant: str | None = Field(
        default=None, pattern=TENANT_PATTERN, description="Default: the caller's tenant."
    )
    role: RoleName
    name: str = Field(min_length=1, max_length=200)


class TokenInfo(ApiModel):
    id: str
    tenant: str
    role: RoleName
    name: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


class CreatedToken(ApiModel):
    id: str
    token: str = Field(description="Shown once; only its hash is stored.")
    tenant: str
    role: RoleName
    name: str


class UserBody(ApiModel):
    username: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
    password: str = Field(min_length=8, max_length=1024)
    tenant: str | None = Field(default=None, pattern=TENANT_PATTERN)
    role: RoleName


class User(ApiModel):
    id: str
    username: str
    tenant: str
    role: RoleName
    created_at: datetime
    disabled: bool = Field(description="A disabled user cannot log in or use its tokens.")


class UserUpdate(ApiModel):
    role: RoleName | None = Field(
        default=None, description="The new role; the user's next request acts with it."
    )
    disabled: bool | None = Field(
        default=None,
        description="true: the user's access and refresh tokens stop working at once.",
    )


class LoginBody(ApiModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class RefreshBody(ApiModel):
    refresh_token: str = Field(min_length=1, max_length=500)


class Tokens(ApiModel):
    access_token: str
    refresh_token: str
    expires_in: int = Field(description="Seconds until the access token expires.")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105


class SecretBody(ApiModel):
    value: str = Field(max_length=65_536)


class SecretInfo(ApiModel):
    name: str
    version: int | None = Field(description="Null for a read-only environment fallback.")
    kek_id: str | None
    algorithm: str | None
    created_at: datetime | None
    updated_at: datetime | None
    updated_by: str | None
    source: Literal["store", "environment"]


class AuditItem(ApiModel):
    id: int
    at: datetime
    tenant: str
    actor: str
    action: str
    resource: str
    source: str | None
    before: Any = None
    after: Any = None
    details: dict[str, Any] | None = None


class TenantList(ApiModel):
    items: list[Tenant]


class TokenList(ApiModel):
    items: list[TokenInfo]


class UserList(ApiModel):
    items: list[User]


class SecretList(ApiModel):
    items: list[SecretInfo]
