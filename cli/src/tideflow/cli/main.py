"""`tide`: the root command; each sub-command group lives in its own module.

Every command module imports only typer at its top; what a command needs (the server
stack, the database driver, rich for tables) is imported inside the command, so
`tide --help` and the client commands start in a fraction of a second
(`cli/tests/test_startup.py` guards this, `bench/cli_startup.py` measures it).
Help is click's plain formatting: typer's rich help alone costs more than the rest of
the start-up.
"""

from typing import Annotated

import typer

from tideflow.cli import (
    approval,
    bench,
    db,
    infra,
    k8s,
    node_types,
    run,
    security,
    serve,
    workflow,
)
from tideflow.cli.dev import dev

app = typer.Typer(
    name="tide",
    help="Tideflow: durable workflow orchestration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    """`tide --version`: the installed CLI's version, for bug reports and scripts."""
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("tideflow-cli")
    except PackageNotFoundError:  # run from a source tree that was never installed
        installed = "unknown"
    typer.echo(f"tide {installed}")
    raise typer.Exit


@app.callback()
def main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Tideflow: durable workflow orchestration."""


def _group(sub: typer.Typer, name: str) -> None:
    sub.rich_markup_mode = None
    app.add_typer(sub, name=name)


_group(infra.app, "infra")
_group(workflow.app, "workflow")
_group(run.app, "run")
_group(approval.app, "approval")
_group(node_types.app, "node-types")
_group(security.tenant_app, "tenant")
_group(security.token_app, "token")
_group(security.user_app, "user")
_group(security.secret_app, "secret")
app.command(name="audit")(security.audit)
app.command(name="serve")(serve.serve)
_group(db.app, "db")
_group(k8s.app, "k8s")
app.command()(dev)
app.command(name="bench")(bench.bench)
