"""What a node type declares: its config model, how it executes, where its expressions are.

The state machine never switches on a type name; it asks the node type. That is what
keeps a new type to one module plus one line in `tideflow.core.nodes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from tideflow.core._cel import Scope
from tideflow.core._templates import Path, iter_expressions

if TYPE_CHECKING:
    from tideflow.core._errors import Problem
    from tideflow.core._policy import PublishPolicy


class Execution(StrEnum):
    """Who carries out a step of this type."""

    INLINE = "inline"
    """Evaluated inside `decide`; never travels to a worker."""
    DISPATCH = "dispatch"
    """Sent to a worker on the node's task queue; the result comes back as a command."""
    TIMER = "timer"
    """A durable timer owned by the scheduler."""
    SIGNAL = "signal"
    """Waits for a named signal sent to the run."""
    APPROVAL = "approval"
    """Waits for a human decision."""
    FOREACH = "foreach"
    """Runs an inline node spec once per item, with bounded concurrency."""
    CHILD = "child"
    """Starts a child run and waits for its result."""
    AGENT = "agent"
    """A durable model/tool loop: each model call and each tool call is a step of its own."""


class NodeConfig(BaseModel):
    """Base of config models: camelCase keys, typos rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid"
    )


@dataclass(frozen=True, slots=True)
class ExpressionSite:
    """Where an expression lives in a config, and which variables it may read."""

    path: Path
    source: str
    scope: Scope
    template: str | None
    """The whole string when the expression came from a `{{ }}` template."""
    secrets_allowed: bool


@dataclass(frozen=True, slots=True)
class InlineOutcome:
    """What an inline node produced: its output, and variables it sets."""

    output: Any
    vars: dict[str, Any] | None = None


InlineEvaluator = Callable[[dict[str, Any], dict[str, Any]], InlineOutcome]
BranchSelector = Callable[[Any, str, frozenset[str]], bool]
PolicyCheck = Callable[[dict[str, Any], "PublishPolicy"], list["Problem"]]
"""(raw config, the operator's policy) -> problems, their paths relative to the config."""


@dataclass(frozen=True, slots=True)
class NodeType:
    """Everything the core needs to know about one node type."""

    name: str
    execution: Execution
    config_model: type[BaseModel] | None
    """The pydantic model of the config; None when `config_schema` (JSON Schema) says it."""
    description: str
    cel_fields: tuple[str, ...] = ()
    """Config fields holding a bare CEL expression rather than templates."""
    evaluate: InlineEvaluator | None = None
    """For INLINE types: (raw config, expression context) -> outcome; may raise ExpressionError."""
    branch: BranchSelector | None = None
    """For branching types: (output, edge `when`, all `when`s out of the node) -> taken?"""
    when_values: Callable[[], frozenset[str]] | None = None
    """For branching types with a closed set of `when` values (condition: true/false)."""
    custom_sites: Callable[[dict[str, Any]], Iterator[ExpressionSite]] | None = field(default=None)
    default_when: str | None = None
    """For branching types whose edges may omit `when`: what such an edge means
    (approval: `approve`). Types without it need `when` on every outgoing edge."""
    config_schema: Mapping[str, Any] | None = field(default=None, repr=False)
    """JSON Schema of the config, for types declared without a pydantic model (plugins)."""
    output_schema: Mapping[str, Any] | None = field(default=None, repr=False)
    """JSON Schema of the output, when the type declares one (checked by whoever runs it)."""
    icon: str | None = None
    """A short icon name or emoji for palettes."""
    title: str | None = None
    """A human name for palettes (default: the type name)."""
    category: str | None = None
    """The palette group (e.g. `core`, `integrations`, a connector's name)."""
    source: str = "builtin"
    """Where the type comes from: `builtin`, or the plugin (distribution) that declared it."""
    policy_check: PolicyCheck | None = field(default=None, repr=False)
    """What the operator's publish policy refuses in a config (see `tideflow.core._policy`)."""

    def __post_init__(self) -> None:
        if (self.config_model is None) == (self.config_schema is None):
            raise ValueError(f"node type {self.name!r} needs exactly one of config_model and "
                             "config_schema")  # fmt: skip
        if self.execution is Execution.INLINE and self.evaluate is None:
            raise ValueError(f"inline node type {self.name!r} needs `evaluate`")

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of this type's config (what forms and listings show)."""
        if self.config_model is not None:
            return self.config_model.model_json_schema(by_alias=True)
        return dict(self.config_schema or {})

    @property
    def branches(self) -> bool:
        """Whether outgoing edges may carry `when`."""
        return self.branch is not None

    def expression_sites(self, config: dict[str, Any]) -> Iterator[ExpressionSite]:
        """Every expression in a config, for validation (raises ExpressionError on `{{`)."""
        if self.custom_sites is not None:
            yield from self.custom_sites(config)
            return
        secrets = self.execution is Execution.DISPATCH
        for key, value in config.items():
            if key in self.cel_fields and isinstance(value, str):
                yield ExpressionSite((key,), value, Scope.RUN, None, secrets_allowed=False)
                continue
            for path, source, whole in iter_expressions(value, (key,)):
                yield ExpressionSite(path, source, Scope.RUN, whole, secrets_allowed=secrets)
