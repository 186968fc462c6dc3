"""Fixtures of the store tests: a fresh, migrated database per test, and both stores.

A migrated template database is built once per session; each test gets a copy
(`CREATE DATABASE ... TEMPLATE`), dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tideflow.store import APP_ROLE, EventStore, InMemoryEventStore, PostgresEventStore
from tideflow.store.testing import Databases, with_database


@pytest.fixture
async def empty_dsn(databases: Databases) -> AsyncIterator[str]:
    """A database without any schema, for migration tests."""
    name = await databases.create()
    yield with_database(databases.url, name)
    await databases.drop(name)


@pytest.fixture
def dsn(fresh_dsn: str) -> str:
    """A fresh, migrated database (the root conftest's, under the name these tests use)."""
    return fresh_dsn


@pytest.fixture
async def owner(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A raw connection as the migration owner, to poke at the schema directly."""
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()


@pytest.fixture
async def pg_store(dsn: str) -> AsyncIterator[PostgresEventStore]:
    """The Postgres store running as the application role, as services do."""
    store = await PostgresEventStore.connect(dsn, max_size=8, role=APP_ROLE)
    yield store
    await store.close()


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> EventStore:
    """Every implementation of the port, for the contract suite (sync: it pulls async
    fixtures lazily, which only works outside the running loop)."""
    if request.param == "memory":
        return InMemoryEventStore()
    pg: PostgresEventStore = request.getfixturevalue("pg_store")
    return pg
