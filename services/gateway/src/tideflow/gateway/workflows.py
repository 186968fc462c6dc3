"""Workflow definitions and versions: create, edit the draft, publish, roll back, start.

A definition is validated with the core before anything is stored, and every problem is
reported at once (code, path, message), so an editor can underline all of them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status

from tideflow.core import (
    BUILTIN_NODE_TYPES,
    NodeTypes,
    Problem,
    ProblemCode,
    PublishPolicy,
    parse_definition,
    policy_problems,
    reference_problems,
    validate_definition,
)
from tideflow.gateway import schemas, views
from tideflow.gateway.auth import Principal, Role
from tideflow.gateway.budget import ValueBudget
from tideflow.gateway.cursors import decode_key_cursor, encode
from tideflow.gateway.deps import PrincipalDep, Services, ServicesDep
from tideflow.gateway.errors import ApiError, ErrorCode
from tideflow.gateway.limits import check_definition
from tideflow.gateway.safety import reject_nul
from tideflow.gateway.starting import problems_detail, start_run
from tideflow.store import AlreadyExists, Immutable, NotFound, WorkflowRecord, WorkflowVersion

router = APIRouter(prefix="/workflows", tags=["workflows"])

WorkflowId = Annotated[str, Path(pattern=schemas.WORKFLOW_ID_PATTERN)]
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
DefinitionBody = Annotated[
    dict[str, Any],
    Body(
        description="A workflow definition (apiVersion, kind, metadata.name, spec); "
        "see docs/workflows.md.",
        examples=[
            {
                "apiVersion": "tideflow.io/v1",
                "kind": "Workflow",
                "metadata": {"name": "hello"},
                "spec": {"nodes": [{"id": "greet", "type": "log", "config": {"message": "hi"}}]},
            }
        ],
    ),
]
_ID_RE = re.compile(schemas.WORKFLOW_ID_PATTERN)


def definition_problems(
    document: dict[str, Any],
    types: NodeTypes = BUILTIN_NODE_TYPES,
    policy: PublishPolicy | None = None,
) -> list[Problem]:
    """Every problem of a definition, its references to nodes that cannot be read where they
    are written, the workflow id's format and what the operator's publish `policy` refuses
    included (empty: valid)."""
    reject_nul(document, "body")
    problems = validate_definition(document, types) + reference_problems(document, types)
    if policy is not None:
        problems += policy_problems(document, policy, types)
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if isinstance(name, str) and name and not _ID_RE.fullmatch(name):
        problems.append(
            Problem(
                ProblemCode.SCHEMA_ERROR,
                "metadata.name is the workflow id: letters, digits, '.', '_' and '-', "
                "starting with a letter or digit, at most 200 characters",
                "metadata.name",
            )
        )
    return problems


def publish_policy(services: Services) -> PublishPolicy:
    """What the operator's settings refuse in a definition the workers would run."""
    egress = services.settings.egress
    return PublishPolicy(
        tuple(egress.aws_endpoint_hosts),
        egress.aws_endpoint_allowed,
        topic_prefix=services.settings.kafka.topic_prefix,
    )


def _refuse(problems: list[Problem]) -> ApiError:
    return ApiError(
        422,
        ErrorCode.INVALID_DEFINITION,
        f"the definition has {len(problems)} problem(s)",
        problems_detail(problems),
    )


