"""A task message -> a handler run -> a StepResult command.

The consumer runs pipelined (`Consumer.run_pipelined`): each task message is handed to
`TaskRunner.handle` as soon as it is fetched, attempts run concurrently (bounded by a
semaphore shared by every queue of the process), and each result is published as soon as
its attempt ends. A partition's offset is committed up to its first task whose result is
not yet durable on `tideflow.runs`, so a long attempt delays commits, not the tasks
behind it. A crash redelivers everything after the last commit: an attempt may run
twice, its result is applied once (the command id is run+step+attempt), which is why
handlers with outside effects take an idempotency key.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from tideflow.bus import CodecError, extract_trace, payload_of, pb
from tideflow.core import CoreError, Limits, check_value, resolve_secrets
from tideflow.executor import metrics
from tideflow.executor.redaction import Redactor
from tideflow.nodes import StepFailure, StepOutcome, StepPending, TaskSpec
from tideflow.sdk import TASK_LOGGER
from tideflow.telemetry import bound_run, context_from, tracer, tracing_enabled
from tideflow.wire import accepted_envelope, attach_logs, cancel_of, result_envelope, task_of

if TYPE_CHECKING:
    from tideflow.bus import Batch, Bus, Message, Outgoing, TraceContext
    from tideflow.executor.secrets import SecretSource
    from tideflow.nodes import HandlerRegistry

log = logging.getLogger(__name__)

AttemptKey = tuple[str, str, int]
MAX_LOG_LINES = 200
MAX_REMEMBERED_CANCELS = 10_000
MAX_UNSENT_RESULTS = 1_000
"""Results kept for re-sending after a failed publish (oldest dropped: those run again)."""
ACCEPT_MARGIN_S = 5.0
"""How long before its schedule-to-start deadline a running attempt says it started."""


_step_lines: ContextVar[list[dict[str, Any]] | None] = ContextVar("step_lines", default=None)


class StepLogCollector(logging.Handler):
    """Collects what a task logs (via `ctx.logger`) into the lines of its own attempt.

    One handler serves every attempt: each attempt runs in its own asyncio task (and its
    thread, for sync functions, inherits the context), so a context variable tells whose
    line a record is.
    """

    def emit(self, record: logging.LogRecord) -> None:
        lines = _step_lines.get()
        if lines is not None and len(lines) < MAX_LOG_LINES:
            lines.append(
                {
                    "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
                    "level": record.levelname.lower(),
                    "message": record.getMessage(),
                }
            )


def install_step_log_collector() -> None:
    """Attach the collector to the SDK's task logger once per process."""
    logger = logging.getLogger(TASK_LOGGER)
    if not any(isinstance(h, StepLogCollector) for h in logger.handlers):
        logger.addHandler(StepLogCollector())
    logger.setLevel(logging.DEBUG)


