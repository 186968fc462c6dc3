"""`tide infra`: the project-local Kafka, Postgres and Redis used by development and tests."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Annotated

import typer

from tideflow.cli._output import Cell, Column, print_table

if TYPE_CHECKING:
    from tideflow.infra import Infra

app = typer.Typer(help="Start, stop and inspect the local Kafka, Postgres and Redis.")

Only = Annotated[
    list[str] | None,
    typer.Option("--only", help="Limit to these components (postgres, redis, kafka)."),
]


def _infra() -> Infra:
    from tideflow.infra import Infra
    from tideflow.settings import InfraSettings

    return Infra(settings=InfraSettings())


def _print_status(infra: Infra, only: list[str] | None) -> bool:
    all_running = True
    rows: list[list[str | Cell]] = []
    for status in infra.status(only):
        all_running &= status.running
        state = Cell("running", "green") if status.running else Cell("stopped", "red")
        rows.append([status.name, state, str(status.pid or "-"), status.address, str(status.log)])
    print_table(
        [Column("component"), Column("state"), Column("pid"), Column("address", key=True),
         Column("log", key=True)],
        rows,
    )  # fmt: skip
    return all_running


def _fail(error: Exception) -> typer.Exit:
    typer.secho(str(error), err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


@app.command()
def up(only: Only = None) -> None:
    """Start (idempotently) and wait until each component answers.

    All or nothing: when a component fails to start, the ones this command started are
    stopped again.
    """
    from tideflow.infra import InfraError

    infra = _infra()
    try:
        infra.up(only)
    except (InfraError, ValueError) as e:
        raise _fail(e) from e
    _print_status(infra, only)


@app.command()
def down(only: Only = None) -> None:
    """Stop the processes `tide infra up` started, and nothing else."""
    try:
        stopped = _infra().down(only)
    except ValueError as e:
        raise _fail(e) from e
    typer.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status(only: Only = None) -> None:
    """What runs where; exit code 1 when something is not running."""
    try:
        all_running = _print_status(_infra(), only)
    except ValueError as e:
        raise _fail(e) from e
    if not all_running:
        raise typer.Exit(code=1)


@app.command()
def env(only: Only = None) -> None:
    """Print `export TIDEFLOW_...=...` lines for the running components.

    Use it as `eval "$(tide infra env)"`; nothing is printed for a component that is not
    running.
    """
    try:
        variables = _infra().env(only)
    except ValueError as e:
        raise _fail(e) from e
    for name, value in variables.items():
        typer.echo(f"export {name}={shlex.quote(value)}")