def _validated(services: Services, document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The workflow id and the normalized definition, or 413/422 with every problem."""
    check_definition(document, services.settings.limits)
    types = services.node_types.types
    problems = definition_problems(document, types, publish_policy(services))
    if problems:
        raise _refuse(problems)
    # stored as written (key order, no defaults filled in): what the author sees again
    return parse_definition(document, types).metadata.name, document


async def _latest(services: Services, record: WorkflowRecord) -> int | None:
    try:
        version = await services.store.get_version(record.workflow_id, tenant_id=record.tenant_id)
    except NotFound:
        return None
    return version.version


async def _workflow(services: Services, principal: Principal, workflow_id: str) -> WorkflowRecord:
    try:
        return await services.store.get_workflow(workflow_id, tenant_id=principal.tenant_id)
    except NotFound:
        raise ApiError(404, ErrorCode.WORKFLOW_NOT_FOUND, f"no workflow {workflow_id!r}") from None


def _archived(workflow_id: str) -> ApiError:
    return ApiError(
        409,
        ErrorCode.WORKFLOW_ARCHIVED,
        f"workflow {workflow_id!r} is archived; restore it first",
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.Workflow)
async def create_workflow(
    document: DefinitionBody, services: ServicesDep, principal: PrincipalDep
) -> schemas.Workflow:
    """Create a workflow; its id is `metadata.name`, unique per tenant."""
    principal.require(Role.EDITOR)
    workflow_id, definition = _validated(services, document)
    try:
        record = await services.store.create_workflow(
            workflow_id, workflow_id, definition, tenant_id=principal.tenant_id
        )
    except AlreadyExists:
        raise ApiError(
            409,
            ErrorCode.WORKFLOW_EXISTS,
            f"workflow {workflow_id!r} exists; PUT /workflows/{workflow_id} replaces its draft",
        ) from None
    return views.workflow_view(record, None)


@router.get("", response_model=schemas.Page[schemas.WorkflowSummary])
async def list_workflows(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    include_archived: Annotated[bool, Query(alias="includeArchived")] = False,
) -> schemas.Page[schemas.WorkflowSummary]:
    """Workflows ordered by id."""
    principal.require(Role.VIEWER)
    after = decode_key_cursor(cursor) if cursor else None
    records = await services.store.list_workflows(
        tenant_id=principal.tenant_id, include_archived=include_archived
    )
    remaining = [r for r in records if after is None or r.workflow_id > after]
    page = remaining[:limit]
    items = [views.workflow_summary(r, await _latest(services, r)) for r in page]
    more = len(remaining) > limit
    return schemas.Page[schemas.WorkflowSummary](
        items=items, next_cursor=encode(page[-1].workflow_id) if more and page else None
    )


@router.get("/{workflow_id}", response_model=schemas.Workflow)
async def get_workflow(
    workflow_id: WorkflowId, services: ServicesDep, principal: PrincipalDep
) -> schemas.Workflow:
    """The draft and the newest published version number."""
    principal.require(Role.VIEWER)
    record = await _workflow(services, principal, workflow_id)
    return views.workflow_view(record, await _latest(services, record))


@router.put("/{workflow_id}", response_model=schemas.Workflow)
async def replace_draft(
    workflow_id: WorkflowId,
    document: DefinitionBody,
    services: ServicesDep,
    principal: PrincipalDep,
) -> schemas.Workflow:
    """Replace the draft; `metadata.name` must be the workflow id."""
    await _workflow(services, principal, workflow_id)  # 404 before 403
    principal.require(Role.EDITOR)
    name, definition = _validated(services, document)
    if name != workflow_id:
        raise ApiError(
            422,
            ErrorCode.NAME_MISMATCH,
            f"metadata.name {name!r} does not match the workflow id {workflow_id!r}",
        )
    try:
        record = await services.store.update_draft(
            workflow_id, definition, tenant_id=principal.tenant_id
        )
    except NotFound:
        raise ApiError(404, ErrorCode.WORKFLOW_NOT_FOUND, f"no workflow {workflow_id!r}") from None
    except Immutable:
        raise _archived(workflow_id) from None
    return views.workflow_view(record, await _latest(services, record))


@router.delete("/{workflow_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def archive_workflow(
    workflow_id: WorkflowId, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Archive: hidden from the list, no new runs; its versions and runs stay readable."""
    await _workflow(services, principal, workflow_id)  # 404 before 403
    principal.require(Role.EDITOR)
    try:
        await services.store.set_archived(workflow_id, archived=True, tenant_id=principal.tenant_id)
    except NotFound:
        raise ApiError(404, ErrorCode.WORKFLOW_NOT_FOUND, f"no workflow {workflow_id!r}") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{workflow_id}/restore", response_model=schemas.Workflow)
async def restore_workflow(
    workflow_id: WorkflowId, services: ServicesDep, principal: PrincipalDep
) -> schemas.Workflow:
    """Undo an archive."""
    await _workflow(services, principal, workflow_id)  # 404 before 403
    principal.require(Role.EDITOR)
    try:
        record = await services.store.set_archived(
            workflow_id, archived=False, tenant_id=principal.tenant_id
        )
    except NotFound:
        raise ApiError(404, ErrorCode.WORKFLOW_NOT_FOUND, f"no workflow {workflow_id!r}") from None
    return views.workflow_view(record, await _latest(services, record))


@router.post(
    "/{workflow_id}/publish",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Published,
    responses={200: {"model": schemas.Published, "description": "Unchanged: the newest."}},
)
async def publish(
    workflow_id: WorkflowId, services: ServicesDep, principal: PrincipalDep, response: Response
) -> schemas.Published:
    """Freeze the current draft as the next immutable version.

    A draft equal to the newest version adds nothing: that version is returned with
    `created: false` (200), so applying and publishing an unchanged file is idempotent.
    """
    record = await _workflow(services, principal, workflow_id)  # 404 before 403
    principal.require(Role.EDITOR)
    if record.archived:
        raise _archived(workflow_id)
    try:
        newest = await services.store.get_version(workflow_id, tenant_id=principal.tenant_id)
    except NotFound:
        newest = None
    if newest is not None and newest.definition == record.draft:
        response.status_code = status.HTTP_200_OK
        return schemas.Published(workflow_id=workflow_id, version=newest.version, created=False)
    # the draft was checked when saved; the operator's policy may have changed since, and
    # a draft saved before references to nodes were checked may read one it cannot
    types = services.node_types.types
    refused = reference_problems(record.draft, types)
    refused += policy_problems(record.draft, publish_policy(services), types)
    if refused:
        raise _refuse(refused)
    try:
        version = await services.store.publish(
            workflow_id, published_by=principal.subject, tenant_id=principal.tenant_id
        )
    except NotFound:
        raise ApiError(404, ErrorCode.WORKFLOW_NOT_FOUND, f"no workflow {workflow_id!r}") from None
    except Immutable:
        raise _archived(workflow_id) from None
    await services.security.audit(
        principal,
        "workflow.publish",
        f"workflow/{workflow_id}/versions/{version.version}",
        before=None if newest is None else newest.definition,
        after=version.definition,
    )
    return schemas.Published(workflow_id=workflow_id, version=version.version)


@router.get("/{workflow_id}/versions", response_model=schemas.VersionList)
async def list_versions(
    workflow_id: WorkflowId,
    services: ServicesDep,
    principal: PrincipalDep,
    definitions: Annotated[bool, Query(description="Include each version's definition.")] = False,
) -> schemas.VersionList:
    """Every published version, newest first."""
    principal.require(Role.VIEWER)
    await _workflow(services, principal, workflow_id)
    versions = await services.store.list_versions(workflow_id, tenant_id=principal.tenant_id)
    return schemas.VersionList(
        items=[views.version_view(v, definition=definitions) for v in reversed(versions)]
    )


@router.get("/{workflow_id}/versions/{version}", response_model=schemas.WorkflowVersion)
async def get_version(
    workflow_id: WorkflowId, version: VersionNumber, services: ServicesDep, principal: PrincipalDep
) -> schemas.WorkflowVersion:
    """One published version with its definition."""
    principal.require(Role.VIEWER)
    await _workflow(services, principal, workflow_id)
    found = await _version(services, principal, workflow_id, version)
    return views.version_view(found, definition=True)


async def _version(
    services: Services, principal: Principal, workflow_id: str, version: int
) -> WorkflowVersion:
    """One published version of the caller's tenant; 404 VERSION_NOT_FOUND."""
    try:
        return await services.store.get_version(workflow_id, version, tenant_id=principal.tenant_id)
    except NotFound:
        raise _version_not_found(workflow_id, version) from None


def _version_not_found(workflow_id: str, version: int) -> ApiError:
    return ApiError(
        404, ErrorCode.VERSION_NOT_FOUND, f"workflow {workflow_id!r} has no version {version}"
    )


@router.post(
    "/{workflow_id}/versions/{version}/rollback",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Published,
)
async def rollback(
    workflow_id: WorkflowId, version: VersionNumber, services: ServicesDep, principal: PrincipalDep
) -> schemas.Published:
    """Publish an older version's definition again as the newest version.

    The draft becomes that definition too, so the next publish does not undo the rollback.
    The operator's publish policy of now applies, as to any publish: a version published
    before the policy narrowed is not made the newest again.
    """
    record = await _workflow(services, principal, workflow_id)  # 404 before 403
    principal.require(Role.EDITOR)
    if record.archived:
        raise _archived(workflow_id)
    try:
        newest = await services.store.get_version(workflow_id, tenant_id=principal.tenant_id)
    except NotFound:
        newest = None
    target = await _version(services, principal, workflow_id, version)
    refused = policy_problems(
        target.definition, publish_policy(services), services.node_types.types
    )
    if refused:
        raise _refuse(refused)
    try:
        published = await services.store.rollback(
            workflow_id, version, published_by=principal.subject, tenant_id=principal.tenant_id
        )
    except NotFound:
        raise _version_not_found(workflow_id, version) from None
    except Immutable:
        raise _archived(workflow_id) from None
    await services.security.audit(
        principal,
        "workflow.rollback",
        f"workflow/{workflow_id}/versions/{published.version}",
        before=None if newest is None else newest.definition,
        after=published.definition,
        details={"rolledBackTo": version},
    )
    return schemas.Published(workflow_id=workflow_id, version=published.version)


@router.post(
    "/{workflow_id}/runs",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Run,
    responses={200: {"model": schemas.Run, "description": "An earlier run with the same key."}},
)
async def start_workflow_run(
    workflow_id: WorkflowId,
    body: schemas.StartRunBody,
    services: ServicesDep,
    principal: PrincipalDep,
    response: Response,
) -> schemas.Run:
    """Start a run of the newest published version (or the pinned `version`)."""
    started = await start_run(
        services,
        principal,
        workflow_id,
        input_value=body.input,
        version=body.version,
        idempotency_key=body.idempotency_key,
    )
    if started.created:
        return views.run_view(
            started.run, [], ValueBudget(services.settings.limits)
        )  # just recorded: no step has run yet
    response.status_code = status.HTTP_200_OK
    over = ValueBudget.preview_over(services.settings.limits)
    steps = await services.store.get_steps(
        started.run.run_id, tenant_id=principal.tenant_id, preview_over=over
    )
    return views.run_view(started.run, steps, ValueBudget(services.settings.limits))
