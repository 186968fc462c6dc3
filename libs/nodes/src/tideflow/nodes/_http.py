"""`http` nodes: one request with httpx, through the egress policy, read as a stream.

5xx, 429 and connection-level errors are retryable (the server may recover). Other 4xx
and everything wrong with the request itself are not: a `file://` URL, CR/LF in a
header, a destination the egress policy refuses, a response over the size cap or nested
too deep will fail the same way every time. The body is read chunk by chunk and the
read stops at the cap, so a 300 MB response never sits in memory; a failed request keeps
only the start of its body, for the error message.
"""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta
from typing import Any

import httpx
import orjson

from tideflow.nodes._capped import ResponseTooLarge
from tideflow.nodes._egress import EgressDenied, EgressPolicy, GuardedTransport
from tideflow.nodes._handler import StepFailure, StepOutcome, StepSuccess, TaskSpec
from tideflow.settings import EgressSettings, parse_duration

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_JSON_DEPTH = 64
ERROR_BODY_BYTES = 2048
"""How much of a failed response's body its error keeps (the start, decoded)."""
ERROR_MESSAGE_CHARS = 300
TOO_MANY_REQUESTS = 429
SERVER_ERROR = 500
CLIENT_ERROR = 400
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


class RequestInvalid(Exception):  # noqa: N818 - reported as the step's error type
    """The request can never be sent as configured."""


class HttpHandler:
    """Shares one guarded connection pool across every http step this executor runs."""

    node_type = "http"

    def __init__(
        self,
        *,
        policy: EgressPolicy | None = None,
        response_bytes: int | None = None,
        max_redirects: int | None = None,
        json_depth: int = DEFAULT_JSON_DEPTH,
    ) -> None:
        settings = EgressSettings()
        self._policy = policy or EgressPolicy.from_settings(settings)
        self._response_bytes = response_bytes or int(settings.response_bytes)
        self._json_depth = json_depth
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(self._policy, response_bytes=self._response_bytes),
            follow_redirects=True,
            max_redirects=settings.max_redirects if max_redirects is None else max_redirects,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self, task: TaskSpec) -> StepOutcome:
        try:
            request = _request(task)
        except RequestInvalid as e:
            return StepFailure("HttpInvalidRequest", str(e), retryable=False)
        where = f"{request['method']} {request['url']}"
        try:
            async with self._client.stream(**request) as response:
                if response.status_code >= CLIENT_ERROR:
                    return await self._failure(where, response)
                body = await self._read(response)
                output = {
                    "status": response.status_code,
                    "headers": _kept_headers(response, task.config.get("responseHeaders")),
                    "body": self._parse(response, body),
                }
        except (EgressDenied, _Refused, httpx.HTTPError) as e:
            return _failure_of(where, e)
        return StepSuccess(output)

    async def _failure(self, where: str, response: httpx.Response) -> StepFailure:
        status = response.status_code
        start = bytearray()
        with contextlib.suppress(ResponseTooLarge):  # the status says it all; keep the start
            async for chunk in response.aiter_bytes():
                start += chunk
                if len(start) >= ERROR_BODY_BYTES:
                    break
        text = bytes(start[:ERROR_BODY_BYTES]).decode(response.encoding or "utf-8", "replace")
        shown = " ".join(text.split())[:ERROR_MESSAGE_CHARS]
        more = "…" if len(text) > len(shown) else ""
        message = f"{where} answered {status}" + (f": {shown}{more}" if shown else "")
        return StepFailure(
            f"Http{status}",
            message,
            retryable=status >= SERVER_ERROR or status == TOO_MANY_REQUESTS,
            details={"status": status, "body": text},
        )

    async def _read(self, response: httpx.Response) -> bytes:
        cap = self._response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _Refused("HttpResponseTooLarge", f"the response is {declared} bytes; cap {cap}")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise _Refused("HttpResponseTooLarge", f"the response is over {cap} bytes")
        return bytes(body)

    def _parse(self, response: httpx.Response, body: bytes) -> Any:
        if "json" in response.headers.get("content-type", ""):
            try:
                value = orjson.loads(body)
            except orjson.JSONDecodeError as e:
                if "depth" in str(e):
                    raise _Refused("HttpResponseTooDeep", "the JSON response is too deep") from e
            else:
                if _deeper_than(value, self._json_depth):
                    raise _Refused(
                        "HttpResponseTooDeep",
                        f"the JSON response nests deeper than {self._json_depth} levels",
                    )
                return value
        return body.decode(response.encoding or "utf-8", errors="replace")


