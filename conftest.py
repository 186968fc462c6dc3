"""Fixtures every test folder shares: the real Kafka, Postgres and Redis from `tide infra`.

When the TIDEFLOW_* variables are already set (scripts/test.sh exports them) the tests use
those services; otherwise the fixtures start the project-local ones. A service that cannot
be reached fails the test that needs it: tests never skip because something is missing.
"""

from __future__ import annotations

import os

import pytest

from tideflow.infra import Infra
from tideflow.settings import InfraSettings

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
