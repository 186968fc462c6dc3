"""How `wait` and `watch` poll: quickly at first and after each change, then less often."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tideflow.client._models import Run


class Backoff:
    """0.1 s, growing by half each poll without news, up to 1 s."""

    def __init__(self, first: float = 0.1, factor: float = 1.5, most: float = 1.0) -> None:
        self._first, self._factor, self._most = first, factor, most
        self._current = first

    def next(self) -> float:
        current = self._current
        self._current = min(self._current * self._factor, self._most)
        return current

    def reset(self) -> None:
        self._current = self._first


def changed(before: Run, after: Run) -> bool:
    return before.to_json() != after.to_json()
