"""Limits on what a run may write into its log, and the check every value passes.

The event log is JSON: a value nested deeper than the encoder supports, a NaN (which JSON
cannot hold, so encoders write `null` and a replay reads something else), or one so large
that every read of the run slows down must never reach it. Such a value is a deterministic
failure: the same input fails the same way again, so the step (or run) fails for good with
a stable error type, and nothing is retried or redelivered forever.

`Limits` is plain data: services build it from `TIDEFLOW_LIMITS_*` and a run pins the
limits it started with, so a replay decides exactly what the original run decided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

KIB = 1024
MIB = 1024 * KIB
ENCODER_MAX_DEPTH = 254
"""orjson refuses deeper values; no configured limit may exceed it."""


class LimitCode(StrEnum):
    """Stable error types of limit violations (the `type` of a StepError or RunError)."""

    VALUE_TOO_DEEP = "ValueTooDeep"
    VALUE_TOO_LARGE = "ValueTooLarge"
    NON_FINITE_NUMBER = "NonFiniteNumber"
    NUL_CHARACTER = "NulCharacter"
    NOT_JSON = "NotJson"
    EXPRESSION_BUDGET = "ExpressionBudgetExceeded"
    FOREACH_TOO_MANY_ITEMS = "ForeachTooManyItems"
    FOREACH_OUTPUT_TOO_LARGE = "ForeachOutputTooLarge"
    SUBWORKFLOW_DEPTH = "SubworkflowDepthExceeded"
    WORKFLOW_NOT_FOUND = "WorkflowNotFound"
    SCHEDULE_TO_START_TIMEOUT = "ScheduleToStartTimeout"


class Limits(BaseModel):
    """Engine-side limits; the defaults are those documented in docs/configuration.md.

    A run pins the limits it started with (they are part of `RunStarted`), so raising or
    lowering a limit never changes what a replay of an earlier run decides.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )

    json_depth: int = Field(default=64, ge=1, le=ENCODER_MAX_DEPTH)
    input_bytes: int = Field(default=1 * MIB, gt=0)
    output_bytes: int = Field(default=1 * MIB, gt=0)
    foreach_items: int = Field(default=10_000, gt=0)
    foreach_output_bytes: int = Field(default=4 * MIB, gt=0)
    subworkflow_depth: int = Field(default=10, gt=0)
    expression_bytes: int = Field(default=1 * MIB, gt=0)
    expression_work_bytes: int = Field(default=64 * MIB, gt=0)
    event_bytes: int = Field(default=4 * MIB, gt=0)
    """Largest config a step is scheduled with (many templates add up)."""
    schedule_to_start: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))
    """Default `scheduleToStartTimeout` of dispatched steps."""


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class LimitViolation:
    """Why a value may not be stored: a stable code and a message naming what and where."""

    code: LimitCode
    message: str


def json_depth(value: Any, stop_after: int = ENCODER_MAX_DEPTH) -> int:
    """Nesting depth of a JSON value (a scalar is 0), counting no further than `stop_after`.

    Iterative, so a value nested thousands of levels deep cannot exhaust the stack; only
    containers are pushed, so a list of 10,000 numbers costs one pass.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue  # only the root can be a scalar: children are pushed if containers
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > stop_after:
                return deepest
        stack.extend((child, depth) for child in children if isinstance(child, _CONTAINERS))
    return deepest


_CONTAINERS = (dict, list, tuple)
_Where = tuple[Any, str | int] | None
"""Where a value sits: (where its container sits, its key or index); None for the root.
Built as a chain so a path string is only made for the value that breaks a rule."""


def _path(where: _Where) -> str:
    parts: list[str] = []
    while where is not None:
        where, key = where
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "$" + "".join(reversed(parts))


def _unstorable(value: Any) -> tuple[LimitCode, str] | None:
    """The first NaN/±Infinity, or text holding a NUL character (Postgres refuses it in
    jsonb), inside a JSON value, with its path; None when there is none."""
    stack: list[tuple[Any, _Where]] = [(value, None)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return LimitCode.NON_FINITE_NUMBER, _path(where)
        elif isinstance(item, str):
            if "\x00" in item:
                return LimitCode.NUL_CHARACTER, _path(where)
        elif isinstance(item, dict):
            if any(isinstance(key, str) and "\x00" in key for key in item):
                return LimitCode.NUL_CHARACTER, _path(where)
            stack.extend((c, (where, k)) for k, c in item.items() if not _clean_scalar(c))
        elif isinstance(item, list | tuple):
            stack.extend((c, (where, i)) for i, c in enumerate(item) if not _clean_scalar(c))
    return None


def _clean_scalar(value: Any) -> bool:
    """An int, bool or None: nothing in it can break a rule (skipped without a push)."""
    return value is None or type(value) is int or type(value) is bool


def check_value(value: Any, *, what: str, max_depth: int, max_bytes: int) -> LimitViolation | None:
    """The first limit `value` breaks before it may be stored, or None when it fits.

    `what` names the value in the message ("output of step 'fetch'").
    """
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, str) and "\x00" not in value:
        return _too_large(what, len(value), max_bytes) if len(value) > max_bytes else None
    violation = _shape_violation(value, what, max_depth)
    if violation is not None:
        return violation
    try:
        size = len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError as e:
        return LimitViolation(LimitCode.NOT_JSON, f"{what} is not JSON: {e}")
    return _too_large(what, size, max_bytes) if size > max_bytes else None


def _shape_violation(value: Any, what: str, max_depth: int) -> LimitViolation | None:
    if json_depth(value, stop_after=max_depth) > max_depth:
        return LimitViolation(
            LimitCode.VALUE_TOO_DEEP, f"{what} is nested deeper than {max_depth} levels"
        )
    found = _unstorable(value)
    if found is None:
        return None
    code, where = found
    if code is LimitCode.NON_FINITE_NUMBER:
        return LimitViolation(code, f"{what} holds NaN or Infinity at {where}: JSON cannot hold it")
    return LimitViolation(code, f"{what} holds a NUL character at {where}: it cannot be stored")


def json_size(value: Any) -> int:
    """Bytes `value` takes as compact JSON (as the log stores it); 0 when it is not JSON
    (`check_value` reports that)."""
    try:
        return len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return 0


def size_violation(value: Any, *, what: str, max_bytes: int) -> LimitViolation | None:
    """Only the size check of `check_value`, for values whose parts were checked already
    (template results): a value assembled from many parts may still be too large."""
    try:
        size = len(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))
    except TypeError as e:
        return LimitViolation(LimitCode.NOT_JSON, f"{what} is not JSON: {e}")
    return _too_large(what, size, max_bytes) if size > max_bytes else None


def _too_large(what: str, size: int, limit: int) -> LimitViolation:
    return LimitViolation(
        LimitCode.VALUE_TOO_LARGE, f"{what} is {size:,} bytes, more than the {limit:,} allowed"
    )
