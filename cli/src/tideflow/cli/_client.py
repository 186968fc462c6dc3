"""The gateway's REST API as the CLI sees it: one authenticated client, typed errors.

Errors from the API arrive as `{"error": {"code", "message", "details"}}`; the CLI prints
the code and message and exits non-zero, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import httpx
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

    @classmethod
    def from_options(cls, url: str | None, token: str | None) -> Api:
        return cls(
            url=(url or os.environ.get("TIDEFLOW_URL") or DEFAULT_URL).rstrip("/"),
            token=token or os.environ.get("TIDEFLOW_TOKEN"),
        )

    def client(self, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with self.client() as client:
                response = client.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ApiError(0, "UNREACHABLE", f"cannot reach {self.url}: {e}") from e
        return decode(response)

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=query)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})


def decode(response: httpx.Response) -> Any:
    """The JSON body of a success, or an `ApiError` with the gateway's stable code."""
    try:
        body = response.json() if response.content else None
    except json.JSONDecodeError:
        body = None
    if response.is_success:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        raise ApiError(
            response.status_code,
            str(error.get("code", "ERROR")),
            str(error.get("message", "")),
            error.get("details"),
        )
    raise ApiError(response.status_code, f"HTTP_{response.status_code}", response.text[:500])


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