class TaskRunner:
    """Runs the attempts of the task messages it is given; cancellations stop running ones."""

    def __init__(
        self,
        *,
        bus: Bus,
        handlers: HandlerRegistry,
        secrets: SecretSource,
        concurrency: int,
        limits: Limits | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._bus = bus
        self._limits = limits or Limits()
        self._worker = f"executor-{os.getpid()}"
        self._accepting: set[asyncio.Task[None]] = set()
        self._unsent: OrderedDict[AttemptKey, Outgoing] = OrderedDict()
        self._handlers = handlers
        self._secrets = secrets
        self._redactor = redactor or Redactor()
        self._slots = asyncio.Semaphore(concurrency)
        metrics.CONCURRENCY.set(concurrency)
        self._running: dict[AttemptKey, asyncio.Task[None]] = {}
        # Recent cancellations only: a cancel arrives right after its task (same partition),
        # so remembering the last few thousand is enough and memory stays flat.
        self._cancelled: OrderedDict[AttemptKey, None] = OrderedDict()

    async def handle(self, message: Message) -> None:
        """Run one task message; returns once its result is durable (or it was cancelled).

        A copy of an attempt that is already running here (redelivered after a rebalance
        or a rewind) waits for that attempt rather than running it a second time.
        """
        payload = payload_of(message.envelope)
        if isinstance(payload, pb.CancelTask):
            self._cancel(cancel_of(payload))
        elif isinstance(payload, pb.Task):
            try:
                spec, secret_paths = task_of(message.envelope, payload)
            except (CodecError, ValueError, TypeError) as e:
                # a task that does not decode fails the same way on every delivery
                await self._bus.dead_letter(
                    message, reason=f"task does not decode: {e}"[:4096],
                    code="executor.bad_task", group="tideflow-executor",
                )  # fmt: skip
                return
            key = (spec.run_id, spec.node_id, spec.attempt)
            if key in self._cancelled:
                return
            unsent = self._unsent.pop(key, None)
            if unsent is not None:  # ran already; only its result is missing: never run twice
                await self._send(key, unsent)
                return
            task = self._running.get(key)
            if task is None:
                task = asyncio.create_task(
                    self._attempt(spec, secret_paths, extract_trace(message.envelope))
                )
                self._running[key] = task
                task.add_done_callback(functools.partial(self._finished, key))
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                task.cancel()  # the bus gave the message up: it is delivered again
                raise
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error  # the result could not be published: rewind and retry
        else:
            await self._bus.dead_letter(
                message, reason=f"{message.envelope.type} is not a task",
                code="executor.not_a_task", group="tideflow-executor",
            )  # fmt: skip

    async def cancellations(self, batch: Batch) -> None:
        """Handler of the broadcast cancel topic: stop the attempts running here."""
        for message in batch:
            payload = payload_of(message.envelope)
            if isinstance(payload, pb.CancelTask):
                self._cancel(cancel_of(payload))

    def _finished(self, key: AttemptKey, _: asyncio.Task[None]) -> None:
        self._running.pop(key, None)

    def _cancel(self, key: AttemptKey) -> None:
        self._cancelled[key] = None
        while len(self._cancelled) > MAX_REMEMBERED_CANCELS:
            self._cancelled.popitem(last=False)
        task = self._running.get(key)
        if task is not None:
            metrics.CANCELLED.inc()
            task.cancel()

    async def _attempt(
        self,
        spec: TaskSpec,
        secret_paths: list[tuple[str | int, ...]],
        carried: TraceContext | None,
    ) -> None:
        """One attempt in a span of the run's trace (the task carries the scheduler's span),
        its result sent inside it, so the decision it causes continues the trace."""
        if not tracing_enabled():  # no SDK: no span work at all, only the run id for logs
            with bound_run(spec.run_id):
                await self._attempt_in(spec, secret_paths, trace.INVALID_SPAN)
            return
        parent = context_from(carried.traceparent, carried.tracestate) if carried else None
        with (
            bound_run(spec.run_id),
            tracer().start_as_current_span(
                STEP_SPAN, context=parent, kind=SpanKind.CONSUMER, attributes=_attributes(spec)
            ) as span,
        ):
            await self._attempt_in(spec, secret_paths, span)

    async def _attempt_in(
        self, spec: TaskSpec, secret_paths: list[tuple[str | int, ...]], span: Span
    ) -> None:
        lines: list[dict[str, Any]] = []
        _step_lines.set(lines)  # this asyncio task's own context
        async with self._slots:
            started = datetime.now(UTC)
            if spec.start_by is not None and started > spec.start_by:
                # the scheduler has failed this attempt (scheduleToStartTimeout): never run it
                metrics.TASKS.labels(spec.node_type, "too_late").inc()
                log.warning("skipping %s attempt %d: not started by %s",
                            spec.node_id, spec.attempt, spec.start_by)  # fmt: skip
                span.set_attribute("tideflow.step.outcome", "too_late")
                return
            accepting = self._accept_before(spec, started)
            try:
                outcome = await self._run_handler(spec, secret_paths)
            finally:
                if accepting is not None:
                    accepting.cancel()
            outcome = bounded(outcome, spec, self._limits)
        # after the bound, so the walk never meets a value nested too deep to recurse into
        outcome = self._redacted(outcome)
        try:
            result = result_envelope(spec, outcome, topics=self._bus.topics, started_at=started)
        except CodecError as e:  # deterministic: sending it again would fail again
            message = self._redactor.text(f"result of step {spec.node_id!r}: {e}")
            outcome = StepFailure("NotJson", message, retryable=False)
            result = result_envelope(spec, outcome, topics=self._bus.topics, started_at=started)
        _record_outcome(span, outcome)
        if lines:
            lines = [line | {"message": self._redactor.text(line["message"])} for line in lines]
            attach_logs(result, lines)
        await self._send((spec.run_id, spec.node_id, spec.attempt), result)

    async def _send(self, key: AttemptKey, result: Outgoing) -> None:
        """Publish a result; if the broker refuses, keep it for the redelivered task, so a
        bus outage repeats the publish, not the attempt (and not its outside calls)."""
        try:
            await self._bus.publish(result.topic, result.key, result.envelope)
        except BaseException:
            self._unsent[key] = result
            while len(self._unsent) > MAX_UNSENT_RESULTS:
                self._unsent.popitem(last=False)
            raise

    def _redacted(self, outcome: StepOutcome) -> StepOutcome:
        """The outcome with every secret value this process knows masked: it becomes
        events, API answers and logs, none of which may hold a secret."""
        if self._redactor.empty:
            return outcome
        if isinstance(outcome, StepFailure):
            return replace(
                outcome,
                message=self._redactor.text(outcome.message),
                details=self._redactor.value(outcome.details),
            )
        if isinstance(outcome, StepPending):
            return replace(outcome, state=self._redactor.value(outcome.state))
        return replace(outcome, output=self._redactor.value(outcome.output))

    def _accept_before(self, spec: TaskSpec, now: datetime) -> asyncio.TimerHandle | None:
        """If the attempt is still running shortly before its schedule-to-start deadline,
        tell the scheduler it started (so the timer does not fail it). Attempts that end
        earlier send nothing: their result cancels the timer, one message per attempt."""
        if spec.start_by is None:
            return None
        remaining = (spec.start_by - now).total_seconds()
        margin = min(ACCEPT_MARGIN_S, remaining / 4)
        return asyncio.get_running_loop().call_later(
            max(0.0, remaining - margin), self._send_accepted, spec
        )

    def _send_accepted(self, spec: TaskSpec) -> None:
        message = accepted_envelope(spec, worker=self._worker, topics=self._bus.topics)
        task = asyncio.create_task(self._bus.publish(message.topic, message.key, message.envelope))
        self._accepting.add(task)
        task.add_done_callback(self._accept_sent)

    def _accept_sent(self, task: asyncio.Task[None]) -> None:
        self._accepting.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("telling the scheduler an attempt started failed: %s", error)

    async def _run_until_deadline(self, spec: TaskSpec) -> StepOutcome:
        """The handler's outcome within the attempt's time; a task picked up after its
        deadline is not started at all (its thread would run on after a time-out)."""
        left = time_left(spec, datetime.now(UTC))
        if left is not None and left <= 0:
            return _too_late(spec)
        async with asyncio.timeout(left):
            return await self._handlers.run(spec)

    async def _run_handler(
        self, spec: TaskSpec, secret_paths: list[tuple[str | int, ...]]
    ) -> StepOutcome:
        metrics.IN_FLIGHT.inc()
        began = time.perf_counter()
        try:
            secrets = await self._secrets.secrets(spec.tenant_id)
            self._redactor.learn(secrets.values())
            if secret_paths:
                config = resolve_secrets(spec.config, secret_paths, secrets)
                spec = replace(spec, config=config)
            outcome = await self._run_until_deadline(spec)
        except TimeoutError:
            message = f"step {spec.node_id} took longer than {spec.timeout}"
            outcome = StepFailure("StepTimeout", message, retryable=True)
        except CoreError as e:
            outcome = StepFailure("SecretResolution", str(e), retryable=False)
        except Exception as e:
            log.exception("handler for %s crashed", spec.node_type)
            trace.get_current_span().record_exception(e)
            outcome = StepFailure(type(e).__name__, str(e) or repr(e), retryable=True)
        finally:
            metrics.IN_FLIGHT.dec()
        kind = (
            "failure" if isinstance(outcome, StepFailure)
            else "pending" if isinstance(outcome, StepPending)
            else "success"
        )  # fmt: skip
        metrics.TASKS.labels(spec.node_type, kind).inc()
        metrics.TASK_SECONDS.labels(spec.node_type).observe(time.perf_counter() - began)
        return outcome


def _too_late(spec: TaskSpec) -> StepFailure:
    message = f"step {spec.node_id} was picked up after its deadline {spec.deadline}"
    return StepFailure("StepTimeout", message, retryable=True)


def time_left(spec: TaskSpec, now: datetime) -> float | None:
    """Seconds the attempt may run: its timeout, cut at its deadline (the task may have
    waited in the queue), None when it has neither."""
    limits = []
    if spec.timeout is not None:
        limits.append(spec.timeout.total_seconds())
    if spec.deadline is not None:
        limits.append((spec.deadline - now).total_seconds())
    return min(limits) if limits else None


STEP_SPAN = "tideflow.step"


def _attributes(spec: TaskSpec) -> dict[str, str | int]:
    return {
        "tideflow.run_id": spec.run_id,
        "tideflow.node_id": spec.node_id,
        "tideflow.node_type": spec.node_type,
        "tideflow.attempt": spec.attempt,
        "tideflow.tenant_id": spec.tenant_id,
    }


def _record_outcome(span: Span, outcome: StepOutcome) -> None:
    """The attempt's outcome on its span; a failure also as the span's error status."""
    if isinstance(outcome, StepFailure):
        span.set_attribute("tideflow.step.outcome", "failed")
        span.set_attribute("error.type", outcome.error_type)
        span.set_attribute("tideflow.step.retryable", outcome.retryable)
        span.set_status(Status(StatusCode.ERROR, f"{outcome.error_type}: {outcome.message}"))
    elif isinstance(outcome, StepPending):
        span.set_attribute("tideflow.step.outcome", "pending")
    else:
        span.set_attribute("tideflow.step.outcome", "succeeded")


def bounded(outcome: StepOutcome, spec: TaskSpec, limits: Limits) -> StepOutcome:
    """The outcome as it may enter the log: an output that is too deep, too large or not
    finite fails the step for good (the same call would return it again); failure details
    that break a limit are dropped, the message is kept."""
    what = f"output of step {spec.node_id!r}"
    if isinstance(outcome, StepFailure):
        if outcome.details and check_value(
            outcome.details, what=what, max_depth=limits.json_depth, max_bytes=limits.output_bytes
        ):
            return replace(outcome, details={})
        return outcome
    value = outcome.state if isinstance(outcome, StepPending) else outcome.output
    violation = check_value(
        value, what=what, max_depth=limits.json_depth, max_bytes=limits.output_bytes
    )
    if violation is None:
        return outcome
    return StepFailure(violation.code.value, violation.message, retryable=False)
