"""`tide db`: schema migrations of the Tideflow database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

app = typer.Typer(help="Database schema.")


@app.command("migrate")
def migrate_(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="libpq URL. [env: TIDEFLOW_DATABASE_URL]"),
    ] = None,
) -> None:
    """Apply pending migrations (idempotent; safe to run from several places at once)."""
    from tideflow.settings import DatabaseSettings
    from tideflow.store import StoreError, migrate

    url = database_url or DatabaseSettings().url
    try:
        applied = asyncio.run(migrate(url))
    except StoreError as e:
        typer.secho(f"error {type(e).__name__}: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from e
    typer.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")


@app.command()
def purge(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Remove finished runs that ended before this.")
    ] = "90d",
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="libpq URL. [env: TIDEFLOW_DATABASE_URL]"),
    ] = None,
) -> None:
    """Retention by hand: remove finished runs (events, steps, logs, timers) in bulk."""
    from tideflow.settings import DatabaseSettings, parse_duration
    from tideflow.store import APP_ROLE, PostgresEventStore, StoreError

    age = parse_duration(older_than)
    if not isinstance(age, timedelta):
        typer.secho(f"error INVALID_DURATION: {older_than!r}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2)
    url = database_url or DatabaseSettings().url

    async def purge_runs() -> int:
        store = await PostgresEventStore.connect(url, max_size=1, role=APP_ROLE)
        try:
            return await store.purge_runs_older_than(datetime.now(UTC) - age)
        finally:
            await store.close()

    try:
        purged = asyncio.run(purge_runs())
    except StoreError as e:
        typer.secho(f"error {type(e).__name__}: {e}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from e
    typer.echo(f"removed {purged} runs that ended more than {older_than} ago")
