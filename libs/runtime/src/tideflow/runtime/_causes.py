"""Telling an outage from a message's own failure, through wrapped exceptions."""

from __future__ import annotations

_MAX_CHAIN = 10
"""Causes followed at most (a bound on cyclic or very long chains)."""


def caused_by(error: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether `error` or one of its causes (`__cause__`, else `__context__`) is one of
    `kinds`: consumers retry those without bound (the database or broker is away) and
    dead-letter a message whose own failure repeats."""
    cause: BaseException | None = error
    for _ in range(_MAX_CHAIN):
        if cause is None:
            return False
        if isinstance(cause, kinds):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
