"""`Decision`: the events decided for one command, and the state as they leave it.

A decision evolves its own copy of the state after each event it emits, so every rule
reads the state exactly as a later `fold` of the same events produces it; that state is
what `decide` returns, so no caller folds the events again. The rules themselves live in
the sibling modules, one concern each (flow, steps, attempts, foreach, saga, timers,
waits); they are functions of a `Decision`.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tideflow.core._cel import Context
from tideflow.core._context import RunContext
from tideflow.core._definition import NodeSpec
from tideflow.core._events import (
    Event,
    RunStarted,
    StepCancelled,
    StepFailed,
    StepRole,
    StepSkipped,
    StepSucceeded,
)
from tideflow.core._evolve import apply
from tideflow.core._graph import Graph
from tideflow.core._state import RunState, StepState, StepStatus, with_counts
from tideflow.core.nodes import Execution

_TERMINAL_EVENTS = (StepSucceeded, StepFailed, StepSkipped, StepCancelled)
_STATUS_TEXT = {status: str(status) for status in StepStatus}


@dataclass(frozen=True, slots=True)
class Decided:
    """What `decide` returns: the new events and the state after them.

    `state == fold(events, state_before)`; the caller keeps `state` instead of folding.
    """

    events: tuple[Event, ...]
    state: RunState


class Decision:
    """Events decided for one command, applied as they are emitted.

    The hot path is incremental: `frontier` holds the flow nodes whose predecessors changed
    (only they can have become ready), and the `nodes` part of the expression context is
    built once per run (kept in the run's context) and then patched with the flow steps
    that changed.
    """

    def __init__(
        self, state: RunState, now: datetime, command_id: str, context: RunContext
    ) -> None:
        self.context = context
        self.state = with_counts(state, context.graph)
        self.now = now
        self.command_id = command_id
        self.events: list[Event] = []
        self.frontier: set[str] = set()
        """Flow nodes to re-check in `flow.advance`."""
        self.pumping: set[str] = set()
        """Foreach steps whose items `foreach.pump` is starting (not re-entered)."""
        self._nodes: dict[str, Any] | None = None
        self._changed_nodes: set[str] = set()
        self._own_steps: dict[str, StepState] | None = None
        self.item_starts = 0
        """Foreach items this decision started (see `foreach.ITEMS_PER_DECISION`)."""
        if state.run_id:
            context.bind(state.run_id)
            kept = context.nodes_view
            if kept is not None and kept[0] is state:
                self._nodes = kept[1]

    def finish(self) -> Decided:
        """The decided events and state; keeps the `nodes` view for the run's next decision."""
        if self._nodes is not None:
            self.context.nodes_view = (self.state, self._nodes_view())
        return Decided(tuple(self.events), self.state)

    @property
    def graph(self) -> Graph:
        """The graph of the run's pinned definition."""
        return self.context.graph

    def emit(self, event: Event) -> None:
        """Record an event and move the working state past it."""
        stamped = (
            event
            if event.command_id == self.command_id
            else event.model_copy(update={"command_id": self.command_id})
        )
        self.events.append(stamped)
        before = self.state
        after = apply(
            before, stamped, self.context.pinned, owns_steps=before.steps is self._own_steps
        )
        # a steps map an event of this decision made (the first step change copies the
        # caller's) is this decision's alone: later events update it in place, and the
        # state the decision started from stays untouched
        if after.steps is not before.steps:
            self._own_steps = after.steps
        self.state = after
        if isinstance(stamped, RunStarted):
            self.context.bind(after.run_id)
            self.frontier.update(self.graph.flow_ids)
            self._nodes = None
            return
        key = getattr(stamped, "step", None)
        if key is None:
            return
        step = after.steps.get(key)
        if step is None or step.role is not StepRole.FLOW:
            return
        self._changed_nodes.add(key)
        if isinstance(stamped, _TERMINAL_EVENTS):
            self.frontier.update(self.graph.successors[key])

    def stopped(self) -> bool:
        """Whether the flow may no longer start steps (run over, or unwinding)."""
        return self.state.status.terminal or self.state.unwinding is not None

    def spec_of(self, step: StepState) -> NodeSpec:
        """The node spec an existing step runs (flow, foreach item or compensation)."""
        if step.role is StepRole.ITEM and step.parent_step is not None:
            parent = self.state.steps[step.parent_step]
            if parent.execution is Execution.AGENT:
                from tideflow.core._decider import _agent  # noqa: PLC0415 - it imports this

                spec: NodeSpec = _agent.sub_spec(self, step)
                return spec
            return self.context.pinned.item_specs[parent.node_id]
        return self.graph.nodes[step.node_id]

    # ---- expression context -------------------------------------------------------------

    def _nodes_view(self) -> dict[str, Any]:
        """`nodes` for expressions: built once, then copied and patched on change.

        A fresh dict whenever something changed, so a context handed out earlier never
        changes under whoever holds it.
        """
        steps = self.state.steps
        if self._nodes is None:
            self._nodes = {
                s.node_id: {"output": s.output, "status": _STATUS_TEXT[s.status]}
                for s in steps.values()
                if s.role is StepRole.FLOW
            }
            self._changed_nodes.clear()
        elif self._changed_nodes:
            nodes = dict(self._nodes)
            for key in self._changed_nodes:
                s = steps[key]
                nodes[s.node_id] = {"output": s.output, "status": _STATUS_TEXT[s.status]}
            self._nodes = nodes
            self._changed_nodes.clear()
        return self._nodes

    def _run_view(self) -> dict[str, Any]:
        """`run` for expressions: fixed when the run starts, kept in the run's context."""
        run = self.context.run_view
        if run is None:
            state = self.state
            started = (
                state.started_at.isoformat().replace("+00:00", "Z") if state.started_at else None
            )
            run = {
                "id": state.run_id,
                "workflow": state.workflow,
                "version": state.version,
                "startedAt": started,
            }
            self.context.run_view = run
        return run

    def expressions(self, item: Any = None, index: int | None = None) -> dict[str, Any]:
        """What expressions may read at this point of the run."""
        state = self.state
        values: dict[str, Any] = {
            "input": state.input,
            "vars": state.vars,
            "nodes": self._nodes_view(),
            "run": self._run_view(),
        }
        if index is not None:
            values["item"] = item
            values["index"] = index
        return Context(values, self.context.constants, state.limits)
