"""Body paths (`data.items[0].id`): read a value out of a response, place one in a body."""

from __future__ import annotations

import re
from typing import Any

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parts(path: str) -> list[str | int]:
    return [int(index) if index else name for name, index in _PART.findall(path)]


def get_path(value: Any, path: str) -> Any:
    """The value at `path` (empty: the value itself); None when any step is missing."""
    current = value
    for part in parts(path):
        if isinstance(part, int):
            if not isinstance(current, list) or part >= len(current):
                return None
            current = current[part]
        elif isinstance(current, dict):
            current = current.get(part)
        else:
            return None
    return current


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Put `value` at a dotted path of `target`, making the objects on the way."""
    names = [str(p) for p in parts(path)]
    current = target
    for name in names[:-1]:
        nested = current.get(name)
        if not isinstance(nested, dict):
            nested = {}
            current[name] = nested
        current = nested
    current[names[-1]] = value


def mapped(value: Any, mapping: str | dict[str, str] | None) -> Any:
    """An output mapping applied to `value`: a path, or {key: path}; None keeps it whole."""
    if mapping is None:
        return value
    if isinstance(mapping, str):
        return get_path(value, mapping)
    return {key: get_path(value, path) for key, path in mapping.items()}
