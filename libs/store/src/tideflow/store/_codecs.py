"""orjson codecs for asyncpg: JSON columns travel as bytes, never through `json`."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

# A connection of our own or one borrowed from a pool: both run the same statements.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy

# The binary jsonb wire format is a version byte followed by the JSON text.
_JSONB_VERSION = b"\x01"


def encode_json(value: Any) -> bytes:
    return orjson.dumps(value)


def json_text(value: Any) -> str | None:
    """A value for a `text[]::jsonb[]` array parameter (None stays SQL NULL): in a
    `jsonb[]` parameter the driver would take a JSON list for one more dimension."""
    return None if value is None else orjson.dumps(value).decode()


def decode_json(data: bytes | str) -> Any:
    return orjson.loads(data)


def _encode_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + orjson.dumps(value)


def _decode_jsonb(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def setup_connection(connection: Connection) -> None:
    """Install the codecs on a new connection (pass as a pool's `init`)."""
    await connection.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        format="binary",
    )
    await connection.set_type_codec(
        "json", schema="pg_catalog", encoder=encode_json, decoder=decode_json, format="binary"
    )
