"""Bounded answers: values too large for a run answer become markers with a link.

A run's answer gathers its input, output, error and every step's output, so without a
bound its size is the sum of everything the run produced (a 180 MB answer took the
server 20 s to build). Each value is measured on its JSON encoding; one larger than
`view_value_bytes`, or one that no longer fits the answer's `view_bytes` budget, is
replaced by

    {"$truncated": {"bytes": <size>, "preview": "<start of its JSON>", "href": <url>}}

and `href` answers the whole value (up to `value_bytes`). Reads from the projections ask
the store to cut such values already (`preview_over`), so they are never loaded; the
budget then only adds the link.
"""

from __future__ import annotations

from typing import Any

import orjson

from tideflow.settings import LimitsSettings
from tideflow.store import TRUNCATED

MARKER = TRUNCATED
PREVIEW_BYTES = 512


def encoded_size(value: Any) -> tuple[int, bytes]:
    """(size, JSON) of a value; values orjson cannot encode are measured by their repr."""
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        encoded = repr(value).encode()
    return len(encoded), encoded


def _is_marker(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get(MARKER), dict)
        and "href" not in value[MARKER]
    )


class ValueBudget:
    """Spends one answer's byte budget on the values it shows, in the order asked."""

    @staticmethod
    def preview_over(limits: LimitsSettings) -> int:
        """What the store may cut before loading (values the budget would drop anyway)."""
        return int(limits.view_value_bytes)

    def __init__(self, limits: LimitsSettings) -> None:
        self.per_value = int(limits.view_value_bytes)
        self.remaining = int(limits.view_bytes)

    def fit(self, value: Any, href: str | None) -> Any:
        """`value` itself when it fits, else its marker."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if _is_marker(value):  # cut by the store: add the link
            marker = value[MARKER]
            self.remaining -= len(str(marker.get("preview", "")))
            return {MARKER: {**marker, "href": href}}
        if isinstance(value, str) and len(value) < PREVIEW_BYTES // 4:
            self.remaining -= len(value)
            return value
        size, encoded = encoded_size(value)
        if size <= self.per_value and size <= self.remaining:
            self.remaining -= size
            return value
        preview = encoded[:PREVIEW_BYTES].decode("utf-8", "ignore")
        self.remaining -= len(preview)
        return {MARKER: {"bytes": size, "preview": preview, "href": href}}
