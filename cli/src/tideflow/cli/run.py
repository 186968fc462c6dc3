"""`tide run`: start runs and watch them, read history, time travel, cancel, signal, replay."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tideflow.cli._client import (
    CursorOption,
    OutputOption,
    TokenOption,
    UrlOption,
    api_errors,
    connect,
    fail,
    more_hint,
    print_json,
    read_json_argument,
)
from tideflow.cli._output import Cell, Column, is_terminal, print_table, rich_table

if TYPE_CHECKING:
    from rich.console import Group

    from tideflow.client import ApiError, Client

app = typer.Typer(help="Runs: start, watch, inspect, time travel, cancel, signal, replay.")

TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}
STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "compensated": "magenta",
    "running": "cyan",
    "waiting": "blue",
    "pending": "white",
    "skipped": "dim",
}
STEP_COLUMNS = (
    Column("step", key=True),
    Column("status"),
    Column("attempt"),
    Column("child run", key=True),
    Column("error"),
)
InputOption = Annotated[str | None, typer.Option("--input", "-i", help="JSON text, or @file.json.")]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="Print the run id at once, then the progress until the run ends, then its "
        "output (or error); exit 0 only if it succeeded. With -o json, the id and progress "
        "go to stderr and stdout holds just the run as JSON.",
    ),
]
TimeoutOption = Annotated[float, typer.Option(help="Seconds --wait waits.")]


def exit_code(status: str) -> int:
    """0 for a run that succeeded, 1 for one that ended otherwise."""
    return 0 if status == "succeeded" else 1


def _error_text(error: Any) -> str:
    if not error:
        return ""
    return str(error.get("message", "")) if isinstance(error, dict) else str(error)


def header_lines(run: dict[str, Any]) -> list[str]:
    """The run's identity: its id, workflow, status and the runs it is linked to."""
    status = run.get("status", "?")
    workflow = f"{run.get('workflowId', '')} v{run.get('version', '')}"
    lines = [f"run {run.get('runId', '')}  {status}  workflow {workflow}"]
    for label, key in (("parent run", "parentRunId"), ("replay of", "replayOf")):
        if run.get(key):
            lines.append(f"{label} {run[key]}")
    lines.extend(
        f"step {step['nodeId']} waits for child run {step['childRunId']}"
        for step in run.get("steps", [])
        if step.get("childRunId") and step.get("status") in {"running", "waiting"}
    )
    error = _error_text(run.get("error"))
    if error:
        lines.append(f"error {error}")
    return lines


def step_rows(run: dict[str, Any]) -> list[list[str | Cell]]:
    rows: list[list[str | Cell]] = []
    for step in run.get("steps", []):
        status = step.get("status", "")
        rows.append([
            step.get("nodeId", ""),
            Cell(status, STATUS_STYLE.get(status, "white")),
            str(step.get("attempt", "")),
            step.get("childRunId") or "",
            _error_text(step.get("error")),
        ])  # fmt: skip
    return rows


def render(run: dict[str, Any]) -> Group:
    """A run as people want to watch it at a terminal: identity lines, one row per step."""
    from rich.console import Group
    from rich.text import Text

    status = run.get("status", "?")
    first, *rest = header_lines(run)
    header = Text(first, "bold")
    header.stylize(STATUS_STYLE.get(status, "white"), len(f"run {run.get('runId', '')}  "))
    return Group(header, *(Text(line) for line in rest), rich_table(STEP_COLUMNS, step_rows(run)))


def print_run(run: dict[str, Any], *, title: str | None = None) -> None:
    """`run get` and `run state`: a rich view at a terminal, plain lines elsewhere."""
    if is_terminal():
        from rich.console import Console

        console = Console()
        if title:
            console.print(title, style="bold")
        console.print(render(run))
        return
    for line in ([title] if title else []) + header_lines(run):
        typer.echo(line)
    print_table(STEP_COLUMNS, step_rows(run))


def _progress(run: dict[str, Any]) -> dict[str, str]:
    """A line per step and one for the run, by key; a line that changed is news."""
    lines = {
        f"step:{s.get('nodeId', '')}": (
            f"step {s.get('nodeId', '')} {s.get('status', '')} (attempt {s.get('attempt', '')})"
            + (f" child run {s['childRunId']}" if s.get("childRunId") else "")
            + (f": {_error_text(s.get('error'))}" if s.get("error") else "")
        )
        for s in run.get("steps", [])
    }
    return {**lines, "run": f"run {run.get('runId', '')} {run.get('status', '')}"}


