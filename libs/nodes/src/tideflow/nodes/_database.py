"""`database` nodes: one parameterised statement on PostgreSQL, in its own transaction.

The DSN comes from the secret `connectionSecret` names, read here in the worker; its host
must pass the egress policy. Values are bound as parameters of a prepared statement, and
JSON values are converted to the types the server expects for each placeholder (ISO
text for dates and timestamps, text for UUIDs, any JSON for json/jsonb). Rows come back
as JSON: numerics as numbers, times as ISO text, bytea as base64.

Lost connections, serialization failures, deadlocks, timeouts and a server that is
shutting down are retryable; constraint violations, SQL errors, bad parameters and a
refused login are not.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import asyncpg
import orjson

from tideflow.nodes._egress import EgressDenied, EgressPolicy, check_url
from tideflow.nodes._handler import StepFailure, StepOutcome, StepSuccess, TaskSpec
from tideflow.settings import EgressSettings, parse_duration

if TYPE_CHECKING:
    from collections.abc import Callable

    from tideflow.nodes._llm import SecretLookup

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ROWS = 1000
RESULT_BYTES = 4 * 1024 * 1024
"""Most JSON a result may take: a step output is far smaller (1 MiB by default), so reading
more only costs the worker memory."""
BATCH_ROWS = 256
POOL_SIZE = 4
MAX_POOLS = 32
RETRYABLE_CLASSES = ("08", "53", "57", "58")
"""Connection exception, insufficient resources, operator intervention, system error."""
RETRYABLE_STATES = frozenset({"40001", "40P01"})
"""Serialization failure, deadlock detected."""


class DatabaseHandler:
    """Keeps one small pool per DSN (by hash), so steps do not pay a login each."""

    node_type = "database"

    def __init__(
        self,
        *,
        policy: EgressPolicy | None = None,
        secrets: SecretLookup | None = None,
        result_bytes: int = RESULT_BYTES,
    ) -> None:
        self._policy = policy or EgressPolicy.from_settings(EgressSettings())
        self._secrets = secrets
        self._result_bytes = result_bytes
        self._pools: dict[str, asyncpg.Pool] = {}
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()

    async def run(self, task: TaskSpec) -> StepOutcome:  # noqa: PLR0911 - one per failure
        config = task.config
        timeout = _seconds(config.get("timeout"), DEFAULT_TIMEOUT_S)
        if task.timeout is not None:
            timeout = min(timeout, task.timeout.total_seconds())
        try:
            dsn = await self._dsn(task)
            await check_url(self._policy, dsn)
            pool = await self._pool(dsn)
            return await _execute(
                pool, str(config["statement"]), list(config.get("params") or []),
                max_rows=_max_rows(config.get("maxRows", DEFAULT_MAX_ROWS)), timeout=timeout,
                max_bytes=self._result_bytes,
            )  # fmt: skip
        except _InvalidError as e:
            return StepFailure(e.error_type, str(e), retryable=False)
        except EgressDenied as e:
            return StepFailure("EgressDenied", f"connectionSecret: {e}", retryable=False)
        except asyncpg.PostgresError as e:
            return _postgres_failure(e)
        except asyncpg.InterfaceError as e:
            return StepFailure("DatabaseInvalidParams", str(e), retryable=False)
        except TimeoutError:
            message = f"the statement took longer than {timeout:g}s"
            return StepFailure("DatabaseTimeout", message, retryable=True)
        except (OSError, asyncpg.exceptions.ConnectionDoesNotExistError) as e:
            return StepFailure("DatabaseConnectionError", repr(e), retryable=True)

    async def _dsn(self, task: TaskSpec) -> str:
        name = str(task.config.get("connectionSecret", ""))
        found = await self._secrets.secrets(task.tenant_id) if self._secrets else {}
        dsn = found.get(name)
        if dsn is None:
            msg = f"connectionSecret: there is no secret named {name!r}"
            raise _InvalidError("SecretNotFound", msg)
        if not dsn.startswith(("postgresql://", "postgres://")):
            msg = f"the secret {name!r} is not a postgresql:// URL"
            raise _InvalidError("DatabaseInvalidConnection", msg)
        try:
            parts = urlsplit(dsn)
            valid = bool(parts.hostname) and (parts.port is None or parts.port > 0)
        except ValueError:  # its text would quote a piece of the URL, perhaps the password
            valid = False
        if not valid:
            msg = (
                f"the secret {name!r} is not a valid postgresql:// URL (its host or port does"
                " not parse; percent-encode / # ? @ in the password)"
            )
            raise _InvalidError("DatabaseInvalidConnection", msg)
        return dsn

    async def _pool(self, dsn: str) -> asyncpg.Pool:
        key = hashlib.sha256(dsn.encode()).hexdigest()
        async with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                while len(self._pools) >= MAX_POOLS:  # the oldest goes
                    await self._pools.pop(next(iter(self._pools))).close()
                pool = await asyncpg.create_pool(
                    dsn, min_size=0, max_size=POOL_SIZE, init=_codecs, timeout=10
                )
                self._pools[key] = pool
            return pool


def _max_rows(value: object) -> int:
    try:
        rows = int(str(value))
    except ValueError:
        rows = 0
    if rows < 1:
        raise _InvalidError(
            "DatabaseInvalidParams", f"maxRows: {str(value)[:20]!r} is not 1 or more"
        )
    return rows


class _InvalidError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


async def _codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _execute(
    pool: asyncpg.Pool,
    statement: str,
    params: list[Any],
    *,
    max_rows: int,
    timeout: float,  # noqa: ASYNC109 - asyncpg takes its timeout per call
    max_bytes: int = RESULT_BYTES,
) -> StepOutcome:
    async with pool.acquire(timeout=timeout) as connection, connection.transaction():
        prepared = await connection.prepare(statement, timeout=timeout)
        types = prepared.get_parameters()
        if len(types) != len(params):
            msg = f"the statement has {len(types)} placeholder(s) but params has {len(params)}"
            raise _InvalidError("DatabaseInvalidParams", msg)
        values = [
            _convert(v, t.name, i + 1) for i, (v, t) in enumerate(zip(params, types, strict=True))
        ]
        if not prepared.get_attributes():  # no rows come back: the command tag counts
            await prepared.fetch(*values, timeout=timeout)
            command = prepared.get_statusmsg() or ""
            return StepSuccess({"rows": [], "rowCount": _count(command, 0), "command": command})
        # rows come back: read at most max_rows + 1 and max_bytes through a cursor, in
        # batches, never all at once
        cursor = await prepared.cursor(*values, timeout=timeout)
        rows: list[dict[str, Any]] = []
        size = 0
        while len(rows) <= max_rows:
            records = await cursor.fetch(min(BATCH_ROWS, max_rows + 1 - len(rows)), timeout=timeout)
            batch = [{key: _json(value) for key, value in record.items()} for record in records]
            size += len(orjson.dumps(batch, default=str))
            if size > max_bytes:
                msg = f"the result is larger than {max_bytes:,} bytes; select fewer rows or columns"
                raise _InvalidError("DatabaseResultTooLarge", msg)
            rows += batch
            if len(records) < BATCH_ROWS:
                break
        if len(rows) > max_rows:
            msg = f"the statement returned more than maxRows ({max_rows}) rows"
            raise _InvalidError("DatabaseTooManyRows", msg)
        command = f"{statement.split(maxsplit=1)[0].upper()} {len(rows)}"
    return StepSuccess({"rows": rows, "rowCount": len(rows), "command": command})


def _count(command: str, fetched: int) -> int:
    """Rows affected, from the command tag (`INSERT 0 3`, `UPDATE 2`, `SELECT 5`)."""
    last = command.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else fetched


def _to_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list | bool) else str(value)


_CONVERTERS: dict[str, tuple[tuple[type, ...], Callable[[Any], Any]]] = {
    "date": ((str,), dt.date.fromisoformat),
    "timestamptz": ((str,), dt.datetime.fromisoformat),
    "timestamp": ((str,), dt.datetime.fromisoformat),
    "time": ((str,), dt.time.fromisoformat),
    "uuid": ((str,), uuid.UUID),
    "numeric": ((str, int, float), lambda v: Decimal(str(v))),
    "int2": ((str,), int),
    "int4": ((str,), int),
    "int8": ((str,), int),
    "float4": ((str, int), float),
    "float8": ((str, int), float),
    "bytea": ((str,), lambda v: base64.b64decode(v, validate=True)),
    "text": ((int, float, bool, dict, list), _to_text),
    "varchar": ((int, float, bool, dict, list), _to_text),
    "bpchar": ((int, float, bool, dict, list), _to_text),
}
"""Placeholder type -> (JSON value types converted, how): JSON has no dates or UUIDs."""


def _convert(value: Any, type_name: str, position: int) -> Any:
    """A JSON value as the Python type asyncpg encodes for the placeholder's type."""
    accepted, convert = _CONVERTERS.get(type_name, ((), lambda v: v))
    if (
        value is None
        or isinstance(value, bool) != (bool in accepted)
        or not isinstance(value, accepted)
    ):
        return value
    try:
        return convert(value)
    except (ValueError, ArithmeticError) as e:
        msg = f"params[{position - 1}] (${position}, {type_name}): {value!r} does not convert: {e}"
        raise _InvalidError("DatabaseInvalidParams", msg) from e


