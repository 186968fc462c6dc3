"""What an editor needs to know about definitions: the node types and live validation.

The builder renders its palette and property panels from `GET /node-types` (each type's
config JSON Schema comes from the core's own pydantic model, so the form and the validator
never disagree), and validates drafts as they are drawn with `POST /definitions/validate`,
which runs exactly the checks `POST /workflows` runs, without storing anything.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Body

from tideflow.core import Execution, NodeSpec
from tideflow.gateway import schemas
from tideflow.gateway.auth import Role
from tideflow.gateway.deps import PrincipalDep, ServicesDep
from tideflow.gateway.limits import check_definition
from tideflow.gateway.workflows import definition_problems, publish_policy
from tideflow.plugins import NodeTypeRegistry

router = APIRouter(tags=["workflows"])


@functools.cache  # a registry never changes: its listing is built once
def node_type_list(registry: NodeTypeRegistry) -> schemas.NodeTypeList:
    """The listing of a registry: every type (built-ins first), and the plugins that failed."""
    items = [
        schemas.NodeTypeInfo(
            type=name,
            description=node_type.description,
            execution=str(node_type.execution),
            runs="inline" if node_type.execution is Execution.INLINE else (
                "worker" if node_type.execution is Execution.DISPATCH else "scheduler"
            ),
            branches=node_type.branches,
            when_values=sorted(node_type.when_values()) if node_type.when_values else None,
            config_schema=node_type.json_schema(),
            output_schema=dict(node_type.output_schema) if node_type.output_schema else None,
            title=node_type.title or name,
            category=node_type.category or "core",
            icon=node_type.icon,
            source=node_type.source,
        )
        for name, node_type in registry.types.items()
    ]  # fmt: skip
    failures = [
        schemas.PluginFailureInfo(
            entry_point=f.entry_point, source=f.source, node_type=f.node_type, error=f.error
        )
        for f in registry.failures
    ]
    return schemas.NodeTypeList(
        items=items, node_schema=NodeSpec.model_json_schema(by_alias=True), failures=failures
    )


@router.get("/node-types", response_model=schemas.NodeTypeList)
async def list_node_types(services: ServicesDep, principal: PrincipalDep) -> schemas.NodeTypeList:
    """Every node type (built-in and from plugins) with its config JSON Schema, the schema
    of a node's common fields, and the plugins that failed to load."""
    principal.require(Role.VIEWER)
    return node_type_list(services.node_types)


@router.post("/definitions/validate", response_model=schemas.ValidationResult)
async def validate(
    services: ServicesDep,
    principal: PrincipalDep,
    document: Annotated[dict[str, Any], Body(description="A workflow definition to check.")],
) -> schemas.ValidationResult:
    """Every problem of a definition (as `POST /workflows` would report them), storing nothing."""
    principal.require(Role.VIEWER)
    check_definition(document, services.settings.limits)
    problems = definition_problems(document, services.node_types.types, publish_policy(services))
    return schemas.ValidationResult(
        valid=not problems,
        problems=[
            schemas.ProblemView(code=str(p.code), path=p.path, message=p.message, node=p.node)
            for p in problems
        ],
    )
