"""Parsed workflow versions, kept per (tenant, workflow, version) for starting runs.

A published version never changes, so its definition is parsed and validated once per
process instead of on every start: the JSON Schema checks of `parse_definition` (~0.8 ms)
were the largest single cost of `POST /workflows/{id}/runs`. The cache is bounded (least
recently used versions are dropped) and holds only definitions the core accepted.
"""

from __future__ import annotations

from collections import OrderedDict

from tideflow.core import BUILTIN_NODE_TYPES, NodeTypes, WorkflowDefinition, parse_definition
from tideflow.store import WorkflowVersion

VersionKey = tuple[str, str, int]


class VersionCache:
    """Bounded LRU of parsed versions; `parse` raises `DefinitionError` like the core."""

    def __init__(self, capacity: int = 1024, types: NodeTypes = BUILTIN_NODE_TYPES) -> None:
        self._capacity = capacity
        self._types = types
        self._entries: OrderedDict[VersionKey, WorkflowDefinition] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def parse(self, tenant_id: str, version: WorkflowVersion) -> WorkflowDefinition:
        key = (tenant_id, version.workflow_id, version.version)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        parsed = parse_definition(version.definition, self._types)
        self._entries[key] = parsed
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return parsed
