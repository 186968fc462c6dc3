"""One span per run per batch, in the run's own trace: how a run's trace crosses the scheduler.

A run's trace starts with the request that started it (the gateway's or trigger's span,
carried in the StartRun envelope) or, when nothing traced the start (a cron tick, a
client without tracing), with the scheduler's first span for it. That trace context is
kept in `runs.traceparent` (and in memory), so every later batch that touches the run
adds its span to the same trace, whatever its command carried:

- a step result carries the executor's span of that attempt (in the run's trace): the
  decision becomes its child, so the trace reads request -> decide -> step -> decide ...;
- a command from elsewhere (a signal, an approval, a cancel: their own requests' traces)
  or from nowhere (a timer) is decided under the run's trace, linked to the sender's span;
- a child run (subworkflow) gets a trace of its own, linked to its parent's decision.

Messages written while a run's span is current (tasks, timers fired through the outbox,
child starts) carry it, so the executor's step spans join the run's trace in turn.
With tracing off (`tracing_enabled()` false) none of this runs: no lookups, no spans.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tideflow.bus import extract_trace
from tideflow.telemetry import (
    bound_run,
    context_from,
    span_context_from,
    traceparent_of,
    tracer,
    tracing_enabled,
)
from tideflow.wire import StartRequest

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from tideflow.bus import Message, TraceContext
    from tideflow.core import RunState
    from tideflow.store import RunTraces
    from tideflow.wire import WireCommand

SPAN = "tideflow.scheduler.decide"


class RunTracer:
    """Remembers each run's trace context; hands out the spans of each batch."""

    def __init__(self, *, store: RunTraces, capacity: int = 20_000) -> None:
        self._store = store
        self._capacity = capacity
        self._traces: OrderedDict[str, str] = OrderedDict()

    async def batch(self, commands: Sequence[tuple[Message, WireCommand]]) -> BatchTrace:
        """The spans of one batch; loads the trace of runs this replica does not know."""
        if not tracing_enabled():
            return BatchTrace(self, enabled=False)
        unknown = {
            command.run_id
            for _, command in commands
            if command.run_id not in self._traces and not isinstance(command, StartRequest)
        }
        if unknown:
            for run_id, traceparent in (await self._store.run_traceparents(unknown)).items():
                self.remember(run_id, traceparent)
        return BatchTrace(self, enabled=True, size=len(commands))

    def traceparent(self, run_id: str) -> str | None:
        return self._traces.get(run_id)

    def remember(self, run_id: str, traceparent: str) -> None:
        self._traces[run_id] = traceparent
        self._traces.move_to_end(run_id)
        while len(self._traces) > self._capacity:
            self._traces.popitem(last=False)


class BatchTrace:
    """The open spans of one batch, one per run it touches."""

    def __init__(self, runs: RunTracer, *, enabled: bool, size: int = 0) -> None:
        self._runs = runs
        self._spans: dict[str, trace.Span] = {}
        self._enabled = enabled
        self._size = size
        self._started: dict[str, str] = {}
        """Runs started in this batch -> the trace context to store with them."""
        self._commands: dict[str, list[str]] = {}

    def add(self, message: Message, command: WireCommand) -> None:
        """Open the run's span for its first command of the batch; link the others."""
        if not self._enabled:
            return
        run_id = command.run_id
        carried = extract_trace(message.envelope)
        kind = type(command).__name__
        self._commands.setdefault(run_id, []).append(
            "StartRun" if isinstance(command, StartRequest) else kind
        )
        span = self._spans.get(run_id)
        if span is not None:
            if carried is not None:
                _link(span, carried.traceparent, carried.tracestate)
            return
        self._spans[run_id] = self._open(run_id, command, carried)

    def _open(self, run_id: str, command: WireCommand, carried: TraceContext | None) -> trace.Span:
        traceparent = carried.traceparent if carried is not None else None
        tracestate = carried.tracestate if carried is not None else ""
        attributes: dict[str, str | int] = {
            "tideflow.run_id": run_id,
            "messaging.batch.message_count": self._size,
        }
        links: list[Link] = []
        parent: Context | None
        known = self._runs.traceparent(run_id)
        if isinstance(command, StartRequest):
            attributes["tideflow.workflow"] = command.workflow
            attributes["tideflow.tenant_id"] = command.tenant_id
            if command.parent is not None:
                # a child run: a trace of its own, linked to the parent's decision
                attributes["tideflow.parent_run_id"] = command.parent.run_id
                parent = Context()
                links = _links(traceparent, tracestate)
            else:
                parent = context_from(traceparent, tracestate) or Context()
        elif known is None:
            parent = context_from(traceparent, tracestate) or Context()
        elif traceparent and _same_trace(traceparent, known):
            parent = context_from(traceparent, tracestate)
        else:
            parent = context_from(known)
            links = _links(traceparent, tracestate)
        span = tracer().start_span(
            SPAN, context=parent, kind=SpanKind.CONSUMER, attributes=attributes, links=links
        )
        if isinstance(command, StartRequest):
            run_trace = (
                traceparent if command.parent is None and traceparent else traceparent_of(span)
            )
            if run_trace:
                self._started[run_id] = run_trace
        return span

    @contextlib.contextmanager
    def active(self, run_id: str) -> Iterator[None]:
        """The run's span as the current one (messages sent now carry it), and its id on
        log records."""
        span = self._spans.get(run_id)
        with bound_run(run_id):
            if span is None:
                yield
            else:
                with trace.use_span(span, end_on_exit=False):
                    yield

    def started_trace(self, run_id: str) -> str | None:
        """The trace context to store with a run started in this batch."""
        return self._started.get(run_id)

    def finish(self, states: dict[str, RunState]) -> None:
        """End every span with what the batch made of its run; remember new runs' traces."""
        for run_id, span in self._spans.items():
            state = states.get(run_id)
            span.set_attribute("tideflow.commands", self._commands.get(run_id, []))
            if state is not None:
                span.set_attribute("tideflow.workflow", state.workflow)
                span.set_attribute("tideflow.run.status", state.status.value)
                span.set_attribute("tideflow.run.last_seq", state.last_seq)
            span.end()
        for run_id, traceparent in self._started.items():
            self._runs.remember(run_id, traceparent)
        self._spans.clear()

    def fail(self, error: BaseException) -> None:
        """End every span as failed (the batch is decided again, or the command isolated)."""
        for span in self._spans.values():
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            span.end()
        self._spans.clear()


def _links(traceparent: str | None, tracestate: str) -> list[Link]:
    span_context = span_context_from(traceparent, tracestate)
    return [] if span_context is None else [Link(span_context)]


def _link(span: trace.Span, traceparent: str, tracestate: str) -> None:
    span_context = span_context_from(traceparent, tracestate)
    if span_context is not None and span_context.trace_id != span.get_span_context().trace_id:
        span.add_link(span_context)


def _same_trace(first: str, second: str) -> bool:
    return first.split("-")[1:2] == second.split("-")[1:2]
