"""Workflow drafts and immutable published versions on Postgres."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from tideflow.store import _pg_sql as sql
from tideflow.store._errors import ConcurrencyConflict, Immutable, NotFound, StoreError
from tideflow.store._pg_errors import translated
from tideflow.store._pg_rows import version as version_row
from tideflow.store._pg_rows import workflow as workflow_row
from tideflow.store._pg_scope import one_statement, scoped
from tideflow.store._pg_triggers import sync_latest, sync_triggers
from tideflow.store._records import DEFAULT_TENANT, JSONObject, WorkflowRecord, WorkflowVersion

if TYPE_CHECKING:
    import asyncpg


class ScopedQueries:
    """Single autocommitted statements scoped to a tenant (None: the platform)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _fetchrow(
        self, tenant_id: str | None, query: str, *args: Any
    ) -> asyncpg.Record | None:
        async with one_statement(self._pool, tenant_id) as connection:
            return await connection.fetchrow(query, *args)

    async def _fetch(self, tenant_id: str | None, query: str, *args: Any) -> list[asyncpg.Record]:
        async with one_statement(self._pool, tenant_id) as connection:
            return await connection.fetch(query, *args)

    async def _fetchval(self, tenant_id: str | None, query: str, *args: Any) -> Any:
        async with one_statement(self._pool, tenant_id) as connection:
            return await connection.fetchval(query, *args)

    async def _execute(self, tenant_id: str | None, query: str, *args: Any) -> str:
        async with one_statement(self._pool, tenant_id) as connection:
            return await connection.execute(query, *args)


class PostgresWorkflows(ScopedQueries):
    """The workflow half of `PostgresEventStore`, used by the gateway."""

    async def create_workflow(
        self, workflow_id: str, name: str, draft: JSONObject, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowRecord:
        with translated(f"create workflow {workflow_id}"):
            row = await self._fetchrow(
                tenant_id, sql.INSERT_WORKFLOW, tenant_id, workflow_id, name, draft
            )
        if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
            raise StoreError(f"workflow {workflow_id} was not created")
        return workflow_row(row)

    async def get_workflow(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowRecord:
        with translated("get workflow"):
            row = await self._fetchrow(tenant_id, sql.GET_WORKFLOW, tenant_id, workflow_id)
        if row is None:
            raise NotFound(f"workflow {workflow_id} not found")
        return workflow_row(row)

    async def list_workflows(
        self, *, tenant_id: str = DEFAULT_TENANT, include_archived: bool = False
    ) -> list[WorkflowRecord]:
        with translated("list workflows"):
            rows = await self._fetch(tenant_id, sql.LIST_WORKFLOWS, tenant_id, include_archived)
        return [workflow_row(row) for row in rows]

    async def update_draft(
        self,
        workflow_id: str,
        draft: JSONObject,
        *,
        name: str | None = None,
        expected_revision: int | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> WorkflowRecord:
        for _ in range(3):
            with translated("update draft"):
                row = await self._fetchrow(
                    tenant_id, sql.UPDATE_DRAFT, tenant_id, workflow_id, draft, name,
                    expected_revision,
                )  # fmt: skip
            if row is not None:
                return workflow_row(row)
            # Nothing matched: say why (archived, another revision), or it was a no-op.
            current = await self.get_workflow(workflow_id, tenant_id=tenant_id)
            if current.archived:
                raise Immutable(f"workflow {workflow_id} is archived")
            if expected_revision is not None and current.revision != expected_revision:
                raise ConcurrencyConflict(
                    message=f"workflow {workflow_id} is at revision {current.revision}, "
                    f"not {expected_revision}"
                )
            if orjson.dumps(current.draft) == orjson.dumps(draft) and name in (None, current.name):
                return current  # unchanged: the same revision, nothing written
            # another save landed between the two statements: this one still applies
        raise ConcurrencyConflict(message=f"workflow {workflow_id} keeps changing; retry")

    async def set_archived(
        self, workflow_id: str, archived: bool, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowRecord:
        with translated("archive workflow"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(sql.SET_ARCHIVED, tenant_id, workflow_id, archived)
                if row is None:
                    raise NotFound(f"workflow {workflow_id} not found")
                # an archived workflow has no triggers; a restored one gets its latest back
                if archived:
                    await sync_triggers(connection, tenant_id, workflow_id, None, None)
                else:
                    await sync_latest(connection, tenant_id, workflow_id)
        return workflow_row(row)

    async def publish(
        self,
        workflow_id: str,
        *,
        definition: JSONObject | None = None,
        published_by: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> WorkflowVersion:
        return await self._publish(workflow_id, definition, published_by, None, tenant_id)

    async def rollback(
        self,
        workflow_id: str,
        version: int,
        *,
        published_by: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> WorkflowVersion:
        return await self._publish(workflow_id, None, published_by, version, tenant_id)

    async def _publish(
        self,
        workflow_id: str,
        definition: JSONObject | None,
        published_by: str | None,
        source_version: int | None,
        tenant_id: str,
    ) -> WorkflowVersion:
        """Lock the workflow row so concurrent publishes get consecutive version numbers."""
        with translated("publish"):
            async with scoped(self._pool, tenant_id) as connection:
                row = await connection.fetchrow(sql.LOCK_WORKFLOW, tenant_id, workflow_id)
                if row is None:
                    raise NotFound(f"workflow {workflow_id} not found")
                if row["archived"]:
                    raise Immutable(f"workflow {workflow_id} is archived")
                if source_version is not None:
                    source = await connection.fetchrow(
                        sql.GET_VERSION, tenant_id, workflow_id, source_version
                    )
                    if source is None:
                        raise NotFound(f"workflow {workflow_id} has no version {source_version}")
                    definition = source["definition"]
                published = await connection.fetchrow(
                    sql.INSERT_VERSION,
                    tenant_id,
                    workflow_id,
                    row["draft"] if definition is None else definition,
                    published_by,
                    source_version,
                )
                if source_version is not None:
                    # the draft follows a rollback, or the next publish would undo it
                    await connection.execute(sql.SET_DRAFT, tenant_id, workflow_id, definition)
                if published is not None:  # the triggers of the newest version, registered
                    await sync_triggers(
                        connection, tenant_id, workflow_id, published["version"],
                        published["definition"],
                    )  # fmt: skip
        if published is None:  # pragma: no cover - INSERT ... SELECT of an aggregate
            raise StoreError(f"workflow {workflow_id} was not published")
        return version_row(published)

    async def get_version(
        self, workflow_id: str, version: int | None = None, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowVersion:
        with translated("get version"):
            row = await self._fetchrow(tenant_id, sql.GET_VERSION, tenant_id, workflow_id, version)
        if row is None:
            which = "any version" if version is None else f"version {version}"
            raise NotFound(f"workflow {workflow_id} has no {which}")
        return version_row(row)

    async def list_versions(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> list[WorkflowVersion]:
        with translated("list versions"):
            rows = await self._fetch(tenant_id, sql.LIST_VERSIONS, tenant_id, workflow_id)
        return [version_row(row) for row in rows]
