"""Waiting for something to happen to one key (a run, a credential) without polling.

A waiter registers *before* it reads what it waits for (so a change between the read and
the wait is not missed); whoever learns of a change to the key sets the events of its
waiters, and a source that may have missed changes wakes them all (they read again).
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


class KeyedEvents:
    """The events of the tasks waiting on each key; set when that key is notified."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    @contextmanager
    def register(self, key: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiting[key]

    def notify(self, key: str) -> None:
        for event in self._waiting.get(key, ()):
            event.set()

    def wake_all(self) -> None:
        """Wake every waiter (they read again): the source of changes was lost."""
        for waiting in self._waiting.values():
            for event in waiting:
                event.set()

    def __len__(self) -> int:
        return sum(len(w) for w in self._waiting.values())
