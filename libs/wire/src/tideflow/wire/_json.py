"""Timestamps and JSON fields of protobuf messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tideflow.bus import dump_json, load_json

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> Timestamp:
    """A protobuf Timestamp, exact to the microsecond (protobuf's `FromDatetime` goes
    through `utctimetuple`, several times slower, with the same result)."""
    if value.tzinfo is None:
        value = value.astimezone(UTC)  # a naive value is local time, as FromDatetime reads it
    delta = value - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return Timestamp(seconds=seconds, nanos=delta.microseconds * 1000)


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
