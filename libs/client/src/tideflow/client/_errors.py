"""Errors of the client: one per kind of failure, each carrying the API's stable code.

The API answers every failure with `{"error": {"code", "message", "details"}}`; the HTTP
status picks the class (so `except NotFoundError` reads well) and `code` says exactly
what happened (`RUN_NOT_FOUND` vs `WORKFLOW_NOT_FOUND`), for code that branches on it.
Failures that never reached the API get codes of their own (`UNREACHABLE`,
`WAIT_TIMEOUT`, `BAD_RESPONSE`). The codes are `tideflow.contract.ErrorCode`, the list
the services answer with.
"""

from __future__ import annotations

from typing import Any

from tideflow.contract import ErrorCode

__all__ = [
    "ApiError",
    "BadRequestError",
    "ConflictError",
    "ConnectionFailedError",
    "ErrorCode",
    "ForbiddenError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "ServerError",
    "UnauthenticatedError",
    "UnavailableError",
    "WaitTimeoutError",
    "error_for",
]


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
