"""What a trigger may start a run with: JSON it can read, a value the log can hold.

Webhook bodies and event messages come from other systems, and event messages never pass
the API's edge checks. Python's `json` reads `NaN`, `1e400` (as infinity) and fails with
RecursionError (not ValueError) on deep nesting; a NUL character, NaN, a value deeper
than the encoder goes or larger than a run input may be fails later, in the store or the
encoder, where it would fail the same way on every redelivery. So every run input a
trigger builds passes `screen` (the engine's own `check_value` with the
`TIDEFLOW_LIMITS_*` limits) before anything is recorded.
"""

from __future__ import annotations

import json
from typing import Any

from tideflow.core import LimitCode, LimitViolation, check_value
from tideflow.settings import LimitsSettings


class TooDeepError(ValueError):
    """The text nests deeper than the JSON parser can follow."""


def load_json(text: str) -> Any:
    """`json.loads`, with a nesting too deep for the parser as TooDeepError (a ValueError)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise TooDeepError("the JSON nests deeper than the parser follows") from None


def too_deep(what: str) -> LimitViolation:
    return LimitViolation(LimitCode.VALUE_TOO_DEEP, f"{what} nests too deep to be read as JSON")


def screen(value: Any, limits: LimitsSettings, *, what: str) -> LimitViolation | None:
    """The first limit a run input breaks (depth, NaN/±Infinity, NUL, size), or None."""
    return check_value(
        value, what=what, max_depth=limits.json_depth, max_bytes=int(limits.input_bytes)
    )
