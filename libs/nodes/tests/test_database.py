"""`database` nodes on the real PostgreSQL (a throwaway database of this module):
parameters bound (never spliced), JSON converted both ways, one transaction per step,
errors classified."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from tideflow.core import ProblemCode, validate_definition
from tideflow.nodes import DatabaseHandler, EgressPolicy, StepFailure, StepSuccess, TaskSpec
from tideflow.store.testing import Databases, with_database

pytestmark = pytest.mark.integration

LOCAL = EgressPolicy(allow_loopback=True, allow_private=True)
SCHEMA = """
CREATE TABLE invoices (
    id bigserial PRIMARY KEY,
    number text NOT NULL UNIQUE,
    vendor text NOT NULL,
    amount numeric(12, 2) NOT NULL CHECK (amount >= 0),
    due date,
    ref uuid,
    raw jsonb
)
"""


class Secrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    async def secrets(self, _tenant_id: str) -> dict[str, str]:
        return self.values


@pytest.fixture(scope="module")
async def dsn(databases: Databases) -> AsyncIterator[str]:
    name = await databases.create()
    url = with_database(databases.url, name)
    connection = await asyncpg.connect(url)
    await connection.execute(SCHEMA)
    await connection.close()
    yield url
    await databases.drop(name)


@pytest.fixture(scope="module")
async def handler(dsn: str) -> AsyncIterator[DatabaseHandler]:
    handler = DatabaseHandler(policy=LOCAL, secrets=Secrets({"books": dsn, "bad": "mysql://x"}))
    yield handler
    await handler.aclose()


@pytest.fixture
async def clean(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    await connection.execute("TRUNCATE invoices")
    await connection.close()


def task(statement: str, params: list[Any] | None = None, **more: Any) -> TaskSpec:
    config = {"connectionSecret": "books", "statement": statement, "params": params or []}
    return TaskSpec("r", "save", 1, "database", config | more, timeout=timedelta(seconds=20))


INSERT = (
    "INSERT INTO invoices (number, vendor, amount, due, ref, raw) "
    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, number, amount, due, ref, raw"
)


async def test_insert_converts_json_values_and_returns_rows(
    handler: DatabaseHandler, clean: None
) -> None:
    params = ["INV-1", "ACME", 1250.5, "2026-12-01", "7d444840-9dc0-11d1-b245-5ffdce74fad2",
              {"pages": 2}]  # fmt: skip
    outcome = await handler.run(task(INSERT, params))
    assert isinstance(outcome, StepSuccess), outcome
    [row] = outcome.output["rows"]
    assert row["number"] == "INV-1"
    assert (row["amount"], row["due"], row["raw"]) == (1250.5, "2026-12-01", {"pages": 2})
    assert row["ref"] == "7d444840-9dc0-11d1-b245-5ffdce74fad2"
    assert (outcome.output["rowCount"], outcome.output["command"]) == (1, "INSERT 1")
    plain = "UPDATE invoices SET vendor = $1 WHERE number = $2"
    updated = await handler.run(task(plain, ["ACME Ltd", "INV-1"]))
    assert isinstance(updated, StepSuccess), updated
    assert updated.output == {"rows": [], "rowCount": 1, "command": "UPDATE 1"}


async def test_upsert_and_query(handler: DatabaseHandler, clean: None) -> None:
    upsert = (
        "INSERT INTO invoices (number, vendor, amount) VALUES ($1, $2, $3) "
        "ON CONFLICT (number) DO UPDATE SET amount = EXCLUDED.amount RETURNING number, amount"
    )
    for amount in ("10", 20):
        outcome = await handler.run(task(upsert, ["INV-2", "ACME", amount]))
        assert isinstance(outcome, StepSuccess), outcome
    query = await handler.run(task("SELECT number, amount FROM invoices WHERE vendor = $1",
                                   ["ACME"]))  # fmt: skip
    assert isinstance(query, StepSuccess)
    assert query.output["rows"] == [{"number": "INV-2", "amount": 20}]
    assert query.output["rowCount"] == 1


async def test_values_are_bound_never_spliced(handler: DatabaseHandler, clean: None) -> None:
    hostile = "x'); DROP TABLE invoices; --"
    insert = "INSERT INTO invoices (number, vendor, amount) VALUES ($1, $1, 1) RETURNING vendor"
    outcome = await handler.run(task(insert, [hostile]))
    assert isinstance(outcome, StepSuccess), outcome
    assert outcome.output["rows"] == [{"vendor": hostile}]
    count = await handler.run(task("SELECT count(*) AS n FROM invoices"))
    assert isinstance(count, StepSuccess)
    assert count.output["rows"] == [{"n": 1}]


async def test_one_transaction_per_step(handler: DatabaseHandler, clean: None) -> None:
    # the third generated row breaks the CHECK: the first two must not stay behind
    statement = (
        "INSERT INTO invoices (number, vendor, amount) "
        "SELECT 'N' || g, 'V', $1::numeric - g FROM generate_series(1, 3) g"
    )
    outcome = await handler.run(task(statement, [2]))
    assert isinstance(outcome, StepFailure)
    assert (outcome.error_type, outcome.retryable) == ("DatabaseCheckViolation", False)
    count = await handler.run(task("SELECT count(*) AS n FROM invoices"))
    assert isinstance(count, StepSuccess)
    assert count.output["rows"] == [{"n": 0}]


@pytest.mark.parametrize(
    ("statement", "params", "more", "error_type", "retryable"),
    [
        ("SELECT $1::int", [], {}, "DatabaseInvalidParams", False),
        ("SELECT $1::date", ["first of May"], {}, "DatabaseInvalidParams", False),
        ("SELEC 1", [], {}, "DatabasePostgresSyntax", False),
        ("SELECT * FROM nowhere", [], {}, "DatabaseUndefinedTable", False),
        ("SELECT g FROM generate_series(1, 5) g", [], {"maxRows": 3}, "DatabaseTooManyRows",
         False),
        ("SELECT pg_sleep(3)", [], {"timeout": "1s"}, "DatabaseTimeout", True),
        ("SELECT 1", [], {"connectionSecret": "absent"}, "SecretNotFound", False),
        ("SELECT 1", [], {"connectionSecret": "bad"}, "DatabaseInvalidConnection", False),
    ],
)  # fmt: skip
async def test_failures_are_classified(  # noqa: PLR0917 - parametrized
    handler: DatabaseHandler, statement: str, params: list[Any], more: dict[str, Any],
    error_type: str, retryable: bool,
) -> None:  # fmt: skip
    outcome = await handler.run(task(statement, params, **more))
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == (error_type, retryable), outcome.message


async def test_unique_violation_and_egress(dsn: str, handler: DatabaseHandler, clean: None) -> None:
    insert = "INSERT INTO invoices (number, vendor, amount) VALUES ($1, 'V', 1)"
    assert isinstance(await handler.run(task(insert, ["same"])), StepSuccess)
    again = await handler.run(task(insert, ["same"]))
    assert isinstance(again, StepFailure)
    assert (again.error_type, again.retryable) == ("DatabaseUniqueViolation", False)
    strict = DatabaseHandler(policy=EgressPolicy(), secrets=Secrets({"books": dsn}))
    denied = await strict.run(task("SELECT 1"))
    assert isinstance(denied, StepFailure)
    assert (denied.error_type, denied.retryable) == ("EgressDenied", False)
    await strict.aclose()


def test_templates_in_the_statement_are_refused_naming_the_node() -> None:
    definition = {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "d"},
        "spec": {"nodes": [{"id": "save", "type": "database", "config": {
            "connectionSecret": "books",
            "statement": "DELETE FROM invoices WHERE id = {{ input.id }}"}}]},
    }  # fmt: skip
    [problem] = validate_definition(definition)
    assert (problem.code, problem.node) == (ProblemCode.INVALID_CONFIG, "save")
    assert "placeholders" in problem.message


PASSWORD = "Sup3rSecretPw"


@pytest.mark.parametrize(
    "bad",
    [
        f"postgresql://u:{PASSWORD}/x@127.0.0.1/db",  # an unencoded / makes the password the port
        f"postgresql://u:{PASSWORD}#x@127.0.0.1/db",
        f"postgresql://u:{PASSWORD}@127.0.0.1:notaport/db",
        f"postgresql://u:{PASSWORD}@[::1/db",
        f"postgresql://u:{PASSWORD}@/db",
    ],
)
async def test_a_malformed_dsn_fails_for_good_without_quoting_it(bad: str) -> None:
    handler = DatabaseHandler(policy=LOCAL, secrets=Secrets({"books": bad}))
    outcome = await handler.run(task("SELECT 1"))
    await handler.aclose()
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == ("DatabaseInvalidConnection", False)
    assert "Sup3r" not in outcome.message
    assert "notaport" not in outcome.message


async def test_a_dsn_without_a_port_is_checked_at_postgres_port() -> None:
    """The platform's own Postgres (a protected listener on 5432) is not reachable by
    leaving the port out of the DSN (it was checked as port 80)."""
    platform = (ipaddress.ip_address("10.250.0.9"), 5432)
    policy = EgressPolicy(allow_private=True, protected=frozenset({platform}))
    handler = DatabaseHandler(
        policy=policy, secrets=Secrets({"books": f"postgresql://u:{PASSWORD}@10.250.0.9/db"})
    )
    outcome = await handler.run(task("SELECT 1"))
    await handler.aclose()
    assert isinstance(outcome, StepFailure), outcome
    assert (outcome.error_type, outcome.retryable) == ("EgressDenied", False)
    assert PASSWORD not in outcome.message


async def test_a_result_is_read_only_up_to_its_byte_bound(dsn: str) -> None:
    """Many rows, or a few huge ones, fail the step for good instead of being read whole
    into the worker (the engine would refuse such an output anyway)."""
    handler = DatabaseHandler(policy=LOCAL, secrets=Secrets({"books": dsn}), result_bytes=100_000)
    try:
        for statement, more in (
            ("SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 100000) g",
             {"maxRows": 1_000_000}),
            ("SELECT repeat('x', 300000) AS big", {}),
        ):  # fmt: skip
            outcome = await handler.run(task(statement, **more))
            assert isinstance(outcome, StepFailure), outcome
            assert (outcome.error_type, outcome.retryable) == ("DatabaseResultTooLarge", False)
        rows = await handler.run(task("SELECT g FROM generate_series(1, 600) g", maxRows=600))
        assert isinstance(rows, StepSuccess)
        assert rows.output["rowCount"] == 600  # batches add up
        over = await handler.run(task("SELECT g FROM generate_series(1, 600) g", maxRows=599))
        assert isinstance(over, StepFailure)
        assert over.error_type == "DatabaseTooManyRows"
        for bad in ("abc", 0, -1):
            wrong = await handler.run(task("SELECT 1", maxRows=bad))
            assert isinstance(wrong, StepFailure)
            assert (wrong.error_type, wrong.retryable) == ("DatabaseInvalidParams", False)
    finally:
        await handler.aclose()
