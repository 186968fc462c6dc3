"""Request limits: body size and JSON depth at the door, then per-field sizes.

The body limit is an ASGI middleware so an oversized request is refused from its
`Content-Length`, or as soon as the streamed chunks pass the limit, before 50 MB sit in
memory. The same middleware reads every JSON body strictly and refuses what would fail
later in places that cannot answer well: nesting deeper than the limit (the stdlib
parser's recursion, the store's encoder at 255 levels, the engine's commit), NaN and
±Infinity (stored as null), overflowing numbers, lone surrogates and NUL characters
(Postgres refuses them). Field limits (definition, input, signal) are checked by the
routes that know what a field is.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tideflow.gateway.errors import ApiError, ErrorCode, error_body
from tideflow.settings import LimitsSettings

_JSON_STARTS = (b"{", b"[")
_RAW_BODY_PREFIXES = ("/hooks/",)
"""Routes that get the body as sent (screened all the same): a webhook's signature is an
HMAC over its raw bytes, which re-encoding would break (the trigger routes mounted on the
gateway under `tide dev`)."""
_SCREEN_INLINE_BYTES = 256 * 1024
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
"""A JSON-escaped NUL (`\\u0000` after an even number of backslashes, so not `\\\\u0000`)."""


def json_size(value: Any) -> int:
    """Bytes of the compact JSON encoding: what the store and the bus carry."""
    try:
        return len(orjson.dumps(value))
    except TypeError:  # deeper than orjson encodes; callers check depth before
        return len(repr(value))


def deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests containers more than `limit` levels (iterative, early exit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def check_size(value: Any, *, limit: int, code: ErrorCode, what: str) -> None:
    """413 with `code` when `value` encodes to more than `limit` bytes."""
    size = json_size(value)
    if size > limit:
        raise ApiError(
            413,
            code,
            f"{what} is {size} bytes; the limit is {limit} (TIDEFLOW_LIMITS_*)",
            {"limit": limit, "size": size},
        )


def check_definition(document: dict[str, Any], limits: LimitsSettings) -> None:
    """A definition's encoded size and node count."""
    check_size(
        document,
        limit=limits.definition_bytes,
        code=ErrorCode.DEFINITION_TOO_LARGE,
        what="the definition",
    )
    spec = document.get("spec")
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    if isinstance(nodes, list) and len(nodes) > limits.definition_nodes:
        raise ApiError(
            413,
            ErrorCode.DEFINITION_TOO_LARGE,
            f"the definition has {len(nodes)} nodes; the limit is {limits.definition_nodes}",
            {"limit": limits.definition_nodes, "nodes": len(nodes)},
        )


class BodyLimit:
    """Refuses request bodies over `request_bytes` (413) or nested over `json_depth` (422)."""

    def __init__(self, app: ASGIApp, limits: LimitsSettings) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            await self.app(scope, receive, send)
            return
        limit = int(self.limits.request_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, 413, ErrorCode.PAYLOAD_TOO_LARGE, _too_large(declared, limit))
            return
        chunks: list[bytes] = []
        received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _refuse(send, 413, ErrorCode.PAYLOAD_TOO_LARGE, _too_large(received, limit))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, refusal = await self._screen(b"".join(chunks), str(scope.get("path", "")))
        if refusal is not None:
            await _refuse(send, 422, *refusal)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _screen(self, raw: bytes, path: str) -> tuple[bytes, Refusal | None]:
        """The body the route gets (re-read JSON, or `raw` for webhooks), or the refusal."""
        if len(raw) > _SCREEN_INLINE_BYTES:  # a large body is screened off the event loop
            body, refusal = await asyncio.to_thread(_screened, raw, self.limits.json_depth)
        else:
            body, refusal = _screened(raw, self.limits.json_depth)
        return (raw if path.startswith(_RAW_BODY_PREFIXES) else body), refusal


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(size: int, limit: int) -> tuple[str, dict[str, Any]]:
    return (
        f"the request body is over {limit} bytes (TIDEFLOW_LIMITS_REQUEST_BYTES)",
        {"limit": limit, "size": size},
    )


Refusal = tuple[ErrorCode, tuple[str, dict[str, Any]]]


def _screened(body: bytes, depth: int) -> tuple[bytes, Refusal | None]:
    """A JSON body as the routes should parse it, or why it is refused.

    The body is parsed with orjson, which refuses what the standard parser (FastAPI's)
    would let through and the store could not hold: NaN and ±Infinity, numbers that
    overflow a double, lone surrogates, nesting past 1024. What passes is re-encoded, so
    an integer beyond 64 bits reaches the route as the float orjson read.
    """
    if body.lstrip()[:1] not in _JSON_STARTS:
        return body, None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        if "depth" in str(e):
            return body, _too_deep(depth)
        problem = {"path": "body", "message": str(e), "type": "json_invalid"}
        return body, (
            ErrorCode.VALIDATION_FAILED,
            ("the body is not valid JSON (NaN, Infinity and lone surrogates are not JSON)",
             {"problems": [problem]}),
        )  # fmt: skip
    # no more opening brackets than levels allowed: it cannot be too deep (most bodies)
    if body.count(b"[") + body.count(b"{") > depth and deeper_than(value, depth):
        return body, _too_deep(depth)
    encoded = orjson.dumps(value)
    if b"\\u0000" in encoded and _NUL.search(encoded):
        where = nul_path(value) or "body"
        problem = {"path": where, "message": "NUL characters are not allowed", "type": "nul"}
        return body, (
            ErrorCode.VALIDATION_FAILED,
            (f"{where} contains a NUL character (\\u0000), which cannot be stored",
             {"problems": [problem]}),
        )  # fmt: skip
    return encoded, None


def nul_path(value: Any) -> str | None:
    """Where the first NUL character of a JSON value is (`input.items[2]`), if any.

    Postgres text and jsonb cannot hold one, so every route would fail on it in the
    store; refused here for all of them at once.
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    return child_path
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


def _too_deep(depth: int) -> Refusal:
    return ErrorCode.JSON_TOO_DEEP, (
        f"the JSON body nests deeper than {depth} levels",
        {"limit": depth},
    )


async def _refuse(
    send: Send, status: int, code: ErrorCode, message: tuple[str, dict[str, Any]]
) -> None:
    text, details = message
    payload = orjson.dumps(error_body(code, text, details))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
