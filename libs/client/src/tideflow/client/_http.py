"""What both clients do around a call: build the request, read the answer, decide retries.

Retries: a connection that could not be opened never carried the request, so any call is
tried again; a failure after the request was sent (a reset, a timeout, a 502/503/504)
is tried again only for idempotent calls, because the server may have acted on it. A
non-idempotent call whose connection broke raises `ConnectionFailedError`: look before
repeating it (or give it an idempotency key).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import ValidationError

from tideflow.client._calls import UNSET, Call
from tideflow.client._errors import ApiError, ConnectionFailedError, ErrorCode, error_for

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8080"
RETRY_STATUSES = frozenset({502, 503, 504})
USER_AGENT = "tideflow-client/0.1"


@dataclass(frozen=True, slots=True)
class Retries:
    """`attempts` tries in all, waiting `backoff * 2^n` (at most `max_backoff`) between."""

    attempts: int = 4
    backoff: float = 0.2
    max_backoff: float = 2.0

    def delay(self, attempt: int) -> float:
        """The wait after failed try number `attempt` (1-based)."""
        return float(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))


NO_RETRIES = Retries(attempts=1)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the API is and who the caller is, resolved once per client."""

    url: str
    approvals_url: str
    token: str | None

    @classmethod
    def resolve(cls, url: str | None, token: str | None, approvals_url: str | None) -> Endpoint:
        """Explicit values first, then TIDEFLOW_URL / TIDEFLOW_TOKEN / TIDEFLOW_APPROVAL_URL."""
        base = (url or os.environ.get("TIDEFLOW_URL") or DEFAULT_URL).rstrip("/")
        approvals = approvals_url or os.environ.get("TIDEFLOW_APPROVAL_URL") or base
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) address: {base}")
        return cls(url=base, approvals_url=approvals.rstrip("/"),
                   token=token or os.environ.get("TIDEFLOW_TOKEN") or None)  # fmt: skip

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def request_of(call: Call[Any], endpoint: Endpoint) -> dict[str, Any]:
    """Keyword arguments of `httpx.Client.request` for a call."""
    base = endpoint.approvals_url if call.base == "approvals" else endpoint.url
    kwargs: dict[str, Any] = {"method": call.method, "url": base + call.path}
    if call.params:
        kwargs["params"] = dict(call.params)
    if call.body is not UNSET:
        kwargs["content"] = json.dumps(call.body, default=str).encode()
        kwargs["headers"] = {"Content-Type": "application/json"}
    return kwargs


def read(call: Call[T], response: httpx.Response) -> T:
    """The answer as the call's model, or the `ApiError` the API's error document names."""
    content = response.content
    try:
        body = json.loads(content) if content else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = UNSET
    status = response.status_code
    if 200 <= status < 300:  # noqa: PLR2004
        if body is UNSET:
            raise ApiError(status, ErrorCode.BAD_RESPONSE, f"{call.method} {call.path}: not JSON")
        try:
            return call.read(body)
        except ValidationError as e:
            raise ApiError(status, ErrorCode.BAD_RESPONSE,
                           f"{call.method} {call.path}: unexpected answer: {e}") from e  # fmt: skip
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        details = error.get("details")
        details = dict(details) if isinstance(details, dict) else {}
        retry_after = response.headers.get("Retry-After")
        if retry_after is not None and "retryAfter" not in details:
            details["retryAfter"] = _number(retry_after)
        raise error_for(status, str(error.get("code") or f"HTTP_{status}"),
                        str(error.get("message", "")), details)  # fmt: skip
    text = content[:500].decode(errors="replace")
    raise error_for(status, f"HTTP_{status}", text or response.reason_phrase, None)


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def retry_response(call: Call[Any], response: httpx.Response) -> bool:
    """A 502/503/504 to an idempotent call is worth another try."""
    return call.idempotent and response.status_code in RETRY_STATUSES


def retry_error(call: Call[Any], error: httpx.TransportError) -> bool:
    """Never sent: always; sent, maybe acted on: only when sending twice is harmless."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return True
    return call.idempotent


def unreachable(endpoint: Endpoint, error: httpx.TransportError) -> ConnectionFailedError:
    reason = str(error) or type(error).__name__
    return ConnectionFailedError(f"cannot reach {endpoint.url}: {reason}")


def merged(a: Mapping[str, str], b: Mapping[str, str] | None) -> dict[str, str]:
    return {**a, **(b or {})}
