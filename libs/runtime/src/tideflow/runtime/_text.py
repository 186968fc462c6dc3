"""Text Postgres cannot store: a NUL character anywhere, or a lone surrogate.

Values from outside (bodies, cursors) are checked before they reach the store, so such
text is a clear 4xx at the edge instead of an internal error deep in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator


def strings(value: Any) -> Iterator[str]:
    """Every string of a JSON-like value, keys included; iterative, so any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def has_nul(value: Any) -> bool:
    """Whether a NUL character is anywhere in the value (`jsonb` and `text` refuse it)."""
    return any("\x00" in text for text in strings(value))


def storable_text(value: Any) -> bool:
    """No string in `value` holds a NUL or a lone surrogate (Postgres takes neither)."""
    return all("\x00" not in text and _encodable(text) for text in strings(value))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