def wait_for(client: Client, run_id: str, *, timeout: float, err: bool) -> dict[str, Any]:
    """Follow the run until it ends, showing its progress as it happens (on stderr if `err`).

    At a terminal the steps are redrawn in place; anywhere else (a pipe, a log file, CI)
    each change is one line the moment it is seen, so a run waiting for a signal never
    looks like a hang. Giving up after `timeout` is a `WaitTimeoutError` (WAIT_TIMEOUT).
    """
    changes = (run.to_json() for run in client.runs.watch(run_id, timeout=timeout))
    run: dict[str, Any] = next(changes)
    if is_terminal(stderr=err):
        from rich.console import Console
        from rich.live import Live

        with Live(render(run), console=Console(stderr=err), auto_refresh=False) as view:
            for run in changes:
                view.update(render(run), refresh=True)
        return run
    shown: dict[str, str] = {}
    while True:
        for key, line in _progress(run).items():
            if shown.get(key) != line:
                shown[key] = line
                typer.echo(line, err=err)
        following = next(changes, None)
        if following is None:
            return run
        run = following


@app.command()
def start(
    workflow: str,
    input_: InputOption = None,
    version: Annotated[int | None, typer.Option(help="Pin a published version.")] = None,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Start a run of a workflow's newest (or a pinned) published version."""
    run_input = {} if input_ is None else read_json_argument(input_)
    with api_errors(), connect(url, token) as client:
        run = client.runs.start(
            workflow, run_input, version=version, idempotency_key=idempotency_key or None
        ).to_json()
        report_started(client, run, wait=wait, timeout=timeout, output=output)


def report_started(
    client: Client, run: dict[str, Any], *, wait: bool, timeout: float, output: str
) -> None:
    """Print a run just started; with `wait`, follow it to its end and exit with its fate.

    `-o json` keeps stdout for the one JSON document (the id and progress go to stderr);
    otherwise everything is on stdout, in order: the id at once, progress, the output.
    """
    if wait:
        err = output == "json"
        typer.echo(f"run {run['runId']} started", err=err)
        run = wait_for(client, run["runId"], timeout=timeout, err=err)
    if output == "json":
        print_json(run)
    elif wait:
        ended_well = run["status"] == "succeeded"
        result = run.get("output") if ended_well else run.get("error")
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        typer.echo(run["runId"])
    if wait:
        raise typer.Exit(code=exit_code(run["status"]))


@app.command()
def get(
    run_id: str, url: UrlOption = None, token: TokenOption = None, output: OutputOption = "table"
) -> None:
    """A run's status, output and steps."""
    with api_errors(), connect(url, token) as client:
        run = client.runs.get(run_id).to_json()
    if output == "json":
        print_json(run)
    else:
        print_run(run)


@app.command("list")
def list_(
    workflow: Annotated[str | None, typer.Option("--workflow", "-w")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="Repeat it or give a comma-separated list."),
    ] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", "-p", help="Only the child runs of this run.")
    ] = None,
    limit: Annotated[int, typer.Option()] = 50,
    cursor: CursorOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Recent runs, newest first, filtered by workflow, status and parent run."""
    with api_errors(), connect(url, token) as client:
        page = client.runs.list(
            workflow_id=workflow,
            status=",".join(status) if status else None,
            parent_run_id=parent,
            limit=limit,
            cursor=cursor,
        ).to_json()
    if output == "json":
        print_json(page)
        return
    columns = [Column("run", key=True), Column("workflow", key=True), Column("version"),
               Column("status"), Column("started"), Column("ended"),
               Column("parent", key=True)]  # fmt: skip
    rows: list[list[str | Cell]] = [
        [
            run["runId"],
            run["workflowId"],
            str(run["version"]),
            Cell(run["status"], STATUS_STYLE.get(run["status"], "white")),
            run.get("startedAt") or "",
            run.get("endedAt") or "",
            run.get("parentRunId") or "",
        ]
        for run in page.get("items", [])
    ]
    print_table(columns, rows)
    more_hint(page)


@app.command()
def events(
    run_id: str,
    after_seq: Annotated[int, typer.Option("--after-seq")] = 0,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """The run's event history, in order: every event after `--after-seq`, page after page."""
    with api_errors(), connect(url, token) as client:
        items = [e.to_json() for e in client.runs.all_events(run_id, after_seq=after_seq)]
    if output == "json":
        print_json({"items": items, "nextAfterSeq": None})
        return
    rows: list[list[str | Cell]] = [
        [str(e["seq"]), e["type"], e.get("recordedAt", ""), json.dumps(e.get("data"), default=str)]
        for e in items
    ]
    print_table([Column("seq"), Column("type", key=True), Column("recorded"), Column("data")], rows)


