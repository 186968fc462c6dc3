"""Timestamps and JSON fields of protobuf messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tideflow.bus import dump_json, load_json


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def duration(value: timedelta) -> Duration:
    result = Duration()
    result.FromTimedelta(value)
    return result


def dump(value: Any) -> bytes:
    """JSON bytes; None stays empty so absent and null read back the same."""
    return b"" if value is None else dump_json(value)


def load(data: bytes) -> Any:
    return load_json(data) if data else None


def load_object(data: bytes) -> dict[str, Any]:
    value = load(data)
    return value if isinstance(value, dict) else {}
