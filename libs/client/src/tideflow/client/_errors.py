"""Errors of the client: one per kind of failure, each carrying the API's stable code.

The API answers every failure with `{"error": {"code", "message", "details"}}`; the HTTP
status picks the class (so `except NotFoundError` reads well) and `code` says exactly
what happened (`RUN_NOT_FOUND` vs `WORKFLOW_NOT_FOUND`), for code that branches on it.
Failures that never reached the API get codes of their own (`UNREACHABLE`,
`WAIT_TIMEOUT`, `BAD_RESPONSE`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The stable codes (see docs/api.md); `error.code` may also hold one added later."""

    BAD_REQUEST = "BAD_REQUEST"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    INVALID_DEFINITION = "INVALID_DEFINITION"
    INPUT_INVALID = "INPUT_INVALID"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
    WORKFLOW_EXISTS = "WORKFLOW_EXISTS"
    WORKFLOW_ARCHIVED = "WORKFLOW_ARCHIVED"
    NAME_MISMATCH = "NAME_MISMATCH"
    VERSION_NOT_FOUND = "VERSION_NOT_FOUND"
    NO_PUBLISHED_VERSION = "NO_PUBLISHED_VERSION"
    RUN_NOT_FOUND = "RUN_NOT_FOUND"
    STEP_NOT_FOUND = "STEP_NOT_FOUND"
    RUN_ALREADY_ENDED = "RUN_ALREADY_ENDED"
    UNKNOWN_SIGNAL = "UNKNOWN_SIGNAL"
    SEQ_OUT_OF_RANGE = "SEQ_OUT_OF_RANGE"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    JSON_TOO_DEEP = "JSON_TOO_DEEP"
    DEFINITION_TOO_LARGE = "DEFINITION_TOO_LARGE"
    INPUT_TOO_LARGE = "INPUT_TOO_LARGE"
    SIGNAL_TOO_LARGE = "SIGNAL_TOO_LARGE"
    VALUE_TOO_LARGE = "VALUE_TOO_LARGE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    TENANT_NOT_FOUND = "TENANT_NOT_FOUND"
    TENANT_EXISTS = "TENANT_EXISTS"
    TOKEN_NOT_FOUND = "TOKEN_NOT_FOUND"  # noqa: S105 - an error code
    USER_EXISTS = "USER_EXISTS"
    SECRET_NOT_FOUND = "SECRET_NOT_FOUND"  # noqa: S105 - an error code
    SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"
    APPROVAL_NOT_FOUND = "APPROVAL_NOT_FOUND"
    APPROVAL_CLOSED = "APPROVAL_CLOSED"
    APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    # the client's own: the API was never reached, or did not answer as it should
    UNREACHABLE = "UNREACHABLE"
    WAIT_TIMEOUT = "WAIT_TIMEOUT"
    BAD_RESPONSE = "BAD_RESPONSE"


class ApiError(Exception):
    """The API refused a request (or could not be reached): `status` 0 means no answer."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}


class BadRequestError(ApiError):
    """400/422: the request is wrong (invalid definition, input, body); do not repeat it."""


class UnauthenticatedError(ApiError):
    """401: no token, or one that is expired or unknown."""


class ForbiddenError(ApiError):
    """403: the token's role (or tenant) may not do this."""


class NotFoundError(ApiError):
    """404: no such workflow, version, run, approval, ..."""


class ConflictError(ApiError):
    """409: the state forbids it (the workflow exists, the run ended, already decided)."""


class PayloadTooLargeError(ApiError):
    """413: a body, input or signal over the server's limits."""


class RateLimitedError(ApiError):
    """429: the tenant's rate limit; `retry_after` seconds is when to try again."""

    @property
    def retry_after(self) -> float | None:
        value = self.details.get("retryAfter")
        return float(value) if isinstance(value, int | float) else None


class ServerError(ApiError):
    """500: a bug on the server side (the message is safe to show)."""


class UnavailableError(ApiError):
    """502/503/504: the API or what it depends on is down for now."""


class ConnectionFailedError(ApiError):
    """No answer: the address is wrong or the server is down (`UNREACHABLE`)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, ErrorCode.UNREACHABLE, message)


class WaitTimeoutError(ApiError):
    """`wait` gave up before the run ended; the run goes on (`WAIT_TIMEOUT`)."""

    def __init__(self, message: str, *, run: Any = None) -> None:
        super().__init__(0, ErrorCode.WAIT_TIMEOUT, message)
        self.run = run
        """The run as last seen."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthenticatedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: BadRequestError,
    429: RateLimitedError,
    500: ServerError,
    502: UnavailableError,
    503: UnavailableError,
    504: UnavailableError,
}


def error_for(status: int, code: str, message: str, details: dict[str, Any] | None) -> ApiError:
    """The error class for an HTTP status (unknown statuses: the base class)."""
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)  # noqa: PLR2004
    return cls(status, code, message, details)