def _json(value: Any) -> Any:  # noqa: PLR0911 - one return per type
    """A value of a row as JSON."""
    match value:
        case Decimal():
            return int(value) if value == value.to_integral_value() else float(value)
        case dt.datetime() | dt.date() | dt.time():
            return value.isoformat()
        case dt.timedelta():
            return value.total_seconds()
        case uuid.UUID():
            return str(value)
        case bytes() | bytearray() | memoryview():
            return base64.b64encode(bytes(value)).decode()
        case list() | tuple():
            return [_json(v) for v in value]
        case asyncpg.Record():
            return {k: _json(v) for k, v in value.items()}
        case _:
            return value


def _postgres_failure(error: asyncpg.PostgresError) -> StepFailure:
    state = str(getattr(error, "sqlstate", "") or "")
    name = type(error).__name__.removesuffix("Error") or "Postgres"
    retryable = state in RETRYABLE_STATES or state.startswith(RETRYABLE_CLASSES)
    if state == "57014":  # query_canceled: the statement timeout
        return StepFailure("DatabaseTimeout", str(error), retryable=True)
    message = f"{error}" + (f" ({state})" if state else "")
    return StepFailure(f"Database{name}", message, retryable=retryable, details={"sqlstate": state})


def _seconds(value: Any, default: float) -> float:
    parsed = parse_duration(value) if value is not None else None
    return parsed.total_seconds() if isinstance(parsed, dt.timedelta) else default
