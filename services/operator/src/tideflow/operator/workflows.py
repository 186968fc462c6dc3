"""Workflow resources <-> the gateway: store, publish, report; archive on delete.

A resource's spec becomes the draft of the gateway workflow named `metadata.name`, and
every change is published as a new version (publishing an unchanged draft adds nothing,
so reconciling again is harmless). The stored document carries the annotation
`tideflow.io/source: kubernetes:<namespace>/<name>`: a workflow that another resource (the
same name in another namespace) stored is left alone and the conflict is reported, while a
workflow created with the CLI or the editor is adopted.

Outcomes the operator cannot fix by retrying (an invalid definition, a conflict) are
reported in the status and not retried; outages raise `RetryLater`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tideflow.operator.conditions import with_condition
from tideflow.operator.gateway import GatewayRejected, GatewayUnavailable
from tideflow.operator.resources import SOURCE_ANNOTATION, ConditionStatus

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from tideflow.operator.gateway import GatewayClient

READY = "Ready"
PUBLISHED = "Published"


class RetryLater(Exception):  # noqa: N818 - an instruction, like kopf.TemporaryError
    """Reconciling failed for a reason that may pass (outage, credentials being fixed)."""

    def __init__(self, message: str, status: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class WorkflowResource:
    """What the operator reads from a Workflow resource."""

    namespace: str
    name: str
    generation: int | None
    spec: Mapping[str, Any]
    annotations: Mapping[str, str]
    status: Mapping[str, Any]

    @property
    def source(self) -> str:
        return f"kubernetes:{self.namespace}/{self.name}"

    def document(self) -> dict[str, Any]:
        """The definition the gateway stores: the spec, the name, Tideflow's annotations.

        Labels and other annotations (kubectl's last-applied configuration, Helm's) are
        left out: they change without the workflow changing and would publish versions.
        """
        annotations = {
            key: value
            for key, value in self.annotations.items()
            if key.startswith("tideflow.io/") and key != SOURCE_ANNOTATION
        }
        annotations[SOURCE_ANNOTATION] = self.source
        return {
            "apiVersion": "tideflow.io/v1",
            "kind": "Workflow",
            "metadata": {"name": self.name, "annotations": dict(sorted(annotations.items()))},
            "spec": dict(self.spec),
        }


def _owner(definition: Mapping[str, Any]) -> str | None:
    metadata = definition.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    owner = annotations.get(SOURCE_ANNOTATION) if isinstance(annotations, dict) else None
    return owner if isinstance(owner, str) else None


def _status(
    resource: WorkflowResource,
    now: datetime,
    *,
    ready: ConditionStatus,
    reason: str,
    message: str,
    **fields: Any,
) -> dict[str, Any]:
    conditions = with_condition(
        resource.status.get("conditions"),
        type_=READY,
        status=ready,
        reason=reason,
        message=message,
        now=now,
        generation=resource.generation,
    )
    if "published_version" in fields:
        conditions = with_condition(
            conditions,
            type_=PUBLISHED,
            status=ConditionStatus.TRUE,
            reason=reason,
            message=message,
            now=now,
            generation=resource.generation,
        )
    status: dict[str, Any] = {
        "workflowId": resource.name,
        "observedGeneration": resource.generation,
        "conditions": conditions,
    }
    if "published_version" in fields:
        status["publishedVersion"] = fields["published_version"]
    status["problems"] = fields.get("problems", [])
    return status


async def reconcile(
    gateway: GatewayClient, resource: WorkflowResource, now: datetime
) -> dict[str, Any]:
    """Store and publish the resource's definition; the status to write."""
    document = resource.document()
    try:
        existing = await gateway.get_workflow(resource.name)
        if existing is not None:
            owner = _owner(existing.get("definition") or {})
            if owner is not None and owner != resource.source:
                return _status(
                    resource,
                    now,
                    ready=ConditionStatus.FALSE,
                    reason="OwnedElsewhere",
                    message=f"workflow {resource.name!r} is managed by {owner}; rename this one",
                )
            if existing.get("archived"):
                await gateway.restore(resource.name)
            if existing.get("definition") != document:
                await gateway.replace_draft(resource.name, document)
        else:
            await gateway.create(document)
        published = await gateway.publish(resource.name)
    except GatewayUnavailable as e:
        raise RetryLater(
            str(e),
            _status(
                resource, now, ready=ConditionStatus.FALSE, reason="GatewayUnavailable",
                message=str(e),
            ),
        ) from e  # fmt: skip
    except GatewayRejected as e:
        return _rejected(resource, now, e)
    verb = "published" if published.created else "unchanged: still"
    return _status(
        resource,
        now,
        ready=ConditionStatus.TRUE,
        reason="Published",
        message=f"{verb} version {published.version}",
        published_version=published.version,
    )


def _rejected(resource: WorkflowResource, now: datetime, error: GatewayRejected) -> dict[str, Any]:
    if error.code == "INVALID_DEFINITION":
        problems = (error.details or {}).get("problems", [])
        return _status(
            resource,
            now,
            ready=ConditionStatus.FALSE,
            reason="InvalidDefinition",
            message=f"{len(problems)} problem(s): "
            + "; ".join(f"{p.get('path')}: {p.get('message')}" for p in problems[:5]),
            problems=[
                {k: p[k] for k in ("code", "path", "message", "node") if p.get(k) is not None}
                for p in problems
            ],
        )
    if error.status in {401, 403}:  # credentials may be fixed without touching the resource
        raise RetryLater(
            str(error),
            _status(
                resource, now, ready=ConditionStatus.FALSE, reason=error.code,
                message=error.message,
            ),
        )  # fmt: skip
    return _status(
        resource, now, ready=ConditionStatus.FALSE, reason=error.code, message=error.message
    )


async def archive(gateway: GatewayClient, resource: WorkflowResource) -> str:
    """Archive the workflow this resource stored; what happened, for the log."""
    try:
        existing = await gateway.get_workflow(resource.name)
        if existing is None:
            return "nothing to archive"
        owner = _owner(existing.get("definition") or {})
        if owner is not None and owner != resource.source:
            return f"left alone: managed by {owner}"
        if existing.get("archived"):
            return "already archived"
        await gateway.archive(resource.name)
    except GatewayUnavailable as e:
        raise RetryLater(str(e), {}) from e
    except GatewayRejected as e:
        if e.status in {401, 403}:
            raise RetryLater(str(e), {}) from e
        return f"not archived: {e}"
    return "archived"


async def last_run(gateway: GatewayClient, resource: WorkflowResource) -> dict[str, Any] | None:
    """`status.lastRun` from the gateway's newest run of the workflow (None: no runs)."""
    try:
        run = await gateway.last_run(resource.name)
    except (GatewayUnavailable, GatewayRejected):
        return None
    if run is None:
        return None
    return {
        key: run[key]
        for key in ("runId", "version", "status", "startedAt", "endedAt")
        if run.get(key) is not None
    }
