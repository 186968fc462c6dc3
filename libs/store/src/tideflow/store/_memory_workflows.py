"""Workflow drafts and immutable published versions in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import orjson

from tideflow.store._errors import AlreadyExists, ConcurrencyConflict, Immutable, NotFound
from tideflow.store._records import DEFAULT_TENANT, JSONObject, WorkflowRecord, WorkflowVersion


def _copy(value: JSONObject) -> JSONObject:
    copied: JSONObject = orjson.loads(orjson.dumps(value))
    return copied


class InMemoryWorkflows:
    """The workflow half of `InMemoryEventStore`."""

    def __init__(self) -> None:
        self._workflows: dict[tuple[str, str], WorkflowRecord] = {}
        self._versions: dict[tuple[str, str], list[WorkflowVersion]] = {}

    def _workflow(self, tenant_id: str, workflow_id: str) -> WorkflowRecord:
        try:
            return self._workflows[tenant_id, workflow_id]
        except KeyError:
            raise NotFound(f"workflow {workflow_id} not found") from None

    async def create_workflow(
        self, workflow_id: str, name: str, draft: JSONObject, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowRecord:
        if (tenant_id, workflow_id) in self._workflows:
            raise AlreadyExists(f"workflow {workflow_id} exists")
        now = datetime.now(UTC)
        record = WorkflowRecord(
            workflow_id=workflow_id,
            name=name,
            draft=_copy(draft),
            revision=1,
            archived=False,
            created_at=now,
            updated_at=now,
            tenant_id=tenant_id,
        )
        self._workflows[tenant_id, workflow_id] = record
        return replace(record, draft=_copy(record.draft))

    async def get_workflow(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowRecord:
        record = self._workflow(tenant_id, workflow_id)
        return replace(record, draft=_copy(record.draft))

    async def list_workflows(
        self, *, tenant_id: str = DEFAULT_TENANT, include_archived: bool = False
    ) -> list[WorkflowRecord]:
        return [
            replace(w, draft=_copy(w.draft))
            for (tenant, _), w in sorted(self._workflows.items())
            if tenant == tenant_id and (include_archived or not w.archived)
        ]

    async def update_draft(
        self,
        workflow_id: str,
        draft: JSONObject,
        *,
        name: str | None = None,
        expected_revision: int | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> WorkflowRecord:
        current = self._workflow(tenant_id, workflow_id)
        if current.archived:
            raise Immutable(f"workflow {workflow_id} is archived")
        if expected_revision is not None and current.revision != expected_revision:
            raise ConcurrencyConflict(
                message=f"workflow {workflow_id} is at revision {current.revision}, "
                f"not {expected_revision}"
            )
        if orjson.dumps(current.draft) == orjson.dumps(draft) and name in (None, current.name):
            return replace(current, draft=_copy(current.draft))  # unchanged: nothing written
        updated = replace(
            current,
            draft=_copy(draft),
            name=current.name if name is None else name,
            revision=current.revision + 1,
            updated_at=datetime.now(UTC),
        )
        self._workflows[tenant_id, workflow_id] = updated
        return replace(updated, draft=_copy(updated.draft))

    async def set_archived(
        self, workflow_id: str, archived: bool, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowRecord:
        current = self._workflow(tenant_id, workflow_id)
        updated = replace(current, archived=archived, updated_at=datetime.now(UTC))
        self._workflows[tenant_id, workflow_id] = updated
        return replace(updated, draft=_copy(updated.draft))

    async def publish(
        self,
        workflow_id: str,
        *,
        definition: JSONObject | None = None,
        published_by: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> WorkflowVersion:
        current = self._workflow(tenant_id, workflow_id)
        return self._publish(
            current, current.draft if definition is None else definition, published_by, None
        )

    async def rollback(
        self,
        workflow_id: str,
        version: int,
        *,
        published_by: str | None = None,
        tenant_id: str = DEFAULT_TENANT,
    ) -> WorkflowVersion:
        current = self._workflow(tenant_id, workflow_id)
        if current.archived:
            raise Immutable(f"workflow {workflow_id} is archived")
        source = await self.get_version(workflow_id, version, tenant_id=tenant_id)
        published = self._publish(current, source.definition, published_by, version)
        # the draft follows a rollback, or the next publish would undo it
        self._workflows[tenant_id, workflow_id] = replace(
            current,
            draft=_copy(source.definition),
            revision=current.revision + 1,
            updated_at=datetime.now(UTC),
        )
        return published

    def _publish(
        self,
        workflow: WorkflowRecord,
        definition: JSONObject,
        published_by: str | None,
        source_version: int | None,
    ) -> WorkflowVersion:
        if workflow.archived:
            raise Immutable(f"workflow {workflow.workflow_id} is archived")
        versions = self._versions.setdefault((workflow.tenant_id, workflow.workflow_id), [])
        published = WorkflowVersion(
            workflow_id=workflow.workflow_id,
            version=len(versions) + 1,
            definition=_copy(definition),
            published_at=datetime.now(UTC),
            published_by=published_by,
            source_version=source_version,
            tenant_id=workflow.tenant_id,
        )
        versions.append(published)
        return replace(published, definition=_copy(published.definition))

    async def get_version(
        self, workflow_id: str, version: int | None = None, *, tenant_id: str = DEFAULT_TENANT
    ) -> WorkflowVersion:
        versions = self._versions.get((tenant_id, workflow_id), [])
        if version is None and versions:
            found = versions[-1]
        elif version is not None and 1 <= version <= len(versions):
            found = versions[version - 1]
        else:
            which = "any version" if version is None else f"version {version}"
            raise NotFound(f"workflow {workflow_id} has no {which}")
        return replace(found, definition=_copy(found.definition))

    async def list_versions(
        self, workflow_id: str, *, tenant_id: str = DEFAULT_TENANT
    ) -> list[WorkflowVersion]:
        return [
            replace(v, definition=_copy(v.definition))
            for v in self._versions.get((tenant_id, workflow_id), [])
        ]
