"""The operator's own resource models: Workflow status, WorkerPool spec and status.

The Workflow *spec* is the definition format (`tideflow.core.WorkflowSpec`); everything
here is what the operator adds. The CRDs in `deploy/crds/` are generated from these
models (`tideflow.operator.crds`), so the schema the API server enforces and the model
the operator parses cannot drift apart.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from tideflow.core import Duration

GROUP = "tideflow.io"
VERSION = "v1"
PEERING_GROUP = "kopf.dev"
"""kopf's own API group: the KopfPeering and ClusterKopfPeering objects of `peering.py`."""
SOURCE_ANNOTATION = "tideflow.io/source"
"""Set by the operator on the definitions it stores: `kubernetes:<namespace>/<name>`."""
DESCRIPTION_ANNOTATION = "tideflow.io/description"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ConditionStatus(StrEnum):
    """Kubernetes condition status values."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(_Model):
    """One `status.conditions` entry, shaped like Kubernetes' own (metav1.Condition)."""

    type: str = Field(description="Ready, Published, Scaling, ...")
    status: ConditionStatus
    reason: str = Field(description="A CamelCase code, stable across releases.")
    message: str = ""
    last_transition_time: str = Field(description="RFC 3339 time the status last changed.")
    observed_generation: int | None = None


class Problem(_Model):
    """A validation problem of the definition, as the gateway reports it."""

    code: str
    path: str
    message: str
    node: str | None = None


class LastRun(_Model):
    """The newest run of the workflow, as the gateway lists it."""

    run_id: str
    version: int
    status: str
    started_at: str | None = None
    ended_at: str | None = None


class WorkflowStatus(_Model):
    """What the operator knows about the workflow in the gateway."""

    workflow_id: str | None = Field(
        default=None, description="The gateway's workflow id (metadata.name)."
    )
    published_version: int | None = Field(
        default=None, description="The newest version published from this resource."
    )
    observed_generation: int | None = Field(
        default=None, description="metadata.generation the status describes."
    )
    problems: list[Problem] = Field(
        default_factory=list, description="Why the gateway refused the definition (if it did)."
    )
    conditions: list[Condition] = Field(default_factory=list)
    last_run: LastRun | None = None


class WorkerPoolSpec(_Model):
    """How the operator scales one executor Deployment by its task queue's lag."""

    queue: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,100}$", description="The task queue the workers consume."
    )
    deployment: str = Field(
        min_length=1,
        max_length=253,
        description="Name of the executor Deployment (same namespace) whose replicas are set.",
    )
    topic: str | None = Field(
        default=None,
        description="Task topic; default `<TIDEFLOW_KAFKA_TOPIC_PREFIX>.tasks.<queue>`.",
    )
    consumer_group: str | None = Field(
        default=None, description="Consumer group; default `tideflow-executor.<queue>`."
    )
    min_replicas: int = Field(
        default=1, ge=1, le=10_000, description="Fewest replicas while the queue has work."
    )
    max_replicas: int = Field(default=10, ge=1, le=10_000, description="Most replicas.")
    target_lag_per_replica: int = Field(
        default=100, ge=1, description="Waiting tasks one replica is expected to keep up with."
    )
    tolerance: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Hysteresis: no change while lag / (replicas * target) is within 1 +- this.",
    )
    scale_up_cooldown: Duration = Field(
        default=timedelta(seconds=30), description="Least time between two scale-ups."
    )
    scale_down_cooldown: Duration = Field(
        default=timedelta(minutes=5),
        description="Least time after any scaling before scaling down.",
    )
    max_scale_up_step: int = Field(
        default=4, ge=1, description="Most replicas added at once (bounds may add more)."
    )
    max_scale_down_step: int = Field(
        default=1, ge=1, description="Most replicas removed at once (bounds may remove more)."
    )
    scale_to_zero: bool = Field(
        default=False, description="Stop every replica once the queue stayed empty long enough."
    )
    idle_before_zero: Duration = Field(
        default=timedelta(minutes=10),
        description="How long the lag must stay zero before scaling to zero.",
    )
    paused: bool = Field(default=False, description="Read lag and report, but change nothing.")

    @model_validator(mode="after")
    def _bounds(self) -> WorkerPoolSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas ({self.min_replicas}) exceeds maxReplicas ({self.max_replicas})"
            )
        return self


class WorkerPoolStatus(_Model):
    """The last observation and decision; also the scaler's memory (cooldowns, idleness)."""

    observed_generation: int | None = None
    lag: int | None = Field(default=None, description="Consumer-group lag at the last look.")
    replicas: int | None = Field(default=None, description="spec.replicas of the Deployment.")
    desired_replicas: int | None = Field(default=None, description="The last decision.")
    reason: str | None = Field(default=None, description="Why the last decision was made.")
    last_scale_up_time: str | None = None
    last_scale_down_time: str | None = None
    idle_since: str | None = Field(default=None, description="Since when the lag has been 0.")
    last_observed_time: str | None = None
    conditions: list[Condition] = Field(default_factory=list)


def status_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of a status model, in wire (camelCase) names."""
    return model.model_json_schema(by_alias=True, mode="validation")
