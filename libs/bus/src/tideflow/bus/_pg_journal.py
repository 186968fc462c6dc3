"""The in-process bus's journal in Postgres (tables of migration 0007, `bus_*`).

One connection, holding a session advisory lock: one bus writes a database's journal at a
time, and a second `tide dev` pointed at the same database is refused instead of mixing
its offsets with ours. When the connection breaks (Postgres restarted) the next write
connects again and takes the lock again.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson

from tideflow.bus._errors import BusConnectionError, BusError
from tideflow.bus._journal import JournalState
from tideflow.bus._records import Record, TopicPartition

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import timedelta

    from tideflow.bus._outgoing import Headers

# A statement that takes longer is given up and its session dropped: a session to a server
# that died mid-statement must not hold every publisher of the process forever.
COMMAND_TIMEOUT = 15.0
# Arbitrary, fixed key of the journal's writer lock (advisory locks are per database).
LOCK_KEY = 7_351_204_118_552_607

# Anything the driver raises, including its internal state errors after a lost session:
# the session is dropped and the caller sees a BusConnectionError.
_FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
             asyncpg.exceptions.InternalClientError)  # fmt: skip

_INSERT_TOPICS = """
INSERT INTO bus_topics (topic, partitions)
SELECT * FROM unnest($1::text[], $2::int[]) ON CONFLICT (topic) DO NOTHING
"""
_INSERT_RECORDS = """
INSERT INTO bus_records (topic, partition, "offset", key, value, headers)
SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::bytea[], $6::jsonb[])
"""
_UPSERT_OFFSETS = """
INSERT INTO bus_offsets (consumer_group, topic, partition, committed)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[])
ON CONFLICT (consumer_group, topic, partition)
DO UPDATE SET committed = EXCLUDED.committed, updated_at = now()
"""
_SELECT_RECORDS = """
SELECT topic, partition, "offset", key, value, headers::text AS headers FROM bus_records
"""
_RECORDS_FROM = (
    _SELECT_RECORDS
    + """
JOIN unnest($1::text[], $2::int[], $3::bigint[]) AS e(t, p, o)
  ON topic = e.t AND partition = e.p AND "offset" >= e.o
