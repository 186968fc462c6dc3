"""Published workflow versions, cached: they are immutable, so a cache entry never goes stale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.core import WorkflowDefinition, parse_definition

if TYPE_CHECKING:
    from tideflow.store import WorkflowStore


class Definitions:
    """(tenant, workflow, version) -> parsed definition; version 0 means the newest."""

    def __init__(self, *, store: WorkflowStore) -> None:
        self._store = store
        self._cache: dict[tuple[str, str, int], WorkflowDefinition] = {}

    async def get(
        self, tenant_id: str, workflow: str, version: int
    ) -> tuple[int, WorkflowDefinition]:
        """The version number actually used and its definition; NotFound when absent."""
        if version > 0 and (tenant_id, workflow, version) in self._cache:
            return version, self._cache[(tenant_id, workflow, version)]
        record = await self._store.get_version(
            workflow, version if version > 0 else None, tenant_id=tenant_id
        )
        definition = parse_definition(record.definition)
        self._cache[(tenant_id, workflow, record.version)] = definition
        return record.version, definition
