"""Durations in settings read the way people write them: `20ms`, `5s`, `1m30s`, or seconds."""

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> object:
    """`"1m30s"` -> timedelta(seconds=90); bare numbers are seconds; anything else passes on."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    parts = _PART.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    return value  # let pydantic report (or parse ISO 8601 such as PT5S)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
