"""Throwaway databases for tests: a migrated template once, a cheap copy per test.

`CREATE DATABASE ... TEMPLATE` copies a migrated schema in milliseconds, so every test
gets its own database and never sees another test's rows.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class Databases:
    """Creates and drops throwaway databases on the server of `url`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.admin_url = with_database(url, "postgres")

    async def create(self, *, template: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex}"
        admin = await asyncpg.connect(self.admin_url)
        try:
            suffix = f" TEMPLATE {template}" if template else ""
            await admin.execute(f"CREATE DATABASE {name}{suffix}")
        finally:
            await admin.close()
        return name

    async def drop(self, name: str) -> None:
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()
