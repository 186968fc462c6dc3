"""Who is calling: bearer tokens resolved to a principal with a tenant and roles.

This issue's only credential is the admin token from settings (`TIDEFLOW_ADMIN_TOKEN`).
Route handlers depend on `Principal`, never on how it was proven, so JWTs with signing-key
rotation slot in behind `authenticate` without touching a route.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from tideflow.gateway.errors import ApiError, ErrorCode

if TYPE_CHECKING:
    from pydantic import SecretStr

DEFAULT_TENANT = "default"


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    tenant_id: str
    role: Role

    def require(self, role: Role) -> None:
        """Refuse the call unless this principal's role is at least `role`."""
        if ROLE_RANK[self.role] < ROLE_RANK[role]:
            raise ApiError(403, ErrorCode.FORBIDDEN, f"this action needs the {role} role")


class Authenticator:
    """Resolves an `Authorization` header to a principal."""

    def __init__(self, *, admin_token: SecretStr | None) -> None:
        self._admin_token = admin_token.get_secret_value() if admin_token else None

    @property
    def open(self) -> bool:
        """No credential configured: every caller is the default tenant's admin.

        Only `tide dev` without a token and tests run like this; `tide dev` always sets one.
        """
        return self._admin_token is None

    def authenticate(self, authorization: str | None) -> Principal:
        if self.open:
            return Principal("anonymous", DEFAULT_TENANT, Role.ADMIN)
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, ErrorCode.UNAUTHENTICATED, "send `Authorization: Bearer <token>`")
        # bytes, not str: compare_digest refuses non-ASCII text (a 500 for `Bearer tést`)
        presented = token.strip().encode("utf-8", "surrogateescape")
        if self._admin_token and hmac.compare_digest(presented, self._admin_token.encode()):
            return Principal("admin", DEFAULT_TENANT, Role.ADMIN)
        raise ApiError(401, ErrorCode.UNAUTHENTICATED, "the token is not valid")
