"""The API's error contract: `{"error": {"code", "message", "details"}}` with stable codes.

Codes are part of the public API (clients branch on them), so they live in one enum,
`tideflow.contract.ErrorCode`, shared with the client, and never change meaning. Every
failure path — validation, not found, conflicts, our own bugs — ends in this shape; a
stack trace never reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tideflow.auth import AuthError, InvalidCredentials
from tideflow.contract import ErrorCode
from tideflow.store import StoreUnavailable

__all__ = [
    "STATUS_CODES",
    "ApiError",
    "ErrorCode",
    "error_body",
    "install_error_handlers",
]

log = logging.getLogger(__name__)


STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_FAILED,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


class ApiError(Exception):
    """Raised by route handlers; rendered as the error document with its HTTP status."""

    def __init__(
        self, status: int, code: ErrorCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def error_body(
    code: ErrorCode, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code.value, "message": message, "details": details or {}}}


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception FastAPI can see onto the error document."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        retry_after = exc.details.get("retryAfter") if exc.status == 429 else None  # noqa: PLR2004
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers
        )

    @app.exception_handler(AuthError)
    async def auth_error(_: Request, exc: AuthError) -> JSONResponse:
        from tideflow.gateway.auth import as_api_error  # noqa: PLC0415 - auth imports errors

        error = as_api_error(exc)
        headers = (
            {"WWW-Authenticate": 'Bearer realm="tideflow"'}
            if isinstance(exc, InvalidCredentials)
            else None
        )
        return JSONResponse(
            error_body(error.code, error.message), status_code=error.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "path": ".".join(str(p) for p in err.get("loc", ())),
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        return JSONResponse(
            error_body(
                ErrorCode.VALIDATION_FAILED, "the request is not valid", {"problems": problems}
            ),
            status_code=422,
        )

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            error_body(ErrorCode.UNAVAILABLE, "the database is unavailable; retry shortly"),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            error_body(ErrorCode.INTERNAL, "internal error; the incident was logged"),
            status_code=500,
        )
