"""Who is calling, and may they: the gateway's face of `tideflow.auth`.

Credentials (the admin token, API tokens, JWT access tokens, HTTP Basic) are resolved by
`tideflow.auth.Authenticator`; route handlers depend on the resulting `Principal` and call
`principal.require(role)`, never on how it was proven. The library's `InvalidCredentials`
and `Forbidden` become 401 and 403 in the API's error contract here.
"""

from __future__ import annotations

from tideflow.auth import (
    DEFAULT_TENANT,
    Authenticator,
    AuthError,
    Forbidden,
    InvalidCredentials,
    Principal,
    PrincipalKind,
    RateLimited,
    Role,
)
from tideflow.gateway.errors import ApiError, ErrorCode

__all__ = [
    "DEFAULT_TENANT",
    "Authenticator",
    "Principal",
    "PrincipalKind",
    "Role",
    "as_api_error",
]


def as_api_error(exc: AuthError) -> ApiError:
    """401 for credentials that do not prove anyone, 403 for a role that falls short."""
    if isinstance(exc, Forbidden):
        return ApiError(403, ErrorCode.FORBIDDEN, str(exc))
    if isinstance(exc, InvalidCredentials):
        return ApiError(401, ErrorCode.UNAUTHENTICATED, str(exc))
    if isinstance(exc, RateLimited):
        return ApiError(429, ErrorCode.RATE_LIMITED, str(exc), exc.details)
    return ApiError(503, ErrorCode.UNAVAILABLE, "the key provider is unavailable; retry shortly")
