"""Shared documents of the collaboration service on Postgres (asyncpg).

Writes to one document are serialized by locking its `collab_documents` row: an append
holds it while it inserts, so update ids commit in id order per document (a reader that
has seen id N has seen every id below it), and compaction holds it while it folds the log
into the snapshot, so no append lands between its read and its delete.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Self

from tideflow.store._collab import (
    Attribution,
    CollabDocument,
    CollabStore,
    CollabUpdate,
    Merge,
)
from tideflow.store._errors import NotFound
from tideflow.store._pg_errors import translated
from tideflow.store._pg_scope import scoped
from tideflow.store._records import DEFAULT_TENANT

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

_DOCUMENT = """
SELECT state, upto, draft_revision, edited_at FROM collab_documents
WHERE tenant_id = $1 AND workflow_id = $2
"""
_LOCK = _DOCUMENT + " FOR UPDATE"
_UPDATES = """
SELECT id, payload, author, changes FROM collab_updates
WHERE tenant_id = $1 AND workflow_id = $2 AND id > $3 ORDER BY id
"""
_SEED = """
INSERT INTO collab_documents (tenant_id, workflow_id, state, draft_revision)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
"""
_TOUCH = """
UPDATE collab_documents SET edited_at = now() WHERE tenant_id = $1 AND workflow_id = $2
RETURNING upto
"""
_APPEND = """
INSERT INTO collab_updates (tenant_id, workflow_id, payload, author, changes)
VALUES ($1, $2, $3, $4, $5) RETURNING id
"""
_PENDING = """
SELECT pending, attributed_upto, upto FROM collab_documents
WHERE tenant_id = $1 AND workflow_id = $2
"""
_COMPACTED = """
UPDATE collab_documents SET state = $3, upto = $4, pending = $5, compacted_at = now()
WHERE tenant_id = $1 AND workflow_id = $2
"""
_DELETE = "DELETE FROM collab_updates WHERE tenant_id = $1 AND workflow_id = $2 AND id <= $3"
_ATTRIBUTED = """
UPDATE collab_documents
SET attributed_upto = GREATEST(attributed_upto, $3), draft_revision = $4,
    pending = COALESCE((SELECT jsonb_agg(e) FROM jsonb_array_elements(pending) e
                        WHERE (e->>0)::bigint > $3), '[]'::jsonb)
