"""`tide`: the root command; each sub-command group lives in its own module."""

import typer

from tideflow.cli import bench, db, infra, run, serve, workflow
from tideflow.cli.dev import dev

app = typer.Typer(
    name="tide",
    help="Tideflow: durable workflow orchestration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(infra.app, name="infra")
app.add_typer(workflow.app, name="workflow")
app.add_typer(run.app, name="run")
app.command(name="serve")(serve.serve)
app.add_typer(db.app, name="db")
app.command()(dev)
app.command(name="bench")(bench.bench)
