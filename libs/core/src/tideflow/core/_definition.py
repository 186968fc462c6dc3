"""The workflow definition format (DESIGN.md section 2) as pydantic models.

Wire names are camelCase like Kubernetes resources and the web UI; Python names are
snake_case. `config` stays a plain mapping here because each node type validates its own
config (see `tideflow.core.nodes`), which keeps adding a node type a one-module change.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from tideflow.core._durations import Duration, parse_duration
from tideflow.core._triggers import Trigger
from tideflow.core._yaml import load_yaml

API_VERSION = "tideflow.io/v1"
NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"


class WireModel(BaseModel):
    """Base of every definition model: camelCase on the wire, immutable, strict on typos."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


class Join(StrEnum):
    """How a node with several incoming edges waits: for every live branch, or the first."""

    ALL = "all"
    ANY = "any"


class RetryPolicy(WireModel):
    """Exponential backoff for dispatched steps; `max_attempts` counts the first attempt."""

    max_attempts: int = 3
    initial_interval: Duration = parse_duration("1s")
    backoff_coefficient: float = 2.0
    max_interval: Duration = parse_duration("1m")
    non_retryable: tuple[str, ...] = ()


class NodeSpec(WireModel):
    """One node of the graph; `config` is validated by the node type's own model."""

    id: str
    type: str
    name: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout: Duration | None = None
    schedule_to_start_timeout: Duration | None = None
    """How long a dispatched attempt may wait for a worker (default: the run's limits)."""
    queue: str = "default"
    compensate: str | None = None
    join: Join = Join.ALL
    idempotency_key: str | None = None
    ui: dict[str, Any] | None = None


class EdgeSpec(WireModel):
    """A dependency; `when` selects the branch of a condition or switch source."""

    from_: str = Field(alias="from")
    to: str
    when: str | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _when_as_text(cls, value: Any) -> Any:
        """YAML reads `when: true` as a bool and `when: 3` as an int; branches compare text."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return value


class Metadata(BaseModel):
    """Kubernetes-style metadata; unknown keys are kept for tools that add their own."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="allow"
    )

    name: str = Field(min_length=1, max_length=253)
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class WorkflowSpec(WireModel):
    """The graph, its input schema, initial variables, output template and triggers."""

    triggers: tuple[Trigger, ...] | None = None
    input: dict[str, Any] | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    nodes: tuple[NodeSpec, ...] = Field(min_length=1)
    edges: tuple[EdgeSpec, ...] = ()
    output: Any = None


class WorkflowDefinition(WireModel):
    """A complete workflow document, the same in the API, files, CLI and the CRD."""

    api_version: Literal["tideflow.io/v1"] = "tideflow.io/v1"
    kind: Literal["Workflow"] = "Workflow"
    metadata: Metadata
    spec: WorkflowSpec

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready camelCase form, as stored and sent over the wire."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def node(self, node_id: str) -> NodeSpec:
        """The node with this id (KeyError if absent)."""
        for node in self.spec.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)


def load_document(text_or_mapping: str | bytes | dict[str, Any]) -> Any:
    """Read YAML or JSON text (JSON is YAML) into plain data; a mapping passes through.

    Raises ValueError with a readable message when the text is not YAML.
    """
    if isinstance(text_or_mapping, dict):
        return text_or_mapping
    text = (
        text_or_mapping.decode("utf-8") if isinstance(text_or_mapping, bytes) else text_or_mapping
    )
    try:
        return json.loads(text)
    except ValueError:
        pass
    except RecursionError:  # the parsers recurse per level: thousands of levels end here
        raise ValueError("not readable: nested too deeply") from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML or JSON: {exc}") from exc
    except RecursionError:
        raise ValueError("not readable: nested too deeply") from None
