"""The gateway's REST API as the CLI sees it: one authenticated client, typed errors.

Errors from the API arrive as `{"error": {"code", "message", "details"}}`; the CLI prints
the code and message and exits non-zero, never a traceback. Requests go through the
standard library's `urllib`: the CLI sends one small JSON request at a time, and httpx
alone takes longer to import than the rest of `tide` (see `bench/cli_startup.py`).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_URL = "http://127.0.0.1:8080"

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Gateway address. [env: TIDEFLOW_URL]", show_default=False),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", help="Bearer token. [env: TIDEFLOW_TOKEN]", show_default=False),
]
OutputOption = Annotated[
    str, typer.Option("--output", "-o", help="table (for people) or json (for scripts).")
]


class ApiError(Exception):
    """The gateway answered with an error document (or not at all)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True, slots=True)
class Api:
    """Synchronous client: the CLI does one thing at a time, so sync keeps it simple."""

    url: str
    token: str | None
    timeout: float = 30.0

    @classmethod
    def from_options(cls, url: str | None, token: str | None) -> Api:
        return cls(
            url=(url or os.environ.get("TIDEFLOW_URL") or DEFAULT_URL).rstrip("/"),
            token=token or os.environ.get("TIDEFLOW_TOKEN"),
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request; the decoded JSON body of a success, else an `ApiError`."""
        target = self.url + path
        if params:
            target += "?" + urllib.parse.urlencode(params, doseq=True)
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if json is not None:
            data = _dumps(json)
            headers["Content-Type"] = "application/json"
        if not target.startswith(("http://", "https://")):
            raise ApiError(0, "UNREACHABLE", f"not an http(s) address: {self.url}")
        request = urllib.request.Request(target, data=data, headers=headers, method=method)  # noqa: S310 - scheme checked above
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return decode(response.status, response.read())
        except urllib.error.HTTPError as e:
            return decode(e.code, e.read())
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ApiError(0, "UNREACHABLE", f"cannot reach {self.url}: {reason}") from e

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=query)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})


def _dumps(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()


def decode(status: int, content: bytes) -> Any:
    """The JSON body of a success, or an `ApiError` with the gateway's stable code."""
    try:
        body = json.loads(content) if content else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if 200 <= status < 300:  # noqa: PLR2004
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        raise ApiError(
            status,
            str(error.get("code", "ERROR")),
            str(error.get("message", "")),
            error.get("details"),
        )
    raise ApiError(status, f"HTTP_{status}", content[:500].decode(errors="replace"))


def fail(error: ApiError) -> typer.Exit:
    """Print an API error for a person and return the Exit to raise."""
    typer.secho(f"error {error.code}: {error.message}", err=True, fg=typer.colors.RED)
    if error.details:
        typer.echo(json.dumps(error.details, indent=2, default=str), err=True)
    return typer.Exit(code=1)


@contextlib.contextmanager
def api_errors() -> Iterator[None]:
    """Turn an API error inside the block into the printed error and a non-zero exit."""
    try:
        yield
    except ApiError as e:
        raise fail(e) from e


def read_json_argument(value: str | None) -> Any:
    """`--input '{"a": 1}'` or `--input @file.json`; None means no input."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        with open(value[1:], encoding="utf-8") as handle:  # noqa: PTH123 - a user-given path
            text = handle.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        typer.secho(f"error INVALID_JSON: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from e


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))
