"""`tide run`: start runs and watch them, read history, time travel, cancel, signal, replay."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tideflow.cli._client import (
    Api,
    ApiError,
    OutputOption,
    TokenOption,
    UrlOption,
    api_errors,
    fail,
    print_json,
    read_json_argument,
)
from tideflow.cli._output import Cell, Column, is_terminal, print_table, rich_table

if TYPE_CHECKING:
    from rich.console import Group

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


def wait_for(api: Api, run_id: str, *, timeout: float, err: bool) -> dict[str, Any]:
    """Poll the run until it ends, showing its progress as it happens (on stderr if `err`).

    At a terminal the steps are redrawn in place; anywhere else (a pipe, a log file, CI)
    each change is one line the moment it is seen, so a run waiting for a signal never
    looks like a hang.
    """
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = api.get(f"/runs/{run_id}")
    if is_terminal(stderr=err):
        from rich.console import Console
        from rich.live import Live

        with Live(render(run), console=Console(stderr=err), auto_refresh=False) as view:
            while run["status"] not in TERMINAL:
                run = _poll(api, run, deadline)
                view.update(render(run), refresh=True)
        return run
    shown: dict[str, str] = {}
    while True:
        for key, line in _progress(run).items():
            if shown.get(key) != line:
                shown[key] = line
                typer.echo(line, err=err)
        if run["status"] in TERMINAL:
            return run
        run = _poll(api, run, deadline)


def _poll(api: Api, run: dict[str, Any], deadline: float) -> dict[str, Any]:
    if time.monotonic() > deadline:
        raise ApiError(0, "WAIT_TIMEOUT", f"run {run['runId']} still {run['status']}")
    time.sleep(0.2)
    fresh: dict[str, Any] = api.get(f"/runs/{run['runId']}")
    return fresh


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
    api = Api.from_options(url, token)
    body: dict[str, Any] = {"input": read_json_argument(input_) or {}}
    if version is not None:
        body["version"] = version
    if idempotency_key:
        body["idempotencyKey"] = idempotency_key
    with api_errors():
        run = api.post(f"/workflows/{workflow}/runs", body)
    report_started(api, run, wait=wait, timeout=timeout, output=output)


def report_started(
    api: Api, run: dict[str, Any], *, wait: bool, timeout: float, output: str
) -> None:
    """Print a run just started; with `wait`, follow it to its end and exit with its fate.

    `-o json` keeps stdout for the one JSON document (the id and progress go to stderr);
    otherwise everything is on stdout, in order: the id at once, progress, the output.
    """
    if wait:
        err = output == "json"
        typer.echo(f"run {run['runId']} started", err=err)
        with api_errors():
            run = wait_for(api, run["runId"], timeout=timeout, err=err)
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
    api = Api.from_options(url, token)
    with api_errors():
        run = api.get(f"/runs/{run_id}")
    if output == "json":
        print_json(run)
    else:
        print_run(run)


@app.command("list")
def list_(
    workflow: Annotated[str | None, typer.Option("--workflow", "-w")] = None,
    status: Annotated[str | None, typer.Option("--status", "-s")] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", "-p", help="Only the child runs of this run.")
    ] = None,
    limit: Annotated[int, typer.Option()] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Recent runs, newest first, filtered by workflow, status and parent run."""
    api = Api.from_options(url, token)
    with api_errors():
        page = api.get("/runs", workflowId=workflow, status=status, parentRunId=parent, limit=limit)
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


@app.command()
def events(
    run_id: str,
    after_seq: Annotated[int, typer.Option("--after-seq")] = 0,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """The run's event history, in order."""
    api = Api.from_options(url, token)
    with api_errors():
        page = api.get(f"/runs/{run_id}/events", afterSeq=after_seq)
    if output == "json":
        print_json(page)
        return
    rows: list[list[str | Cell]] = [
        [str(e["seq"]), e["type"], e.get("recordedAt", ""), json.dumps(e.get("data"), default=str)]
        for e in page.get("items", [])
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
    api = Api.from_options(url, token)
    with api_errors():
        snapshot = api.get(f"/runs/{run_id}/state", atSeq=at)
    if output == "json":
        print_json(snapshot)
    else:
        print_run(snapshot, title=f"as of seq {snapshot.get('atSeq')}")


@app.command()
def logs(
    run_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Step log lines; with -f, keep following until the run ends."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    api = Api.from_options(url, token)
    ws_url = api.url.replace("http", "ws", 1) + f"/runs/{run_id}/logs"
    headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    query = "" if follow else "?follow=false"
    try:
        with connect(ws_url + query, additional_headers=headers) as socket:
            for message in socket:
                line = json.loads(message)
                if line.get("type") == "end":
                    break
                typer.echo(
                    f"{line.get('ts', '')} {line.get('nodeId', '')}#"
                    f"{line.get('attempt', '')} {line.get('level', '')} "
                    f"{line.get('message', '')}"
                )
    except ConnectionClosed:
        return
    except OSError as e:
        raise fail(ApiError(0, "UNREACHABLE", f"cannot reach {ws_url}: {e}")) from e


@app.command()
def cancel(run_id: str, url: UrlOption = None, token: TokenOption = None) -> None:
    """Cancel a run: running steps are cancelled and compensations run."""
    with api_errors():
        Api.from_options(url, token).post(f"/runs/{run_id}/cancel")
    typer.echo(f"cancel requested for {run_id}")


@app.command()
def signal(
    run_id: str,
    name: str,
    data: Annotated[str | None, typer.Option("--data")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Deliver a named signal (with JSON data) to a run waiting on it."""
    with api_errors():
        Api.from_options(url, token).post(
            f"/runs/{run_id}/signals/{name}", {"data": read_json_argument(data)}
        )
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
    api = Api.from_options(url, token)
    body: dict[str, Any] = {"fromSeq": from_seq}
    new_input = read_json_argument(input_)
    if new_input is not None:
        body["input"] = new_input
    with api_errors():
        run = api.post(f"/runs/{run_id}/replay", body)
    report_started(api, run, wait=wait, timeout=timeout, output=output)
