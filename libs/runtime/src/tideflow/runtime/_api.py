"""The API's error document and cursors, for every HTTP service (the gateway too).

`{"error": {"code", "message", "details"}}` with the stable codes of `tideflow.contract`,
never a stack trace; a 429 carries `Retry-After` from `details.retryAfter`. Cursors are
opaque URL-safe base64 JSON. The gateway adds its own auth and database handlers on top.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tideflow.contract import ErrorCode
from tideflow.runtime._text import storable_text

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from fastapi import FastAPI, Request

log = logging.getLogger(__name__)

_STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_FAILED,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
}


def code_for_status(status: int) -> ErrorCode:
    """The stable code of an error Starlette raised itself (404 route, 405 method, ...)."""
    return _STATUS_CODES.get(status, ErrorCode.BAD_REQUEST)


class ApiError(Exception):
    """Raised by route handlers; rendered as the error document with its HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "details": details or {}}}


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):  # pragma: no cover - registered for ApiError only
        raise exc
    retry_after = exc.details.get("retryAfter") if exc.status == 429 else None  # noqa: PLR2004
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers
    )


def install_api_error_handler(app: FastAPI) -> None:
    """Render `ApiError` on an app whose other errors someone else handles (the gateway)."""
    app.add_exception_handler(ApiError, _api_error)


def install_error_handlers(
    app: FastAPI,
    *,
    unavailable: tuple[type[Exception], ...] = (),
    statuses: Mapping[type[Exception], tuple[int, str]] | None = None,
) -> None:
    """Map every exception FastAPI can see onto the error document.

    `unavailable` lists the exception types of backing systems that are down (503);
    `statuses` maps other libraries' errors to a status and code (auth: 401, 403).
    """

    install_api_error_handler(app)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        media = not_json(request, exc)
        if media is not None:
            message = (
                f"the body must be JSON, sent with `Content-Type: application/json` "
                f"(this one came with {media})"
            )
            details = {"contentType": media, "expected": "application/json"}
            body = error_body(ErrorCode.UNSUPPORTED_MEDIA_TYPE, message, details)
            return JSONResponse(body, status_code=415)
        problems = [
            {
                "path": ".".join(str(p) for p in err.get("loc", ())),
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        body = error_body(
            ErrorCode.VALIDATION_FAILED, "the request is not valid", {"problems": problems}
        )
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = code_for_status(exc.status_code)
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    for kind, (status, code) in (statuses or {}).items():
        app.add_exception_handler(kind, _mapped(status, code))

    for kind in unavailable:

        @app.exception_handler(kind)
        async def down(request: Request, exc: Exception) -> JSONResponse:
            log.warning("backing system unavailable on %s: %s", request.url.path, exc)
            return JSONResponse(
                error_body(ErrorCode.UNAVAILABLE, "a backing system is unavailable; retry shortly"),
                status_code=503,
                headers={"Retry-After": "1"},
            )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            error_body(ErrorCode.INTERNAL, "internal error; the incident was logged"),
            status_code=500,
        )


def not_json(request: Request, exc: RequestValidationError) -> str | None:
    """The media type of a body left unread because it was not declared JSON, else None.

    FastAPI reads a body as JSON only under a JSON `Content-Type`; anything else (`curl -d`
    sends `application/x-www-form-urlencoded`, or no type at all) reached validation as raw
    bytes and answered 422 "Input should be a valid dictionary", which does not say the fix.
    A body that is missing altogether stays a 422 (`missing`).
    """
    declared = request.headers.get("content-type", "")
    media = declared.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    unread = any(
        tuple(err.get("loc", ()))[:1] == ("body",) and err.get("type") != "missing"
        for err in exc.errors()
    )
    if not unread:
        return None
    return media or "no Content-Type"


def _mapped(status: int, code: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="tideflow"'} if status == 401 else None  # noqa: PLR2004
        details: dict[str, Any] | None = getattr(exc, "details", None)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:  # a rate limit (429): when to come back
            headers = {"Retry-After": str(retry_after)}
        return JSONResponse(
            error_body(code, str(exc), details), status_code=status, headers=headers
        )

    return handler


def encode_cursor(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> ApiError:
    return ApiError(400, ErrorCode.BAD_REQUEST, "the cursor is not valid")


def decode_cursor(cursor: str) -> Any:
    """The value inside a cursor; ApiError 400 when it is not one of ours.

    Cursors come back from clients, so a forged one must fail here, not in the store: too
    deep for the parser, or holding text Postgres cannot take, is 400 like any other."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        raise _bad_cursor() from None
    if not storable_text(value):
        raise _bad_cursor()
    return value


def cursor_time(value: Any) -> datetime:
    """An aware ISO time from a cursor, in UTC; ApiError 400 when it is not one, or it
    leaves the datetime range once in UTC (`0001-01-01T00:00:00+14:00`)."""
    if not isinstance(value, str):
        raise _bad_cursor()
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise _bad_cursor()
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad_cursor() from None
