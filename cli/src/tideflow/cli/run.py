"""`tide run`: start runs and watch them, read history, time travel, cancel, signal, replay."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

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
InputOption = Annotated[str | None, typer.Option("--input", "-i", help="JSON text, or @file.json.")]


def exit_code(status: str) -> int:
    """0 for a run that succeeded, 1 for one that ended otherwise."""
    return 0 if status == "succeeded" else 1


def render(run: dict[str, Any]) -> Group:
    """A run as people want to watch it: status line, then one row per step."""
    status = run.get("status", "?")
    header = Text.assemble(
        ("run ", "bold"),
        (run.get("runId", ""), "bold"),
        "  ",
        (status, STATUS_STYLE.get(status, "white")),
    )
    table = Table("step", "status", "attempt", "error")
    for step in run.get("steps", []):
        step_status = step.get("status", "")
        error = step.get("error") or ""
        table.add_row(
            step.get("nodeId", ""),
            Text(step_status, STATUS_STYLE.get(step_status, "white")),
            str(step.get("attempt", "")),
            error.get("message", "") if isinstance(error, dict) else str(error),
        )
    return Group(header, table)


def wait_for(api: Api, run_id: str, *, live: bool, timeout: float) -> dict[str, Any]:
    """Poll the run until it ends, redrawing its steps as they change."""
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = api.get(f"/runs/{run_id}")
    with Live(
        render(run), console=Console(stderr=True), auto_refresh=False, transient=False
    ) as view:
        while run["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise ApiError(0, "WAIT_TIMEOUT", f"run {run_id} still {run['status']}")
            time.sleep(0.2)
            run = api.get(f"/runs/{run_id}")
            if live:
                view.update(render(run), refresh=True)
        view.update(render(run), refresh=True)
    return run


@app.command()
def start(
    workflow: str,
    input_: InputOption = None,
    version: Annotated[int | None, typer.Option(help="Pin a published version.")] = None,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Watch until the run ends.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits.")] = 600.0,
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
        if wait:
            run = wait_for(api, run["runId"], live=output != "json", timeout=timeout)
    if output == "json":
        print_json(run)
    elif wait:
        typer.echo(
            json.dumps(
                run.get("output") if run["status"] == "succeeded" else run.get("error"),
                indent=2,
                default=str,
            )
        )
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
        Console().print(render(run))


@app.command("list")
def list_(
    workflow: Annotated[str | None, typer.Option("--workflow", "-w")] = None,
    status: Annotated[str | None, typer.Option("--status", "-s")] = None,
    limit: Annotated[int, typer.Option()] = 50,
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Recent runs, newest first, filtered by workflow and status."""
    api = Api.from_options(url, token)
    with api_errors():
        page = api.get("/runs", workflowId=workflow, status=status, limit=limit)
    if output == "json":
        print_json(page)
        return
    table = Table("run", "workflow", "version", "status", "started", "ended")
    for run in page.get("items", []):
        table.add_row(
            run["runId"],
            run["workflowId"],
            str(run["version"]),
            Text(run["status"], STATUS_STYLE.get(run["status"], "white")),
            run.get("startedAt") or "",
            run.get("endedAt") or "",
        )
    Console().print(table)


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
    table = Table("seq", "type", "recorded", "data")
    for event in page.get("items", []):
        table.add_row(
            str(event["seq"]),
            event["type"],
            event.get("recordedAt", ""),
            json.dumps(event.get("data"), default=str)[:120],
        )
    Console().print(table)


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
        Console().print(Text(f"as of seq {snapshot.get('atSeq')}", "bold"), render(snapshot))


@app.command()
def logs(
    run_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Step log lines; with -f, keep following until the run ends."""
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
    url: UrlOption = None,
    token: TokenOption = None,
    output: OutputOption = "table",
) -> None:
    """Start a new run that continues from the state after event `--from-seq`."""
    body: dict[str, Any] = {"fromSeq": from_seq}
    new_input = read_json_argument(input_)
    if new_input is not None:
        body["input"] = new_input
    with api_errors():
        run = Api.from_options(url, token).post(f"/runs/{run_id}/replay", body)
    if output == "json":
        print_json(run)
    else:
        typer.echo(run["runId"])
