"""Roles per tenant and the principal a request acts as.

Roles are ordered: each one can do everything the roles below it can. `approver` sits
between `editor` and `admin` because deciding an approval is a stronger act than starting
a run, and a tenant admin may do anything inside its tenant. The platform admin (the
`TIDEFLOW_ADMIN_TOKEN`) is a tenant admin of `default` that may also manage tenants.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tideflow.auth._errors import Forbidden

DEFAULT_TENANT = "default"


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def includes(self, other: Role) -> bool:
        """Whether holding this role allows what `other` allows."""
        return self.rank >= other.rank


_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2, Role.ADMIN: 3}


class PrincipalKind(StrEnum):
    PLATFORM = "platform"
    """The deployment's admin token."""
    TOKEN = "token"  # noqa: S105 - a kind of credential, not a password
    """An API token of a tenant (machines)."""
    USER = "user"
    """A human user, through a JWT access token or HTTP Basic."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a subject name, its tenant and its role there."""

    subject: str
    tenant_id: str
    role: Role
    kind: PrincipalKind = PrincipalKind.USER
    credential_id: str | None = None
    """The API token id or user id that proved it (for revocation checks and audit)."""

    @property
    def platform_admin(self) -> bool:
        return self.kind is PrincipalKind.PLATFORM

    def allows(self, role: Role) -> bool:
        return self.role.includes(role)

    def require(self, role: Role) -> None:
        """Refuse (`Forbidden`) unless this principal's role includes `role`."""
        if not self.role.includes(role):
            raise Forbidden(f"this action needs the {role} role")
