"""`tide`: the root command; each sub-command group lives in its own module."""

import typer

from tideflow.cli import infra, run, workflow

app = typer.Typer(
    name="tide",
    help="Tideflow: durable workflow orchestration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(infra.app, name="infra")
app.add_typer(workflow.app, name="workflow")
app.add_typer(run.app, name="run")


@app.command()
def dev() -> None:
    """Run every service in one process on the embedded Postgres and the in-process bus."""
    typer.secho(
        "tide dev is not available yet: it needs the gateway, scheduler and executor "
        "(issues #4 and #5). Use `tide infra up` for the development infrastructure.",
        err=True,
        fg=typer.colors.YELLOW,
    )
    raise typer.Exit(code=2)
