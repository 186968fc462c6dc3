"""`check_value`: what may enter the event log, with stable codes."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tideflow.core import LimitCode, Limits, check_value, json_depth

pytestmark = pytest.mark.unit


def nested(levels: int) -> Any:
    value: Any = 0
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (nested(65), LimitCode.VALUE_TOO_DEEP),
        (nested(10_000), LimitCode.VALUE_TOO_DEEP),
        (math.nan, LimitCode.NON_FINITE_NUMBER),
        ({"a": [1, -math.inf]}, LimitCode.NON_FINITE_NUMBER),
        ("x" * 1001, LimitCode.VALUE_TOO_LARGE),
        ({"a": "x" * 1000}, LimitCode.VALUE_TOO_LARGE),
        ("a\x00", LimitCode.NUL_CHARACTER),
        ({"k\x00": 1}, LimitCode.NUL_CHARACTER),
        ({"when": object()}, LimitCode.NOT_JSON),
    ],
)
def test_unstorable_values_are_named_with_a_stable_code(value: Any, code: LimitCode) -> None:
    violation = check_value(value, what="output of step 'x'", max_depth=64, max_bytes=1000)
    assert violation is not None
    assert violation.code is code
    assert "output of step 'x'" in violation.message


@pytest.mark.parametrize("value", [None, 1, 1.5, True, "text", nested(64), {"a": [1, {"b": 2}]}])
def test_storable_values_pass(value: Any) -> None:
    assert check_value(value, what="v", max_depth=64, max_bytes=1000) is None


def test_depth_counts_containers_and_stops_early() -> None:
    assert json_depth(1) == 0
    assert json_depth([[{}]]) == 3
    assert json_depth(nested(100_000), stop_after=10) == 11


def test_limits_refuse_a_depth_the_encoder_cannot_write() -> None:
    with pytest.raises(ValueError, match="json_depth"):
        Limits(json_depth=300)
