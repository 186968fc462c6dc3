"""Errors of the event store: one root, one type per outcome a caller can act on.

Driver exceptions never leave the adapters; they are translated here with `raise ... from`
so the scheduler and gateway depend on these types only.
"""

from __future__ import annotations

from dataclasses import dataclass


class StoreError(Exception):
    """Root of every error the store raises."""


@dataclass(frozen=True, slots=True)
class RunConflict:
    """One run whose append lost an optimistic race: what the writer expected vs. found."""

    run_id: str
    expected_seq: int
    actual_seq: int


class ConcurrencyConflict(StoreError):  # noqa: N818 - the domain name reads better
    """Another writer got there first (appended to the run, or moved a draft's revision);
    reload and decide again. `conflicts` names the runs when appends lost a race."""

    def __init__(self, conflicts: tuple[RunConflict, ...] = (), *, message: str = "") -> None:
        self.conflicts = conflicts
        detail = ", ".join(
            f"{c.run_id} (expected seq {c.expected_seq}, found {c.actual_seq})" for c in conflicts
        )
        super().__init__(message or f"concurrent append to run(s): {detail}")

    @property
    def run_ids(self) -> frozenset[str]:
        """The runs that conflicted, so a batch can be retried without (or after reloading) them."""
        return frozenset(c.run_id for c in self.conflicts)


class NotFound(StoreError):  # noqa: N818 - the domain name reads better than NotFoundError
    """The requested row does not exist (or is not visible to the tenant)."""


class AlreadyExists(StoreError):  # noqa: N818
    """A row with the same identity (or idempotency key) exists already."""


class Immutable(StoreError):  # noqa: N818
    """The row is append-only or frozen (event log, published versions, archived workflows)."""


class InvalidData(StoreError):  # noqa: N818
    """Postgres (or the JSON encoder) refused a value itself: too deep to encode, a NUL
    character in text, a value beyond a size limit. Retrying the same write fails the same
    way, so callers must drop or replace the value, never retry it."""


class StoreUnavailable(StoreError):  # noqa: N818
    """The database is unreachable or aborted a transaction transiently; retry it whole."""


class MigrationError(StoreError):
    """The schema cannot be brought up to date (e.g. an applied migration was edited)."""
