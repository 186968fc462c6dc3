"""`tide infra`: the project-local Kafka, Postgres and Redis used by development and tests."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tideflow.infra import Infra, InfraError
from tideflow.settings import InfraSettings

app = typer.Typer(help="Start, stop and inspect the local Kafka, Postgres and Redis.")

Only = Annotated[
    list[str] | None,
    typer.Option("--only", help="Limit to these components (postgres, redis, kafka)."),
]


def _infra() -> Infra:
    return Infra(settings=InfraSettings())


def _print_status(infra: Infra, only: list[str] | None) -> bool:
    table = Table("component", "state", "pid", "address", "log")
    all_running = True
    for status in infra.status(only):
        all_running &= status.running
        state = "[green]running[/]" if status.running else "[red]stopped[/]"
        table.add_row(status.name, state, str(status.pid or "-"), status.address, str(status.log))
    Console().print(table)
    return all_running


@app.command()
def up(only: Only = None) -> None:
    """Start (idempotently) and wait until each component answers."""
    infra = _infra()
    try:
        infra.up(only)
    except (InfraError, ValueError) as e:
        typer.secho(str(e), err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from e
    _print_status(infra, only)


@app.command()
def down(only: Only = None) -> None:
    """Stop the processes `tide infra up` started, and nothing else."""
    stopped = _infra().down(only)
    typer.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status(only: Only = None) -> None:
    """What runs where; exit code 1 when something is not running."""
    if not _print_status(_infra(), only):
        raise typer.Exit(code=1)


@app.command()
def env(only: Only = None) -> None:
    """Print TIDEFLOW_* lines for the running components: `eval "$(tide infra env)"`."""
    for name, value in _infra().env(only).items():
        typer.echo(f"{name}={value}")
