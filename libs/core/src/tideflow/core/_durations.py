"""Durations as the short strings people write in YAML (`500ms`, `30s`, `1h30m`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

from tideflow.core._errors import DurationError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_DURATION = timedelta(days=36_500)
"""The longest duration a definition may name (100 years): a timer, timeout or backoff is
added to the clock, and a longer one would overflow the calendar (year 9999) in `decide`
instead of failing where it is written."""
_EXPECTED = "expected e.g. 500ms, 30s, 5m, 1h30m"


def _bounded(value: timedelta | None, text: object) -> timedelta:
    if value is None or value > MAX_DURATION:
        raise DurationError(
            f"invalid duration {_shown(text)}: longer than the maximum "
            f"{format_duration(MAX_DURATION)}"
        )
    return value


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m`, `500ms`, `2.5s`, `3d` into a timedelta; garbage, or more than
    `MAX_DURATION`, is an error."""
    if not isinstance(text, str) or not text.strip():
        raise DurationError(f"invalid duration {text!r}: {_EXPECTED}")
    stripped = text.strip()
    pos = 0
    total_ms = 0.0
    for match in _PART.finditer(stripped):
        if match.start() != pos:
            break
        total_ms += float(match.group(1)) * _UNITS_MS[match.group(2)]
        pos = match.end()
    if pos != len(stripped) or pos == 0:
        raise DurationError(f"invalid duration {text!r}: {_EXPECTED}")
    return _bounded(_timedelta(milliseconds=total_ms), text)


_SHOWN = 40


def _shown(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= _SHOWN else f"{shown[: _SHOWN - 3]}..."


def _timedelta(**amount: float) -> timedelta | None:
    """The timedelta, or None where it is beyond what a timedelta holds (or not a number)."""
    try:
        return timedelta(**amount)
    except (OverflowError, ValueError):
        return None


def format_duration(value: timedelta) -> str:
    """The shortest canonical string for a timedelta (round-trips through parse_duration)."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNITS_MS[unit]
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value:  # NaN  # noqa: PLR0124
            raise DurationError(f"invalid duration {value!r}: {_EXPECTED}")
        return _bounded(_timedelta(seconds=value), value)
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A timedelta field that reads `30s` strings (or seconds) and writes them back as strings."""