def _failure_of(where: str, error: Exception) -> StepFailure:
    """What a request that raised says: only network trouble is worth a retry."""
    match error:
        case EgressDenied():
            return StepFailure("EgressDenied", f"{where}: {error}", retryable=False)
        case _Refused() | ResponseTooLarge():
            return StepFailure(error.error_type, f"{where}: {error}", retryable=False)
        case httpx.TooManyRedirects():
            return StepFailure("HttpTooManyRedirects", f"{where}: {error}", retryable=False)
        case httpx.UnsupportedProtocol() | httpx.InvalidURL() | httpx.LocalProtocolError():
            return StepFailure("HttpInvalidRequest", f"{where}: {error}", retryable=False)
        case httpx.TimeoutException():
            return StepFailure("HttpTimeout", f"{where}: timed out ({error!r})", retryable=True)
        case _:
            return StepFailure("HttpConnectionError", f"{where}: {error!r}", retryable=True)


class _Refused(Exception):  # noqa: N818 - carries a step error type
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def _request(task: TaskSpec) -> dict[str, Any]:
    """The httpx request of a task, or RequestInvalid for what can never be sent."""
    config = task.config
    url = str(config.get("url", ""))
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise RequestInvalid(f"invalid URL: {e}") from e
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise RequestInvalid(f"only http:// and https:// URLs with a host are allowed, not {url}")
    headers: dict[str, bytes] = {}
    for name, value in (config.get("headers") or {}).items():
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        if not _TOKEN.fullmatch(str(name)):
            raise RequestInvalid(f"header name {name!r} is not a valid HTTP token")
        if _BAD_VALUE.search(text):
            raise RequestInvalid(f"header {name} holds CR, LF or NUL, which would split it")
        headers[str(name)] = text.encode()  # UTF-8: httpx would refuse non-ASCII text
    if task.idempotency_key and not any(k.lower() == "idempotency-key" for k in headers):
        headers["Idempotency-Key"] = task.idempotency_key.encode()
    timeout = _seconds(config.get("timeout"), DEFAULT_TIMEOUT_S)
    if task.timeout is not None:
        timeout = min(timeout, task.timeout.total_seconds())
    request: dict[str, Any] = {
        "method": str(config.get("method", "GET")).upper(),
        "url": parsed,
        "headers": headers,
        "params": config.get("query") or None,
        "timeout": timeout,
    }
    body = config.get("body")
    if isinstance(body, dict | list):
        request["json"] = body
    elif body is not None:
        request["content"] = str(body).encode()
    return request


def _kept_headers(response: httpx.Response, wanted: Any) -> dict[str, str]:
    """The response headers `responseHeaders` names (`["*"]`: all); none by default, since
    headers such as Set-Cookie would otherwise land in the event log and the run output."""
    if not wanted:
        return {}
    names = {str(n).lower() for n in wanted}
    return {k: v for k, v in response.headers.items() if "*" in names or k.lower() in names}


def _deeper_than(value: Any, limit: int) -> bool:
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _seconds(value: Any, default: float) -> float:
    """A node's `timeout` as seconds: a duration string (`5s`), a number, or the default."""
    parsed = parse_duration(value) if value is not None else None
    return parsed.total_seconds() if isinstance(parsed, timedelta) else default
