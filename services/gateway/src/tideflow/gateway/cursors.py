"""Opaque pagination cursors: clients pass back what they got, never build one.

Keyset positions are encoded as URL-safe base64 JSON, so the ordering key can change
without breaking the API; a cursor that does not decode is a 400, not a 500.
"""

from __future__ import annotations

from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.runtime import cursor_time, decode_cursor, encode_cursor
from tideflow.store import RunCursor

# The gateway's cursors are the ones every service hands out.
encode = encode_cursor
decode = decode_cursor


def encode_run_cursor(cursor: RunCursor) -> str:
    return encode({"s": cursor.started_at.isoformat(), "r": cursor.run_id})


def decode_run_cursor(cursor: str) -> RunCursor:
    value = decode(cursor)
    if not isinstance(value, dict) or not isinstance(value.get("r"), str):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "the cursor is not valid")
    return RunCursor(started_at=cursor_time(value.get("s")), run_id=value["r"])


def decode_key_cursor(cursor: str) -> str:
    value = decode(cursor)
    if not isinstance(value, str):
        raise ApiError(400, ErrorCode.BAD_REQUEST, "the cursor is not valid")
    return value