ORDER BY topic, partition, "offset"
"""
)
_PRUNE = """
DELETE FROM bus_records USING unnest($1::text[], $2::int[], $3::bigint[]) AS f(t, p, o)
WHERE topic = f.t AND partition = f.p AND "offset" < f.o
"""


_PARAMETER = re.compile(r"\$(\d+)")


def _encode_headers(headers: Headers) -> str:
    return orjson.dumps([[k, base64.b64encode(v).decode()] for k, v in headers]).decode()


def _decode_headers(text: str) -> Headers:
    return tuple((k, base64.b64decode(v)) for k, v in orjson.loads(text))


def _record(row: asyncpg.Record) -> Record:
    return Record(
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        key=row["key"],
        value=row["value"],
        headers=_decode_headers(row["headers"]),
    )


class PostgresJournal:
    """`Journal` on the `bus_*` tables; `role` is the role sessions run as."""

    def __init__(self, dsn: str, *, role: str | None = "tideflow_app") -> None:
        self._dsn = dsn
        self._role = role
        self._connection: asyncpg.Connection | None = None

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        settings = {"application_name": "tideflow-bus-journal"}
        if self._role is not None:
            settings["role"] = self._role
        try:
            connection = await asyncpg.connect(
                self._dsn, server_settings=settings, timeout=10, command_timeout=COMMAND_TIMEOUT
            )
        except _FAILURES as e:
            raise BusConnectionError(f"bus journal: cannot connect: {e}") from e
        if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            await connection.close()
            raise BusError(
                "bus journal: another process runs an in-process bus on this database; "
                "give each `tide dev` its own data dir or database"
            )
        self._connection = connection
        return connection

    async def open(self) -> JournalState:
        connection = await self._connect()
        try:
            topics = await connection.fetch("SELECT topic, partitions FROM bus_topics")
            records = await connection.fetch(
                _SELECT_RECORDS + ' ORDER BY topic, partition, "offset"'
            )
            offsets = await connection.fetch(
                "SELECT consumer_group, topic, partition, committed FROM bus_offsets"
            )
        except _FAILURES as e:
            await self._drop()
            raise BusConnectionError(f"bus journal: cannot load: {e}") from e
        committed: dict[str, dict[TopicPartition, int]] = {}
        for row in offsets:
            group = committed.setdefault(row["consumer_group"], {})
            group[TopicPartition(row["topic"], row["partition"])] = row["committed"]
        return JournalState(
            topics={row["topic"]: row["partitions"] for row in topics},
            records=[_record(row) for row in records],
            committed=committed,
        )

    async def write(
        self,
        *,
        topics: Mapping[str, int],
        records: Sequence[Record],
        commits: Mapping[tuple[str, TopicPartition], int],
        durable: bool = True,
    ) -> None:
        # one autocommitted statement (one round trip), not BEGIN, one INSERT per table
        # and COMMIT: every publish waits for it, and every consumed batch commits offsets
        statement, args = write_statement(topics, records, commits, durable=durable)
        if not statement:
            return
        connection = await self._connect()
        try:
            await connection.execute(statement, *args)
        except _FAILURES as e:
            await self._drop()
            raise BusConnectionError(f"bus journal: write failed: {e}") from e

    async def records_from(self, ends: Mapping[TopicPartition, int]) -> list[Record]:
        if not ends:
            return []
        connection = await self._connect()
        try:
            rows = await connection.fetch(
                _RECORDS_FROM,
                [tp.topic for tp in ends],
                [tp.partition for tp in ends],
                list(ends.values()),
            )
        except _FAILURES as e:
            await self._drop()
            raise BusConnectionError(f"bus journal: read failed: {e}") from e
        return [_record(row) for row in rows]

    async def prune(self, floors: Mapping[TopicPartition, int]) -> None:
        if not floors:
            return
        connection = await self._connect()
        try:
            await connection.execute(
                _PRUNE,
                [tp.topic for tp in floors],
                [tp.partition for tp in floors],
                list(floors.values()),
            )
        except _FAILURES as e:
            await self._drop()
            raise BusConnectionError(f"bus journal: prune failed: {e}") from e

    async def expire_offsets(self, *, keep: Collection[str], idle: timedelta) -> None:
        connection = await self._connect()
        try:
            await connection.execute(
                "DELETE FROM bus_offsets WHERE consumer_group <> ALL($1::text[]) "
                "AND updated_at < now() - $2::interval",
                list(keep),
                idle,
            )
        except _FAILURES as e:
            await self._drop()
            raise BusConnectionError(f"bus journal: expiring offsets failed: {e}") from e

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close()  # ends the session: the advisory lock goes with it


def write_statement(
    topics: Mapping[str, int],
    records: Sequence[Record],
    commits: Mapping[tuple[str, TopicPartition], int],
    *,
    durable: bool = True,
) -> tuple[str, list[Any]]:
    """One statement writing whatever of the three is there (data-modifying CTEs when
    more than one), with its arguments; ("", []) when there is nothing to write.

    Not `durable` (offsets only: losing the last ones means redelivery), the statement
    turns `synchronous_commit` off for its own transaction, so its commit does not wait
    for the disk; `set_config(..., true)` is a SET LOCAL that fits in the statement."""
    parts: list[tuple[str, list[Any]]] = []
    if topics:
        parts.append((_INSERT_TOPICS, [list(topics), list(topics.values())]))
    if records:
        parts.append((_INSERT_RECORDS, [
            [r.topic for r in records], [r.partition for r in records],
            [r.offset for r in records], [r.key for r in records],
            [r.value for r in records], [_encode_headers(r.headers) for r in records],
        ]))  # fmt: skip
    if commits:
        parts.append((_UPSERT_OFFSETS, [
            [group for group, _ in commits], [tp.topic for _, tp in commits],
            [tp.partition for _, tp in commits], list(commits.values()),
        ]))  # fmt: skip
    if not parts:
        return "", []
    if len(parts) == 1 and durable:
        return parts[0][0], parts[0][1]
    args: list[Any] = []
    ctes = []
    for number, (sql, values) in enumerate(parts):
        renumbered = _shifted(sql, len(args))
        ctes.append(f"w{number} AS ({renumbered.strip()})")
        args.extend(values)
    if durable:
        return f"WITH {', '.join(ctes)} SELECT 1", args
    ctes.append("lazy AS (SELECT set_config('synchronous_commit', 'off', true) AS setting)")
    return f"WITH {', '.join(ctes)} SELECT setting FROM lazy", args  # noqa: S608 - fixed parts


def _shifted(sql: str, by: int) -> str:
    """`sql` with its parameters `$n` renumbered `$(n + by)`."""

    def shift(match: re.Match[str]) -> str:
        return f"${int(match[1]) + by}"

    return _PARAMETER.sub(shift, sql)
