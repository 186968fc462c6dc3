"""Published workflow versions, cached: they are immutable, so a cache entry never goes stale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.core import BUILTIN_NODE_TYPES, PinnedDefinition, parse_definition

if TYPE_CHECKING:
    from tideflow.core import NodeTypes
    from tideflow.store import WorkflowStore


class Definitions:
    """(tenant, workflow, version) -> pinned definition; version 0 means the newest.

    A `PinnedDefinition` is validated and serialised once per version, and every run of
    the version shares it (through its own `RunContext`).
    """

    def __init__(self, *, store: WorkflowStore, types: NodeTypes = BUILTIN_NODE_TYPES) -> None:
        self._store = store
        self._types = types
        self._cache: dict[tuple[str, str, int], PinnedDefinition] = {}

    async def get(
        self, tenant_id: str, workflow: str, version: int
    ) -> tuple[int, PinnedDefinition]:
        """The version number actually used and its definition; NotFound when absent."""
        if version > 0 and (tenant_id, workflow, version) in self._cache:
            return version, self._cache[(tenant_id, workflow, version)]
        record = await self._store.get_version(
            workflow, version if version > 0 else None, tenant_id=tenant_id
        )
        key = (tenant_id, workflow, record.version)
        pinned = self._cache.get(key)
        if pinned is None:
            pinned = PinnedDefinition.published(
                parse_definition(record.definition, self._types), self._types
            )
            self._cache[key] = pinned
        return record.version, pinned
