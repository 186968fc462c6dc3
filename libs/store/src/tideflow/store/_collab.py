"""The collaboration port: the update log and snapshot of each draft's shared document.

The store moves bytes; what a Yjs update means is the collab service's business (it passes
`merge` to compaction, so this library stays free of the CRDT library).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime  # noqa: TC003 - dataclass fields
from typing import Any, Protocol

from tideflow.store._records import DEFAULT_TENANT

Merge = Callable[[Sequence[bytes]], bytes]
"""Folds Yjs updates (the snapshot first) into one update."""


@dataclass(frozen=True, slots=True)
class CollabUpdate:
    """One edit of a shared document, as stored."""

    id: int
    payload: bytes
    author: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CollabDocument:
    """A document's snapshot (covering updates up to `upto`) and the updates after it."""

    state: bytes
    upto: int
    updates: list[CollabUpdate]
    draft_revision: int
    """The workflow draft revision the document last matched."""
    edited_at: datetime
    """When the document was last edited (or seeded)."""

    @property
    def last_id(self) -> int:
        return self.updates[-1].id if self.updates else self.upto


@dataclass(frozen=True, slots=True)
class Attribution:
    """`(update id, author, changes)` of every edit since the last publish, in log order."""

    entries: list[tuple[int, str, list[dict[str, Any]]]]
    upto: int


class CollabStore(Protocol):
    """Per tenant: every call takes the tenant of the document."""

    async def load_document(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> CollabDocument | None:
        """The snapshot and the updates after it, or None before the first seed."""
        ...

    async def seed_document(
        self, workflow_id: str, state: bytes, *, draft_revision: int,
        tenant_id: str = DEFAULT_TENANT,
    ) -> bool:  # fmt: skip
        """Store the first snapshot unless one exists (False: someone else seeded first)."""
        ...

    async def append_update(
        self,
        workflow_id: str,
        payload: bytes,
        *,
        author: str | None,
        changes: Sequence[dict[str, Any]] = (),
        tenant_id: str = DEFAULT_TENANT,
    ) -> int:
        """Append one update; returns its id (ids grow in commit order per document)."""
        ...

    async def updates_after(
        self, workflow_id: str, after: int, *, tenant_id: str = DEFAULT_TENANT
    ) -> CollabDocument | None:
        """What a room that has applied everything up to `after` is missing."""
        ...

    async def compact(
        self, workflow_id: str, merge: Merge, *, tenant_id: str = DEFAULT_TENANT
    ) -> int:
        """Fold every update into the snapshot (one transaction); returns how many."""
        ...

    async def attribution(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> Attribution:
        """Who changed what since the last publish (compacted updates included)."""
        ...

    async def mark_attributed(
        self, workflow_id: str, upto: int, *, draft_revision: int,
        tenant_id: str = DEFAULT_TENANT,
    ) -> None:  # fmt: skip
        """A publish covered every edit up to `upto`; the draft is now at `draft_revision`."""
        ...

    async def set_draft_revision(
        self, workflow_id: str, draft_revision: int, *, tenant_id: str = DEFAULT_TENANT
    ) -> None:
        """The document matches the workflow's draft at `draft_revision`."""
        ...
