"""The working half of `decide`: scheduling, failure handling, foreach, saga unwinding.

A `Decision` accumulates events for one command and evolves its own copy of the state
after each one, so every rule below reads the state exactly as a later `fold` of the
same events will produce it (property tests check that).
"""

import hashlib
import heapq
from datetime import datetime, timedelta
from typing import Any

from tideflow.core._cel import Context, Scope
from tideflow.core._definition import Join, NodeSpec, RetryPolicy
from tideflow.core._durations import parse_duration
from tideflow.core._errors import DurationError, ExpressionError
from tideflow.core._events import (
    ApprovalRequested,
    CompensationFailed,
    CompensationStarted,
    CompensationSucceeded,
    Event,
    RunCancelled,
    RunCompensated,
    RunError,
    RunFailed,
    RunStarted,
    RunSucceeded,
    StepCancelled,
    StepError,
    StepFailed,
    StepRetryScheduled,
    StepRole,
    StepScheduled,
    StepSkipped,
    StepSucceeded,
    TimerCancelled,
    TimerKind,
    TimerScheduled,
)
from tideflow.core._graph import Edge, Graph
from tideflow.core._ids import (
    child_run_id,
    compensated_step,
    compensation_key,
    item_key,
    timer_id,
)
from tideflow.core._state import (
    RunState,
    RunStatus,
    StepState,
    StepStatus,
    compute,
    forget_transitions,
    remember,
    tally_of,
)
from tideflow.core._templates import Rendered, render
from tideflow.core.nodes import Execution, get_node_type
from tideflow.core.nodes._foreach import MAX_ITEMS, ForeachChild

DEFAULT_RETRY = RetryPolicy()
_ACTIVE = frozenset(
    {StepStatus.SCHEDULED, StepStatus.RUNNING, StepStatus.WAITING, StepStatus.BACKOFF}
)


