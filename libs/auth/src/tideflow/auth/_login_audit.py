"""Wrong passwords, recorded alike on every service: `login.failed` in the user's tenant.

`POST /auth/login` and HTTP Basic on any service (the gateway, `tide dev`, and the
standalone approval, trigger and collaboration services) record a refused password the
same way: in the tenant of the user it named (`default` when there is no such user), with
the client's address. The address comes from `REQUEST_SOURCE`, which the request's
authentication sets before the credential is checked (`tideflow.auth._http`, the gateway's
own dependency, the collaboration WebSocket).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

from tideflow.auth._roles import DEFAULT_TENANT
from tideflow.store import AuditEntry

if TYPE_CHECKING:
    from tideflow.store import AuditLog, Identities

REQUEST_SOURCE: ContextVar[str | None] = ContextVar("tideflow_request_source", default=None)
"""The client address of the request being served (what the audit log records as `source`)."""

FAILED_LOGIN = "login.failed"


async def record_failed_login(identities: Identities, audit_log: AuditLog, username: str) -> None:
    """Audit a refused password for `username` (`login.failed`), from `REQUEST_SOURCE`."""
    user = await identities.find_user_by_name(username)
    entry = AuditEntry(
        tenant_id=user.tenant_id if user else DEFAULT_TENANT,
        actor=username,
        action=FAILED_LOGIN,
        resource=f"user/{username}",
        source=REQUEST_SOURCE.get(),
    )
    await audit_log.record_audit([entry])
