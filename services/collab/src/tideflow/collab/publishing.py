"""Publishing a shared draft: validate the merged document, freeze it, say who changed what.

The order matters. The attribution (every recorded edit since the last publish) is read
first, then the room catches up with the log, so every edit attributed is in the
definition published (an edit landing in between is in the definition and attributed to
the next version). The definition is validated by the core's own validator before anything
is written; then the draft becomes it, the version is published, the audit log records the
version with its contributors and their changes, and the attribution is marked consumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tideflow.collab.changes import Change, attribute
from tideflow.collab.document import read_definition
from tideflow.collab.rooms import RoomKey, document_of
from tideflow.core import (
    BUILTIN_NODE_TYPES,
    NodeTypes,
    Problem,
    ProblemCode,
    PublishPolicy,
    policy_problems,
    reference_problems,
    validate_definition,
)
from tideflow.runtime import ApiError
from tideflow.store import AuditEntry, NotFound

if TYPE_CHECKING:
    from tideflow.auth import Principal
    from tideflow.collab.rooms import Rooms
    from tideflow.store import AuditLog

WORKFLOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass(frozen=True, slots=True)
class Published:
    version: int
    created: bool
    contributors: dict[str, list[Change]]


def problems_of(
    workflow_id: str,
    definition: dict[str, Any],
    types: NodeTypes = BUILTIN_NODE_TYPES,
    policy: PublishPolicy | None = None,
) -> list[Problem]:
    """The core's problems (with the node types of `types`: built-ins and plugins), its
    references to nodes that cannot be read where they are written, what the operator's
    publish `policy` refuses, and a name that is not this workflow's id."""
    problems = validate_definition(definition, types) + reference_problems(definition, types)
    if policy is not None:
        problems += policy_problems(definition, policy, types)
    metadata = definition.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if name != workflow_id:
        problems.append(
            Problem(
                ProblemCode.SCHEMA_ERROR,
                f"metadata.name must be the workflow id {workflow_id!r}",
                "metadata.name",
            )
        )
    return problems


def problems_detail(problems: list[Problem]) -> dict[str, Any]:
    return {
        "problems": [
            {"code": str(p.code), "path": p.path, "message": p.message}
            | ({"node": p.node} if p.node else {})
            for p in problems
        ]
    }


async def current_definition(rooms: Rooms, key: RoomKey) -> dict[str, Any]:
    """The document as the log has it (through the open room when there is one)."""
    room = rooms.get(key)
    if room is not None:
        await room.flush()
        await room.catch_up()
        return room.definition
    _, stored = await rooms.load(key)
    return read_definition(document_of(stored))


async def publish(
    *,
    rooms: Rooms,
    audit_log: AuditLog | None,
    principal: Principal,
    workflow_id: str,
    source: str | None = None,
    types: NodeTypes = BUILTIN_NODE_TYPES,
    policy: PublishPolicy | None = None,
) -> Published:
    """Publish the shared draft of `workflow_id` in the caller's tenant."""
    key = RoomKey(principal.tenant_id, workflow_id)
    tenant = principal.tenant_id
    try:
        record = await rooms.workflows.get_workflow(workflow_id, tenant_id=tenant)
    except NotFound:
        raise ApiError(404, "WORKFLOW_NOT_FOUND", f"no workflow {workflow_id!r}") from None
    if record.archived:
        raise ApiError(409, "WORKFLOW_ARCHIVED", f"workflow {workflow_id!r} is archived")
    attribution = await rooms.store.attribution(workflow_id, tenant_id=tenant)
    definition = await current_definition(rooms, key)
    problems = problems_of(workflow_id, definition, types, policy)
    if problems:
        raise ApiError(
            422,
            "INVALID_DEFINITION",
            f"the shared draft has {len(problems)} problem(s)",
            problems_detail(problems),
        )
    try:
        newest = await rooms.workflows.get_version(workflow_id, tenant_id=tenant)
    except NotFound:
        newest = None
    contributors = attribute((author, changes) for _, author, changes in attribution.entries)
    if newest is not None and newest.definition == definition:
        return Published(version=newest.version, created=False, contributors={})
    saved = await rooms.workflows.update_draft(workflow_id, definition, tenant_id=tenant)
    version = await rooms.workflows.publish(
        workflow_id, published_by=principal.subject, tenant_id=tenant
    )
    if audit_log is not None:
        await audit_log.record_audit(
            [
                AuditEntry(
                    tenant_id=tenant,
                    actor=principal.subject,
                    action="workflow.publish",
                    resource=f"workflow/{workflow_id}/versions/{version.version}",
                    source=source,
                    before=None if newest is None else newest.definition,
                    after=version.definition,
                    details={
                        "collaborative": True,
                        "sinceVersion": None if newest is None else newest.version,
                        "contributors": sorted(contributors),
                        "changes": {a: list(c) for a, c in contributors.items()},
                    },
                )
            ]
        )
    await rooms.store.mark_attributed(
        workflow_id, attribution.upto, draft_revision=saved.revision, tenant_id=tenant
    )
    return Published(version=version.version, created=True, contributors=contributors)