def backoff(policy: RetryPolicy, run_id: str, step: str, attempt: int) -> timedelta:
    """Delay before `attempt + 1`: exponential, capped, with jitter fixed by the run id.

    The jitter (up to -20%) spreads retries of many runs; deriving it from a hash keeps
    `decide` deterministic, so a replay schedules exactly the same timers.
    """
    base = policy.initial_interval * (policy.backoff_coefficient ** (attempt - 1))
    capped = min(base, policy.max_interval)
    digest = hashlib.sha256(f"{run_id}/{step}/{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return capped * (1 - 0.2 * fraction)


_TERMINAL_EVENTS = (StepSucceeded, StepFailed, StepSkipped, StepCancelled)
_STATUS_TEXT = {status: str(status) for status in StepStatus}
_NODES_VIEW = "nodes-view"
"""Run memo key: (the state a decision ended with, its `nodes` view)."""
_RUN_VIEW = "run-view"
"""Run memo key: `run` for expressions (fixed when the run starts)."""
_CONSTANTS = "constants"
"""Run memo key: results of expressions that read only `input` and `run`."""


class Decision:
    """Events decided for one command, applied as they are emitted.

    The hot path is incremental: `frontier` holds the flow nodes whose predecessors changed
    (only they can have become ready), and the `nodes` part of the expression context is
    built once per decision and then patched with the flow steps that changed.
    """

    def __init__(self, state: RunState, now: datetime, command_id: str) -> None:
        self.state = state
        self.now = now
        self.command_id = command_id
        self.events: list[Event] = []
        self.frontier: set[str] = set()
        """Flow nodes to re-check in `advance`."""
        self._nodes: dict[str, Any] | None = None
        self._changed_nodes: set[str] = set()
        self._run: dict[str, Any] | None = None
        memo = state.memo
        if memo is not None:
            kept = memo.get(_NODES_VIEW)
            if kept is not None and kept[0] is state:
                self._nodes = kept[1]
        forget_transitions()

    def finish(self) -> list[Event]:
        """The decided events; keeps the `nodes` view for the next decision of the run."""
        memo = self.state.memo
        if memo is not None and self._nodes is not None:
            memo[_NODES_VIEW] = (self.state, self._nodes_view())
        return self.events

    @property
    def graph(self) -> Graph:
        """The graph of the run (only valid once the run started)."""
        if self.state.graph is None:
            raise RuntimeError("run has not started")
        return self.state.graph

    def emit(self, event: Event) -> None:
        """Record an event and move the working state past it."""
        stamped = (
            event
            if event.command_id == self.command_id
            else event.model_copy(update={"command_id": self.command_id})
        )
        self.events.append(stamped)
        before = self.state
        after = compute(before, stamped)
        remember(before, stamped, after)
        self.state = after
        if isinstance(stamped, RunStarted):
            self.frontier.update(self.graph.flow_ids)
            self._nodes = None
            self._run = None
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

    def context(self, item: Any = None, index: int | None = None) -> dict[str, Any]:
        """What expressions may read at this point of the run."""
        state = self.state
        if self._run is None:
            memo = state.memo
            self._run = memo.get(_RUN_VIEW) if memo is not None else None
        if self._run is None:
            started = (
                state.started_at.isoformat().replace("+00:00", "Z") if state.started_at else None
            )
            self._run = {
                "id": state.run_id,
                "workflow": state.workflow,
                "version": state.version,
                "startedAt": started,
            }
            if state.memo is not None:
                state.memo[_RUN_VIEW] = self._run
        values: dict[str, Any] = {
            "input": state.input,
            "vars": state.vars,
            "nodes": self._nodes_view(),
            "run": self._run,
        }
        if index is not None:
            values["item"] = item
            values["index"] = index
        memo = state.memo
        constants = memo.setdefault(_CONSTANTS, {}) if memo is not None else None
        return Context(values, constants, state.limits)

    # ---- the flow ---------------------------------------------------------------------------

    def edge_taken(self, edge: Edge) -> bool | None:
        """None while the source is unfinished, else whether the edge carries control."""
        source = self.state.steps[edge.source]
        if not source.status.terminal:
            return None
        if source.status is not StepStatus.SUCCEEDED:
            return False
        if edge.when is None:
            return True
        node_type = get_node_type(source.node_type)
        if node_type is None or node_type.branch is None:
            return False
        return node_type.branch(source.output, edge.when, self.graph.whens(edge.source))

    def readiness(self, node_id: str) -> bool | None:
        """True: start it; False: skip it; None: wait for more predecessors."""
        if self.graph.nodes[node_id].join is Join.ALL:
            # An `all` join waits while any predecessor is unfinished: the kept count says
            # so at once, so a wide fan-in is not rescanned after every branch.
            open_inputs = self.state.open_inputs
            if open_inputs is not None and open_inputs.get(node_id, 0) > 0:
                return None
        taken = False
        unresolved = False
        for edge in self.graph.incoming[node_id]:
            verdict = self.edge_taken(edge)
            if verdict is None:
                unresolved = True
            elif verdict:
                taken = True
        if self.graph.nodes[node_id].join is Join.ANY and taken:
            return True
        if unresolved:
            return None
        return taken or not self.graph.incoming[node_id]

    def stopped(self) -> bool:
        """Whether the flow may no longer start steps (run over, or unwinding)."""
        return self.state.status.terminal or self.state.unwinding is not None

    def advance(self) -> None:
        """Start or skip every node whose predecessors allow it; finish the run when done.

        Only nodes in the frontier can have become ready (a node's readiness changes only
        when a predecessor finishes). They are visited in passes in `flow_ids` order, a
        node that becomes a candidate behind the current one waiting for the next pass:
        exactly the order of a full scan repeated until nothing changes, which recorded
        histories depend on.
        """
        if self.stopped():
            return
        graph = self.graph
        position = graph.position
        while self.frontier:
            queued = self.frontier
            self.frontier = set()
            heap = sorted(position[n] for n in queued)
            while heap:
                current = heapq.heappop(heap)
                if self.stopped():
                    return
                self.visit(graph.flow_ids[current])
                if self.frontier:
                    for node_id in [n for n in self.frontier if position[n] > current]:
                        self.frontier.discard(node_id)
                        if node_id not in queued:
                            queued.add(node_id)
                            heapq.heappush(heap, position[node_id])
        if not self.stopped() and tally_of(self.state).open_flow == 0:
            self.succeed_run()

    def visit(self, node_id: str) -> None:
        """Start or skip one pending node if its predecessors have decided."""
        if self.state.steps[node_id].status is not StepStatus.PENDING:
            return
        ready = self.readiness(node_id)
        if ready is None:
            return
        if ready:
            self.schedule(node_id, self.graph.nodes[node_id], StepRole.FLOW)
        else:
            self.emit(
                StepSkipped(
                    at=self.now, step=node_id, reason="branch not taken", command_id=self.command_id
                )
            )

    def succeed_run(self) -> None:
        """Finish with `spec.output`, or the outputs of the sink nodes that ran."""
        template = self.graph.definition.spec.output
        if template is None:
            output = {
                n: self.state.steps[n].output
                for n in self.graph.sinks
                if self.state.steps[n].status is StepStatus.SUCCEEDED
            }
        else:
            try:
                output = render(template, self.context()).value
            except ExpressionError as exc:
                self.fail_run(RunError(type=exc.code, message=f"spec.output: {exc}"))
                return
        self.emit(RunSucceeded(at=self.now, output=output, command_id=self.command_id))

    # ---- scheduling ---------------------------------------------------------------------------

    def spec_of(self, step: StepState) -> NodeSpec:
        """The node spec an existing step runs (flow, foreach item or compensation)."""
        if step.role is StepRole.ITEM and step.parent_step is not None:
            parent = self.state.steps[step.parent_step]
            return self.item_spec(self.graph.nodes[parent.node_id])
        return self.graph.nodes[step.node_id]

    def item_spec(self, parent: NodeSpec) -> NodeSpec:
        """The node spec a foreach runs per item."""
        child = ForeachChild.model_validate(parent.config["node"])
        return NodeSpec(
            id=parent.id,
            type=child.type,
            config=child.config,
            retry=child.retry,
            timeout=child.timeout,
            queue=child.queue or parent.queue,
        )

    def schedule(
        self,
        key: str,
        spec: NodeSpec,
        role: StepRole,
        *,
        parent_step: str | None = None,
        index: int | None = None,
        item: Any = None,
    ) -> None:
        """Start the next attempt of a step according to its node type."""
        previous = self.state.steps.get(key)
        attempt = (previous.attempt if previous else 0) + 1
        node_type = get_node_type(spec.type)
        if node_type is None:
            self.fail_unscheduled(key, spec, role, attempt, "UnknownNodeType", spec.type)
            return
        context = self.context(item, index)
        scope = Scope.ITEM if index is not None else Scope.RUN
        common: dict[str, Any] = {
            "command_id": self.command_id,
            "at": self.now,
            "step": key,
            "node_id": spec.id,
            "node_type": spec.type,
            "execution": node_type.execution,
            "role": role,
            "attempt": attempt,
            "queue": spec.queue,
            "parent_step": parent_step,
            "index": index,
        }
        try:
            if node_type.evaluate is not None:
                outcome = node_type.evaluate(spec.config, context)
                self.emit(StepScheduled(**common, config=spec.config))
                self.emit(
                    StepSucceeded(
                        at=self.now, step=key, attempt=attempt, output=outcome.output,
                        vars=outcome.vars, command_id=self.command_id,
                    )
                )  # fmt: skip
                self.step_succeeded(key)
                return
            # A foreach renders only its items now; the child spec is rendered per item.
            source = (
                {
                    "items": spec.config.get("items"),
                    "concurrency": spec.config.get("concurrency", 10),
                }
                if node_type.execution is Execution.FOREACH
                else spec.config
            )
            rendered = render(
                source, context, scope, defer_secrets=node_type.execution is Execution.DISPATCH
            )
            idempotency_key = (
                render(spec.idempotency_key, context, scope).value if spec.idempotency_key else None
            )
        except ExpressionError as exc:
            self.fail_unscheduled(
                key, spec, role, attempt, exc.code, f"node {spec.id!r}: {exc}", common
            )
            return
        self.schedule_rendered(
            key, spec, rendered=rendered, idempotency_key=idempotency_key, common=common
        )

    def schedule_rendered(
        self,
        key: str,
        spec: NodeSpec,
        *,
        rendered: Rendered,
        idempotency_key: Any,
        common: dict[str, Any],
    ) -> None:
        """Emit what starts a non-inline step, once its config has been rendered."""
        attempt: int = common["attempt"]
        execution: Execution = common["execution"]
        if execution is Execution.DISPATCH:
            deadline = self.now + spec.timeout if spec.timeout else None
            self.emit(
                StepScheduled(
                    **common, config=rendered.value, secret_paths=rendered.secret_paths,
                    timeout=spec.timeout, deadline=deadline,
                    idempotency_key=str(idempotency_key) if idempotency_key is not None else None,
                )
            )  # fmt: skip
            if spec.timeout:
                self.set_timer(key, attempt, TimerKind.STEP_TIMEOUT, spec.timeout)
        elif execution is Execution.TIMER:
            self.schedule_delay(key, spec, attempt, rendered.value, common)
        elif execution is Execution.SIGNAL:
            self.schedule_signal(key, attempt, rendered.value, common)
        elif execution is Execution.APPROVAL:
            timeout = rendered.value.get("timeout")
            wait = parse_duration(timeout) if isinstance(timeout, str) else None
            self.emit(StepScheduled(**common, config=rendered.value))
            self.emit(
                ApprovalRequested(
                    at=self.now, step=key, attempt=attempt, config=rendered.value,
                    deadline=self.now + wait if wait else None,
                )
            )  # fmt: skip
            if wait:
                self.set_timer(key, attempt, TimerKind.STEP_TIMEOUT, wait)
        elif execution is Execution.CHILD:
            child = child_run_id(self.state.run_id, key, attempt)
            self.emit(StepScheduled(**common, config=rendered.value, child_run_id=child))
            if spec.timeout:
                self.set_timer(key, attempt, TimerKind.STEP_TIMEOUT, spec.timeout)
        else:
            self.schedule_foreach(key, rendered.value, common)

    def fail_unscheduled(  # noqa: PLR0917 - all positional for readable call sites
        self,
        key: str,
        spec: NodeSpec,
        role: StepRole,
        attempt: int,
        error_type: str,
        message: str,
        common: dict[str, Any] | None = None,
    ) -> None:
        """A step whose config cannot even be evaluated fails for good at once."""
        fields = common or {
            "at": self.now, "step": key, "node_id": spec.id, "node_type": spec.type,
            "execution": Execution.INLINE, "role": role, "attempt": attempt, "queue": spec.queue,
        }  # fmt: skip
        self.emit(StepScheduled(**fields, config=spec.config))
        error = StepError(type=error_type, message=message, retryable=False)
        self.emit(StepFailed(at=self.now, step=key, attempt=attempt, error=error))
        self.step_failed(key, error)

    def set_timer(self, key: str, attempt: int, kind: TimerKind, after: timedelta) -> None:
        """Set a durable timer whose id is derived from the step and attempt."""
        self.emit(
            TimerScheduled(
                at=self.now, timer_id=timer_id(key, kind, attempt), kind=kind, step=key,
                attempt=attempt, fire_at=self.now + after,
            )
        )  # fmt: skip

    def cancel_timers(self, key: str) -> None:
        """Drop every timer of a step (it finished or was abandoned)."""
        for timer in [t.timer_id for t in self.state.timers.values() if t.step == key]:
            self.emit(TimerCancelled(at=self.now, timer_id=timer))

    def schedule_delay(
        self, key: str, spec: NodeSpec, attempt: int, config: Any, common: dict[str, Any]
    ) -> None:
        """`delay`: a durable timer for the rendered duration."""
        try:
            duration = parse_duration(str(config["duration"]))
        except DurationError as exc:
            self.fail_unscheduled(
                key, spec, StepRole(common["role"]), attempt, "InvalidDuration", str(exc), common
            )
            return
        self.emit(StepScheduled(**common, config=config))
        self.set_timer(key, attempt, TimerKind.DELAY, duration)

    def schedule_signal(self, key: str, attempt: int, config: Any, common: dict[str, Any]) -> None:
        """`signal`: consume a buffered signal at once, else wait (with a timeout timer)."""
        self.emit(StepScheduled(**common, config=config))
        for signal in self.state.signals:
            if signal.name == config["name"]:
                self.emit(
                    StepSucceeded(
                        at=self.now, step=key, attempt=attempt, output=signal.data,
                        consumed_signal=signal.signal_id,
                    )
                )  # fmt: skip
                self.step_succeeded(key)
                return
        timeout = config.get("timeout")
        if isinstance(timeout, str):
            self.set_timer(key, attempt, TimerKind.STEP_TIMEOUT, parse_duration(timeout))

    # ---- foreach ------------------------------------------------------------------------------

    def schedule_foreach(self, key: str, config: Any, common: dict[str, Any]) -> None:
        """`foreach`: check the items, then start the first `concurrency` of them."""
        items = config.get("items")
        spec = self.graph.nodes[common["node_id"]]
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            self.fail_unscheduled(
                key, spec, StepRole(common["role"]), common["attempt"], "InvalidItems",
                f"node {spec.id!r}: items must be a list of at most {MAX_ITEMS} values, "
                f"got {type(items).__name__}",
                common,
            )  # fmt: skip
            return
        self.emit(StepScheduled(**common, config=config))
        self.pump_foreach(key)

    def pump_foreach(self, key: str) -> None:
        """Start items up to the concurrency limit; finish the foreach when all are done."""
        parent = self.state.steps[key]
        if parent.status.terminal:
            return
        items: list[Any] = parent.config["items"]
        limit = int(parent.config.get("concurrency", 10))
        spec = self.item_spec(self.graph.nodes[parent.node_id])
        while True:
            keys = [item_key(key, i) for i in range(len(items))]
            existing = [self.state.steps.get(k) for k in keys]
            active = sum(1 for s in existing if s is not None and not s.status.terminal)
            if self.state.steps[key].status.terminal:
                return
            if all(s is not None and s.status is StepStatus.SUCCEEDED for s in existing):
                outputs = [s.output for s in existing if s is not None]
                attempt = self.state.steps[key].attempt
                self.emit(StepSucceeded(at=self.now, step=key, attempt=attempt, output=outputs))
                self.step_succeeded(key)
                return
            nxt = next((i for i, s in enumerate(existing) if s is None), None)
            if nxt is None or active >= limit:
                return
            self.schedule(
                keys[nxt], spec, StepRole.ITEM, parent_step=key, index=nxt, item=items[nxt]
            )

    # ---- outcomes -----------------------------------------------------------------------------

    def step_succeeded(self, key: str) -> None:
        """React to a step that just succeeded."""
        step = self.state.steps[key]
        self.cancel_timers(key)
        if step.role is StepRole.ITEM and step.parent_step is not None:
            self.pump_foreach(step.parent_step)
        elif step.role is StepRole.COMPENSATION:
            for_step = compensated_step(key)
            self.emit(CompensationSucceeded(at=self.now, for_step=for_step, step=key))
            self.next_compensation()

    def attempt_failed(self, key: str, error: StepError) -> None:
        """Retry per the node's policy, or fail the step for good."""
        step = self.state.steps[key]
        self.cancel_timers(key)
        policy = self.spec_of(step).retry or DEFAULT_RETRY
        if (
            step.execution is Execution.DISPATCH
            and error.retryable
            and error.type not in policy.non_retryable
            and step.attempt < policy.max_attempts
        ):
            delay = backoff(policy, self.state.run_id, key, step.attempt)
            retry_timer = timer_id(key, TimerKind.RETRY, step.attempt)
            self.emit(
                StepRetryScheduled(
                    at=self.now, step=key, attempt=step.attempt, error=error,
                    next_attempt=step.attempt + 1, fire_at=self.now + delay, timer_id=retry_timer,
                )
            )  # fmt: skip
            self.set_timer(key, step.attempt, TimerKind.RETRY, delay)
            return
        self.emit(StepFailed(at=self.now, step=key, attempt=step.attempt, error=error))
        self.step_failed(key, error)

    def step_failed(self, key: str, error: StepError) -> None:
        """React to a step that failed for good."""
        step = self.state.steps[key]
        self.cancel_timers(key)
        if step.role is StepRole.ITEM and step.parent_step is not None:
            parent = self.state.steps[step.parent_step]
            if parent.status.terminal:
                return
            self.stop_steps(f"item {key} failed", only_parent=step.parent_step)
            wrapped = StepError(
                type=error.type, message=f"item {step.index}: {error.message}", retryable=False
            )
            self.emit(
                StepFailed(at=self.now, step=parent.step, attempt=parent.attempt, error=wrapped)
            )
            self.step_failed(parent.step, wrapped)
        elif step.role is StepRole.COMPENSATION:
            for_step = compensated_step(key)
            self.emit(CompensationFailed(at=self.now, for_step=for_step, step=key, error=error))
            self.next_compensation()
        elif self.state.unwinding is None:
            self.fail_run(RunError(step=key, type=error.type, message=error.message))

    def stop_steps(self, reason: str, *, only_parent: str | None = None) -> None:
        """Cancel active steps and skip pending ones (all flow/item steps, or one foreach's)."""
        for key, step in list(self.state.steps.items()):
            if step.role is StepRole.COMPENSATION or step.status.terminal:
                continue
            if only_parent is not None and step.parent_step != only_parent:
                continue
            if step.status in _ACTIVE:
                self.cancel_timers(key)
                self.emit(StepCancelled(at=self.now, step=key, attempt=step.attempt, reason=reason))
            elif step.status is StepStatus.PENDING:
                self.emit(StepSkipped(at=self.now, step=key, reason=reason))

    # ---- the saga -----------------------------------------------------------------------------

    def fail_run(self, error: RunError) -> None:
        """A step failed for good: stop the flow and unwind."""
        self.stop_steps(f"run failed: {error.message}")
        self.unwind(RunStatus.FAILED, error)

    def unwind(self, outcome: RunStatus, error: RunError | None) -> None:
        """Compensate succeeded steps in reverse completion order, then end the run."""
        order = tuple(
            key
            for key in reversed(self.state.completed)
            if self.graph.nodes[self.state.steps[key].node_id].compensate
        )
        if order:
            self.emit(CompensationStarted(at=self.now, outcome=outcome, error=error, order=order))
            self.next_compensation()
        else:
            self.end_run(outcome, error, compensated=False)

    def next_compensation(self) -> None:
        """Start the next compensation, or end the run when none is left."""
        unwinding = self.state.unwinding
        if unwinding is None:
            return
        for for_step in unwinding.order:
            key = compensation_key(for_step)
            if key in self.state.steps:
                if self.state.steps[key].status.terminal:
                    continue
                return
            node = self.graph.nodes[self.state.steps[for_step].node_id]
            if node.compensate is None:
                continue
            self.schedule(key, self.graph.nodes[node.compensate], StepRole.COMPENSATION)
            return
        self.end_run(unwinding.outcome, unwinding.error, compensated=not unwinding.failed)

    def end_run(self, outcome: RunStatus, error: RunError | None, *, compensated: bool) -> None:
        """Emit the terminal run event for an unwound run."""
        if self.state.status.terminal:
            return
        if outcome is RunStatus.CANCELLED:
            self.emit(RunCancelled(at=self.now, reason=error.message if error else None))
            return
        final = error or RunError(type="Failed", message="run failed")
        if compensated:
            self.emit(RunCompensated(at=self.now, error=final))
        else:
            self.emit(RunFailed(at=self.now, error=final))
