"""What an editor needs to know about definitions: the node types and live validation.

The builder renders its palette and property panels from `GET /node-types` (each type's
config JSON Schema comes from the core's own pydantic model, so the form and the validator
never disagree), and validates drafts as they are drawn with `POST /definitions/validate`,
which runs exactly the checks `POST /workflows` runs, without storing anything.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from tideflow.core import NodeSpec
from tideflow.core.nodes import NODE_TYPES
from tideflow.gateway import schemas
from tideflow.gateway.auth import Role
from tideflow.gateway.deps import PrincipalDep, ServicesDep
from tideflow.gateway.limits import check_definition
from tideflow.gateway.workflows import definition_problems

router = APIRouter(tags=["workflows"])


def _node_types() -> schemas.NodeTypeList:
    items = [
        schemas.NodeTypeInfo(
            type=name,
            description=node_type.description,
            execution=str(node_type.execution),
            branches=node_type.branches,
            when_values=sorted(node_type.when_values()) if node_type.when_values else None,
            config_schema=node_type.config_model.model_json_schema(by_alias=True),
        )
        for name, node_type in NODE_TYPES.items()
    ]
    return schemas.NodeTypeList(items=items, node_schema=NodeSpec.model_json_schema(by_alias=True))


_CATALOG = _node_types()


@router.get("/node-types", response_model=schemas.NodeTypeList)
async def list_node_types(principal: PrincipalDep) -> schemas.NodeTypeList:
    """Every node type with its config JSON Schema, and the schema of a node's common fields."""
    principal.require(Role.VIEWER)
    return _CATALOG


@router.post("/definitions/validate", response_model=schemas.ValidationResult)
async def validate(
    services: ServicesDep,
    principal: PrincipalDep,
    document: Annotated[dict[str, Any], Body(description="A workflow definition to check.")],
) -> schemas.ValidationResult:
    """Every problem of a definition (as `POST /workflows` would report them), storing nothing."""
    principal.require(Role.VIEWER)
    check_definition(document, services.settings.limits)
    problems = definition_problems(document)
    return schemas.ValidationResult(
        valid=not problems,
        problems=[
            schemas.ProblemView(code=str(p.code), path=p.path, message=p.message) for p in problems
        ],
    )
