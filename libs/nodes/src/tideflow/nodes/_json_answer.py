"""Reading a model's answer as JSON and checking it against the node's schema."""

from __future__ import annotations

import json
import re
from typing import Any

from tideflow.core import SafeValidator

MAX_ERRORS = 10
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


class NotJson(ValueError):  # noqa: N818 - a reason, shown to the model
    """The answer holds no JSON value."""


def parse_answer(text: str) -> Any:
    """The JSON value in an answer: a fenced ```json block, the whole text, or the first
    object or array in it (models like to add a sentence around it)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        try:
            return json.loads(candidate.strip())
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for index, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(text, index)
            except ValueError:
                continue
            return value
    msg = "the answer is not JSON (expected a JSON value, optionally in a ```json block)"
    raise NotJson(msg)


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """Up to MAX_ERRORS validation errors, each as `path: message` (path `$` is the root)."""
    validator = SafeValidator(schema)  # RE2 patterns: a model answer cannot backtrack
    found = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    out = []
    for error in found[:MAX_ERRORS]:
        path = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        out.append(f"{path}: {error.message}")
    return out
