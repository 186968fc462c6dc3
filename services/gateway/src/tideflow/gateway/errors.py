"""The API's error contract: `{"error": {"code", "message", "details"}}` with stable codes.

Codes are part of the public API (clients branch on them), so they live in one enum,
`tideflow.contract.ErrorCode`, shared with the client, and never change meaning. The
document, `ApiError` and the handlers for validation, HTTP and unexpected errors are the
ones every service uses (`tideflow.runtime`); the gateway adds its auth errors and the
database being down. Every failure path ends in this shape; a stack trace never reaches
a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tideflow import runtime
from tideflow.auth import AuthError, InvalidCredentials
from tideflow.contract import ErrorCode
from tideflow.runtime import ApiError, error_body
from tideflow.store import StoreUnavailable

__all__ = [
    "ApiError",
    "ErrorCode",
    "error_body",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception FastAPI can see onto the error document."""
    runtime.install_error_handlers(app)

    @app.exception_handler(AuthError)
    async def auth_error(_: Request, exc: AuthError) -> JSONResponse:
        from tideflow.gateway.auth import as_api_error  # noqa: PLC0415 - auth imports errors

        error = as_api_error(exc)
        headers: dict[str, str] | None = None
        if isinstance(exc, InvalidCredentials):
            headers = {"WWW-Authenticate": 'Bearer realm="tideflow"'}
        elif "retryAfter" in error.details:  # a tenant's rate limit (429)
            headers = {"Retry-After": str(error.details["retryAfter"])}
        return JSONResponse(
            error_body(error.code, error.message, error.details),
            status_code=error.status,
            headers=headers,
        )

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            error_body(ErrorCode.UNAVAILABLE, "the database is unavailable; retry shortly"),
            status_code=503,
            headers={"Retry-After": "1"},
        )
