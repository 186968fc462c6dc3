"""`http` nodes: one request with httpx; the response's status decides retryability.

5xx, 429 and connection-level errors are retryable (the server may recover); other 4xx
are not (the request itself is wrong). Bodies are parsed as JSON when the response says
so, and capped in size so one huge response cannot blow up the event log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson

from tideflow.nodes._handler import StepFailure, StepOutcome, StepSuccess, TaskSpec
from tideflow.settings import parse_duration

MAX_BODY_BYTES = 1_000_000
DEFAULT_TIMEOUT_S = 30.0
TOO_MANY_REQUESTS = 429
SERVER_ERROR = 500
CLIENT_ERROR = 400


class HttpHandler:
    """Shares one connection pool across every http step this executor runs."""

    node_type = "http"

    def __init__(self, *, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(follow_redirects=True)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self, task: TaskSpec) -> StepOutcome:
        config = task.config
        timeout = _seconds(config.get("timeout"), DEFAULT_TIMEOUT_S)
        if task.timeout is not None:
            timeout = min(timeout, task.timeout.total_seconds())
        body = config.get("body")
        request: dict[str, Any] = {
            "method": str(config.get("method", "GET")).upper(),
            "url": str(config["url"]),
            "headers": {str(k): str(v) for k, v in (config.get("headers") or {}).items()},
            "params": config.get("query") or None,
            "timeout": timeout,
        }
        if isinstance(body, dict | list):
            request["json"] = body
        elif body is not None:
            request["content"] = str(body).encode()
        try:
            response = await self._client.request(**request)
        except httpx.TimeoutException as e:
            message = f"{request['url']}: timed out ({e!r})"
            return StepFailure("HttpTimeout", message, retryable=True)
        except httpx.HTTPError as e:
            message = f"{request['url']}: {e!r}"
            return StepFailure("HttpConnectionError", message, retryable=True)
        output = {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": _parse_body(response),
        }
        status = response.status_code
        if status < CLIENT_ERROR:
            return StepSuccess(output)
        return StepFailure(
            f"Http{status}",
            f"{request['method']} {request['url']} answered {status}",
            retryable=status >= SERVER_ERROR or status == TOO_MANY_REQUESTS,
            details={"response": output},
        )


def _parse_body(response: httpx.Response) -> Any:
    content = response.content[:MAX_BODY_BYTES]
    if "json" in response.headers.get("content-type", ""):
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    return content.decode(response.encoding or "utf-8", errors="replace")


def _seconds(value: Any, default: float) -> float:
    """A node's `timeout` as seconds: a duration string (`5s`), a number, or the default."""
    parsed = parse_duration(value) if value is not None else None
    return parsed.total_seconds() if isinstance(parsed, timedelta) else default
