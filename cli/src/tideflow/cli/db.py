"""`tide db`: schema migrations of the Tideflow database."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from tideflow.settings import DatabaseSettings
from tideflow.store import StoreError, migrate

app = typer.Typer(help="Database schema.")


@app.command("migrate")
def migrate_(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="libpq URL. [env: TIDEFLOW_DATABASE_URL]"),
    ] = None,
) -> None:
    """Apply pending migrations (idempotent; safe to run from several places at once)."""
    url = database_url or DatabaseSettings().url
    try:
        applied = asyncio.run(migrate(url))
    except StoreError as e:
        typer.secho(f"error {type(e).__name__}: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from e
    typer.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")
