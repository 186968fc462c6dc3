"""Fixtures every test folder shares: the real Kafka, Postgres and Redis from `tide infra`.

When the TIDEFLOW_* variables are already set (scripts/test.sh exports them) the tests use
those services; otherwise the fixtures start the project-local ones. A service that cannot
be reached fails the test that needs it: tests never skip because something is missing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tideflow.infra import Infra
from tideflow.settings import InfraSettings
from tideflow.store import migrate
from tideflow.store.testing import Databases, with_database

VARIABLES = {
    "postgres": "TIDEFLOW_DATABASE_URL",
    "redis": "TIDEFLOW_REDIS_URL",
    "kafka": "TIDEFLOW_KAFKA_BOOTSTRAP",
}


def _service(name: str) -> str:
    variable = VARIABLES[name]
    value = os.environ.get(variable)
    if value:
        return value
    infra = Infra(settings=InfraSettings())
    infra.up([name])
    value = infra.env([name])[variable]
    os.environ[variable] = value
    return value


@pytest.fixture(scope="session")
def database_url() -> str:
    """libpq URL of the real Postgres."""
    return _service("postgres")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """host:port of the real Kafka broker."""
    return _service("kafka")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis."""
    return _service("redis")


@pytest.fixture(scope="session")
def databases(database_url: str) -> Databases:
    """Creates and drops throwaway databases on the test server."""
    return Databases(database_url)


@pytest.fixture(scope="session")
async def migrated_template(databases: Databases) -> AsyncIterator[str]:
    """A database with the whole schema, copied by `fresh_dsn` for each test."""
    name = await databases.create()
    await migrate(with_database(databases.url, name))
    yield name
    await databases.drop(name)


@pytest.fixture
async def fresh_dsn(databases: Databases, migrated_template: str) -> AsyncIterator[str]:
    """A fresh, migrated database of this test's own."""
    name = await databases.create(template=migrated_template)
    yield with_database(databases.url, name)
    await databases.drop(name)
