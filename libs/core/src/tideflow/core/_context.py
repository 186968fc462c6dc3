"""What deciding a run needs besides its state, held by the caller: no hidden caches.

The decider needs the run's parsed definition, its graph, and (to be fast) a few values it
would otherwise recompute on every command. None of this is run *state*: it is derived
from the pinned definition or memoizes pure computations. It used to live in
module-level caches keyed by `id()` and in a mutable memo inside the frozen `RunState`;
now it travels explicitly:

- `PinnedDefinition` is the parsed definition of a run and its graph, plus (when built
  with `published`) its validation problems and wire form. It is immutable and shared by
  every run of one workflow version; the scheduler keeps one per published version. It
  also holds the catalog of node types (`NodeTypes`: built-ins plus the plugins the
  deciding process loaded) that its validation and its steps use.
- `RunContext` belongs to one run and is owned by whoever decides it (the scheduler's run
  cache, `LocalRun`). It holds the pinned definition and memos of pure values:
  run-constant expression results, the `run` and `nodes` views of expressions. `decide`
  reads and fills those memos and nothing else; a fresh context gives the same decisions
  (tests check this), only slower.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from tideflow.core._definition import NodeSpec, WorkflowDefinition
from tideflow.core._graph import Graph
from tideflow.core._validation import validate_definition
from tideflow.core.nodes import BUILTIN_NODE_TYPES, Execution, NodeTypes
from tideflow.core.nodes._foreach import ForeachChild

if TYPE_CHECKING:
    from tideflow.core._errors import Problem
    from tideflow.core._state import RunState


def _item_specs(definition: WorkflowDefinition) -> dict[str, NodeSpec]:
    """The node spec each valid `foreach` runs per item (the child with the parent's id)."""
    specs: dict[str, NodeSpec] = {}
    for parent in definition.spec.nodes:
        node_type = BUILTIN_NODE_TYPES.get(parent.type)  # foreach is a built-in
        if node_type is None or node_type.execution is not Execution.FOREACH:
            continue
        try:
            child = ForeachChild.model_validate(parent.config["node"])
        except (KeyError, TypeError, ValueError):
            continue  # an invalid child fails the run at start (validation), never runs
        specs[parent.id] = NodeSpec(
            id=parent.id,
            type=child.type,
            config=child.config,
            retry=child.retry,
            timeout=child.timeout,
            queue=child.queue or parent.queue,
        )
    return specs


@dataclass(frozen=True, slots=True, eq=False)
class PinnedDefinition:
    """A run's definition, parsed once; shared by every run of the same version."""

    definition: WorkflowDefinition
    graph: Graph
    item_specs: dict[str, NodeSpec] = field(repr=False)
    """Per `foreach` node id, the spec of what it runs per item."""
    wire: dict[str, Any] | None = field(default=None, repr=False)
    """The JSON form RunStarted records (None: computed when a run starts)."""
    problems: tuple[Problem, ...] | None = field(default=None, repr=False)
    """Validation problems (None: checked when a run starts)."""
    types: NodeTypes = field(default=BUILTIN_NODE_TYPES, repr=False)
    """The node types its steps may use (built-ins plus the deciding process's plugins)."""

    @classmethod
    def of(cls, definition: WorkflowDefinition, types: NodeTypes = BUILTIN_NODE_TYPES) -> Self:
        """The parsed parts of a definition (what deciding a started run needs)."""
        return cls(definition, Graph(definition), _item_specs(definition), types=types)

    @classmethod
    def published(
        cls, definition: WorkflowDefinition, types: NodeTypes = BUILTIN_NODE_TYPES
    ) -> Self:
        """`of`, plus what starting runs needs: validated and serialised once per version."""
        return cls(
            definition,
            Graph(definition),
            _item_specs(definition),
            wire=definition.to_wire(),
            problems=tuple(validate_definition(definition, types)),
            types=types,
        )

    @classmethod
    def from_wire(cls, wire: dict[str, Any], types: NodeTypes = BUILTIN_NODE_TYPES) -> Self:
        """The pinned definition a RunStarted event (or a snapshot) recorded."""
        definition = WorkflowDefinition.model_validate(wire)
        return cls(definition, Graph(definition), _item_specs(definition), wire=wire, types=types)

    def start_form(self) -> tuple[tuple[Problem, ...], dict[str, Any]]:
        """The validation problems and the wire form a StartRun needs."""
        problems = (
            self.problems
            if self.problems is not None
            else tuple(validate_definition(self.definition, self.types))
        )
        wire = self.wire if self.wire is not None else self.definition.to_wire()
        return problems, wire

    def records(self, wire: dict[str, Any]) -> bool:
        """Whether `wire` (from a RunStarted) is this definition: the same object, or equal."""
        if self.wire is wire:
            return True
        return (self.wire if self.wire is not None else self.definition.to_wire()) == wire


class RunContext:
    """One run's pinned definition and memos; owned by the caller, passed to `decide`."""

    __slots__ = ("constants", "nodes_view", "pinned", "run_id", "run_view")

    def __init__(self, pinned: PinnedDefinition) -> None:
        self.pinned = pinned
        self.run_id: str | None = None
        """The run the memos below belong to (they are dropped for another one)."""
        self.constants: dict[Any, Any] = {}
        """Results of expressions that read only `input` and `run`: one value per run."""
        self.run_view: dict[str, Any] | None = None
        """`run` for expressions (fixed when the run starts)."""
        self.nodes_view: tuple[RunState, dict[str, Any]] | None = None
        """The state the latest decision ended with and its `nodes` view for expressions."""

    @classmethod
    def of(cls, definition: WorkflowDefinition, types: NodeTypes = BUILTIN_NODE_TYPES) -> Self:
        """A context for a run of `definition`."""
        return cls(PinnedDefinition.of(definition, types))

    @classmethod
    def for_state(cls, state: RunState, types: NodeTypes = BUILTIN_NODE_TYPES) -> Self | None:
        """A context for a run loaded from its events or a snapshot (None: not started)."""
        return None if state.definition is None else cls.of(state.definition, types)

    @property
    def types(self) -> NodeTypes:
        """The node types the run's steps may use."""
        return self.pinned.types

    @property
    def definition(self) -> WorkflowDefinition:
        """The run's pinned definition."""
        return self.pinned.definition

    @property
    def graph(self) -> Graph:
        """The graph of the run's pinned definition."""
        return self.pinned.graph

    def bind(self, run_id: str) -> None:
        """Use the memos for `run_id` (dropping those of any other run)."""
        if run_id != self.run_id:
            self.run_id = run_id
            self.constants = {}
            self.run_view = None
            self.nodes_view = None