WHERE tenant_id = $1 AND workflow_id = $2
"""
_REVISION = """
UPDATE collab_documents SET draft_revision = $3 WHERE tenant_id = $1 AND workflow_id = $2
"""


def _update(row: asyncpg.Record) -> CollabUpdate:
    changes = row["changes"]
    if isinstance(changes, str):  # pragma: no cover - the pool decodes jsonb
        changes = json.loads(changes)
    return CollabUpdate(
        id=row["id"], payload=bytes(row["payload"]), author=row["author"], changes=changes
    )


class PostgresCollabStore(CollabStore):
    """`CollabStore` over a pool made by `create_pool` (JSON codecs installed)."""

    def __init__(self, pool: asyncpg.Pool, *, owns_pool: bool = False) -> None:
        self._pool = pool
        self._owns_pool = owns_pool

    @classmethod
    async def connect(
        cls, dsn: str, *, min_size: int = 1, max_size: int = 5, role: str | None = None
    ) -> Self:
        """Open a pool of its own (closed by `close`)."""
        from tideflow.store._postgres import create_pool  # noqa: PLC0415 - avoid a cycle

        pool = await create_pool(dsn, min_size=min_size, max_size=max_size, role=role)
        return cls(pool, owns_pool=True)

    async def close(self) -> None:
        if self._owns_pool:
            await self._pool.close()

    async def load_document(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> CollabDocument | None:
        return await self.updates_after(workflow_id, -1, tenant_id=tenant_id)

    async def updates_after(
        self, workflow_id: str, after: int, *, tenant_id: str = DEFAULT_TENANT
    ) -> CollabDocument | None:
        with translated("load collab document"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(_DOCUMENT, tenant_id, workflow_id)
                if row is None:
                    return None
                # a room behind the snapshot needs it whole; one past it, only the tail
                behind = after < row["upto"]
                rows = await connection.fetch(
                    _UPDATES, tenant_id, workflow_id, row["upto"] if behind else after
                )
        return CollabDocument(
            state=bytes(row["state"]) if behind else b"",
            upto=row["upto"],
            updates=[_update(r) for r in rows],
            draft_revision=row["draft_revision"],
            edited_at=row["edited_at"],
        )

    async def seed_document(
        self, workflow_id: str, state: bytes, *, draft_revision: int,
        tenant_id: str = DEFAULT_TENANT,
    ) -> bool:  # fmt: skip
        with translated("seed collab document"):
            async with scoped(self._pool, tenant_id) as connection:
                status = await connection.execute(
                    _SEED, tenant_id, workflow_id, state, draft_revision
                )
        return status.endswith(" 1")

    async def append_update(
        self,
        workflow_id: str,
        payload: bytes,
        *,
        author: str | None,
        changes: Sequence[dict[str, Any]] = (),
        tenant_id: str = DEFAULT_TENANT,
    ) -> int:
        with translated("append collab update"):
            async with scoped(self._pool, tenant_id) as connection:
                if await connection.fetchrow(_TOUCH, tenant_id, workflow_id) is None:
                    raise NotFound(f"no collaborative document for workflow {workflow_id}")
                update_id: int = await connection.fetchval(
                    _APPEND, tenant_id, workflow_id, payload, author, list(changes)
                )
        return update_id

    async def compact(
        self, workflow_id: str, merge: Merge, *, tenant_id: str = DEFAULT_TENANT
    ) -> int:
        with translated("compact collab document"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(_LOCK, tenant_id, workflow_id)
                if row is None:
                    return 0
                rows = await connection.fetch(_UPDATES, tenant_id, workflow_id, row["upto"])
                if not rows:
                    return 0
                updates = [_update(r) for r in rows]
                kept = await connection.fetchrow(_PENDING, tenant_id, workflow_id)
                pending = list(kept["pending"] if kept else []) + [
                    [u.id, u.author, u.changes]
                    for u in updates
                    if u.author is not None
                    and u.changes
                    and u.id > (kept["attributed_upto"] if kept else 0)
                ]
                state = merge([bytes(row["state"]), *(u.payload for u in updates)])
                upto = updates[-1].id
                await connection.execute(_COMPACTED, tenant_id, workflow_id, state, upto, pending)
                await connection.execute(_DELETE, tenant_id, workflow_id, upto)
        return len(updates)

    async def attribution(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> Attribution:
        with translated("read collab attribution"):
            async with scoped(self._pool, tenant_id) as connection:
                kept = await connection.fetchrow(_PENDING, tenant_id, workflow_id)
                if kept is None:
                    return Attribution(entries=[], upto=0)
                since = max(kept["attributed_upto"], kept["upto"])
                rows = await connection.fetch(_UPDATES, tenant_id, workflow_id, since)
        entries = [
            (int(e[0]), str(e[1]), list(e[2]))
            for e in kept["pending"]
            if int(e[0]) > kept["attributed_upto"]
        ]
        entries += [
            (u.id, u.author, u.changes)
            for u in map(_update, rows)
            if u.author is not None and u.changes
        ]
        upto = max([since, *(e[0] for e in entries), *(r["id"] for r in rows)])
        return Attribution(entries=entries, upto=upto)

    async def mark_attributed(
        self, workflow_id: str, upto: int, *, draft_revision: int,
        tenant_id: str = DEFAULT_TENANT,
    ) -> None:  # fmt: skip
        with translated("mark collab attribution"):
            async with scoped(self._pool, tenant_id) as connection:
                await connection.execute(_ATTRIBUTED, tenant_id, workflow_id, upto, draft_revision)

    async def set_draft_revision(
        self, workflow_id: str, draft_revision: int, *, tenant_id: str = DEFAULT_TENANT
    ) -> None:
        with translated("set collab draft revision"):
            async with scoped(self._pool, tenant_id) as connection:
                await connection.execute(_REVISION, tenant_id, workflow_id, draft_revision)