@app.command()
def state(
    run_id: str,
    at: Annotated[int, typer.Option("--at", help="Event seq.")],
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Time travel: the run exactly as it was right after event `--at`."""
    with api_errors(), connect(url, token) as client:
        snapshot = client.runs.state(run_id, at).to_json()
    if output == "json":
        print_json(snapshot)
    else:
        print_run(snapshot, title=f"as of seq {snapshot.get('atSeq')}")


def _log_text(line: dict[str, Any]) -> str:
    return (
        f"{line.get('ts', '')} {line.get('nodeId', '')}#{line.get('attempt', '')} "
        f"{line.get('level', '')} {line.get('message', '')}"
    )


REFUSED = {4401: "UNAUTHENTICATED", 4403: "FORBIDDEN", 4404: "RUN_NOT_FOUND"}


def _refusal(message: dict[str, Any], close_code: int) -> ApiError:
    """The server's refusal, `{"type": "error"}` then a close with 4000 + the HTTP status."""
    from tideflow.client import ApiError

    error = message.get("error") or {}
    code = str(error.get("code") or REFUSED.get(close_code, "INTERNAL"))
    text = str(error.get("message") or f"the server closed the log stream ({close_code})")
    return ApiError(max(close_code - 4000, 0), code, text)


@app.command()
def logs(
    run_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Step log lines; with -f, keep following until the run ends (-o json: one per line)."""
    from websockets.exceptions import ConnectionClosed, InvalidHandshake
    from websockets.sync.client import connect as websocket

    with api_errors(), connect(url, token) as client:
        endpoint = client.endpoint
    ws_url = endpoint.url.replace("http", "ws", 1) + f"/runs/{run_id}/logs"
    headers = {"Authorization": f"Bearer {endpoint.token}"} if endpoint.token else {}
    query = "" if follow else "?follow=false"
    try:
        with websocket(ws_url + query, additional_headers=headers) as socket:
            for message in socket:
                line = json.loads(message)
                if line.get("type") == "error":
                    raise fail(_refusal(line, 0))
                if line.get("type") == "end":
                    break
                typer.echo(json.dumps(line) if output == "json" else _log_text(line))
    except ConnectionClosed as e:
        if e.rcvd is not None and e.rcvd.code >= 4000:  # noqa: PLR2004 - refused, no message
            raise fail(_refusal({}, e.rcvd.code)) from e
        return
    except (OSError, InvalidHandshake) as e:
        typer.secho(f"error UNREACHABLE: cannot reach {ws_url}: {e}", err=True, fg="red")
        raise typer.Exit(code=1) from e


KeyOption = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="Send the command once: a repeat with the same reason is accepted and not sent "
        "again; another reason under the same key is refused (IDEMPOTENCY_CONFLICT).",
    ),
]


@app.command()
def cancel(
    run_id: str,
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why.")] = None,
    idempotency_key: KeyOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Cancel a run: running steps are cancelled and compensations run."""
    with api_errors(), connect(url, token) as client:
        client.runs.cancel(run_id, reason=reason, idempotency_key=idempotency_key or None)
    typer.echo(f"cancel requested for {run_id}")


@app.command("fail")
def fail_run(
    run_id: str,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the run's error).")],
    idempotency_key: KeyOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """End a run as failed: running steps are cancelled and compensations run (audited)."""
    with api_errors(), connect(url, token) as client:
        client.runs.fail(run_id, reason, idempotency_key=idempotency_key or None)
    typer.echo(f"fail requested for {run_id}")


@app.command()
def signal(
    run_id: str,
    name: str,
    data: Annotated[str | None, typer.Option("--data")] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Send the signal once: a repeat with the same data is accepted and not "
            "delivered again; other data under the same key is refused (IDEMPOTENCY_CONFLICT).",
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Deliver a named signal (with JSON data) to a run waiting on it."""
    payload = read_json_argument(data)
    with api_errors(), connect(url, token) as client:
        client.runs.signal(run_id, name, payload, idempotency_key=idempotency_key or None)
    typer.echo(f"signal {name} sent to {run_id}")


@app.command()
def replay(
    run_id: str,
    from_seq: Annotated[int, typer.Option("--from-seq")],
    input_: InputOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600.0,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Start a new run that continues from the state after event `--from-seq`."""
    new_input = None if input_ is None else read_json_argument(input_)
    with api_errors(), connect(url, token) as client:
        from tideflow.client import UNSET

        replayed = client.runs.replay(
            run_id, from_seq, input=UNSET if input_ is None else new_input
        )
        report_started(client, replayed.to_json(), wait=wait, timeout=timeout, output=output)
