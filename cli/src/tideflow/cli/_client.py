"""How the CLI talks to the API: through `tideflow.client`, the same typed client users get.

`connect` builds a `tideflow.client.Client` from `--url`/`--token` (else TIDEFLOW_URL /
TIDEFLOW_TOKEN). The client (httpx, pydantic) is imported by the commands that talk to
the API, not at start-up, so `tide --help` stays fast. An `ApiError` inside `api_errors()`
is printed as `error CODE: message` (and its details) with a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tideflow.client import ApiError, Client

DEFAULT_URL = "http://127.0.0.1:8080"

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Gateway address. [env: TIDEFLOW_URL]", show_default=False),
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", help="Bearer token. [env: TIDEFLOW_TOKEN]", show_default=False),
]
OUTPUT_FORMATS = ("table", "json")


def _output_format(value: str) -> str:
    """Refuse `-o yaml` at once instead of quietly printing a table a script cannot parse."""
    if value not in OUTPUT_FORMATS:
        message = f"'{value}' is not one of {', '.join(OUTPUT_FORMATS)}"
        raise typer.BadParameter(message)
    return value


OutputOption = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        help="table (for people) or json (for scripts).",
        callback=_output_format,
    ),
]


CursorOption = Annotated[
    str | None,
    typer.Option(
        "--cursor",
        help="Continue a list where the last one stopped (its `more:`).",
        show_default=False,
    ),
]


def more_hint(page: dict[str, Any]) -> None:
    """Say on stderr how to get the next page, so a list cut at `--limit` never looks whole."""
    if page.get("nextCursor"):
        typer.echo(f"more: --cursor {page['nextCursor']}", err=True)


def connect(url: str | None, token: str | None, *, approvals_url: str | None = None) -> Client:
    """A client for one command; a malformed address is the usual one-line error.

    Retries are short: a person at a terminal wants a server that is down said at once.
    """
    from tideflow.client import ApiError, Client, ErrorCode, Retries

    try:
        return Client(
            url,
            token=token,
            approvals_url=approvals_url,
            retries=Retries(attempts=3, backoff=0.1, max_backoff=0.5),
        )
    except ValueError as e:
        raise fail(ApiError(0, ErrorCode.UNREACHABLE, str(e))) from e


def fail(error: ApiError) -> typer.Exit:
    """Print an API error for a person and return the Exit to raise."""
    typer.secho(f"error {error.code}: {error.message}", err=True, fg=typer.colors.RED)
    if error.details:
        typer.echo(json.dumps(error.details, indent=2, default=str), err=True)
    return typer.Exit(code=1)


@contextlib.contextmanager
def api_errors() -> Iterator[None]:
    """Turn an API error inside the block into the printed error and a non-zero exit."""
    from tideflow.client import ApiError

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
        try:
            with open(value[1:], encoding="utf-8") as handle:  # noqa: PTH123 - a user-given path
                text = handle.read()
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            typer.secho(f"error INVALID_JSON: cannot read {value[1:]}: {reason}", err=True,
                        fg=typer.colors.RED)  # fmt: skip
            raise typer.Exit(code=2) from e
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        typer.secho("error INVALID_JSON: the value nests too deep to be read", err=True,
                    fg=typer.colors.RED)  # fmt: skip
        raise typer.Exit(code=2) from None
    except ValueError as e:  # JSONDecodeError, or NaN/Infinity
        typer.secho(f"error INVALID_JSON: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from e


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON: NaN or Infinity cannot be sent")


def _finite(text: str) -> float:
    """`1e400` reads as infinity, which JSON cannot hold (the API refuses it)."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large for a double: NaN or Infinity cannot be sent")
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))
