"""One batch of `tideflow.runs` commands -> one transaction of events, projections, outbox.

The public event stream is not written here: `publisher.EventPublisher` follows the log.

The life of a batch:
1. decode every message; what is not a run command goes to the dead-letter topic;
2. group by run, load each run's state and decider context (cache, else the log), and
   `decide` its commands in order, keeping the state each decision returns;
3. write every run's events (optimistically, at the seq the decision was made on), the
   `runs`/`run_steps` rows, timers and the outbox messages the effects imply, in ONE
   transaction;
4. publish the outbox messages and let the consumer commit offsets; their rows are
   deleted by a later batch's transaction (`sending`).
A crash before 3 redelivers the batch; a crash between 3 and 4 leaves outbox rows that the
relay publishes. Either way every command is decided again against the committed state,
where it is already applied, so it decides nothing: exactly-once effects on run state.

Poison never blocks: commands are screened before they are decided (`screening`), and a
batch whose commit still fails deterministically (Postgres or the encoder refuses a
value, the decider raises) is split, run by run and then command by command, so the
commands that cannot be written go to the dead-letter topic with the reason while every
other run of the batch proceeds. Only transient failures (database or broker away)
redeliver the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from tideflow.bus import CodecError, RawOutgoing, encode_outgoing
from tideflow.core import (
    CancelTimer,
    Effect,
    Event,
    Limits,
    RunCommand,
    RunContext,
    RunState,
    RunStatus,
    ScheduleTimer,
    StartRun,
    StepError,
    StepResult,
    decide,
    effects,
    event_to_record,
    ids,
)
from tideflow.scheduler import metrics
from tideflow.scheduler.observe import observe_run
from tideflow.scheduler.projections import changed_steps, run_record, unstarted_record
from tideflow.scheduler.rejected_starts import START_REJECTED, rejected_start_batch
from tideflow.scheduler.screening import screen
from tideflow.scheduler.sending import OutboxSender
from tideflow.scheduler.snapshots import snapshot_due, snapshot_of
from tideflow.scheduler.timers import fire_timer_message
from tideflow.scheduler.tracing import BatchTrace, RunTracer
from tideflow.store import (
    CommitBatch,
    CommitResult,
    ConcurrencyConflict,
    InvalidData,
    NewEvent,
    NotFound,
    OutboxMessage,
    OutboxStore,
    RunAppend,
    RunConflict,
    RunLog,
    RunQueries,
    RunRecord,
    RunTraces,
    SentOutbox,
    Snapshot,
    StepLogStore,
    StepRecord,
    Timer,
    TimerKey,
)
from tideflow.wire import (
    StartRequest,
    WireCommand,
    command_envelope,
    decode_command,
    effect_messages,
    step_logs,
)

if TYPE_CHECKING:
    from tideflow.bus import Batch, Bus, Message
    from tideflow.scheduler.definitions import Definitions
    from tideflow.scheduler.states import RunStates

log = logging.getLogger(__name__)


class BatchStore(RunLog, OutboxStore, StepLogStore, RunTraces, RunQueries, Protocol):
    """The ports a batch writes through: the log, the outbox it drains, the step logs,
    the runs' trace contexts it reads, and the `runs` row of a run not started yet."""


GROUP = "tideflow-scheduler"
OUTBOX_CLAIM = timedelta(seconds=30)
MAX_CONFLICT_RETRIES = 5
SUBWORKFLOW_NOT_FOUND = "WorkflowNotFound"


class Unprocessable(Exception):  # noqa: N818 - reads as what happened
    """Deciding a command, or turning its events into rows and messages, raised: a bug or a
    value the code cannot handle. Doing it again raises again, so the command is isolated
    like a value Postgres refuses, never retried for ever."""


_DETERMINISTIC = (InvalidData, CodecError, Unprocessable)
"""Failures that repeat on every delivery: isolate the command instead of retrying."""


@dataclass
class RunWork:
    """What one batch does to one run."""

    run_id: str
    tenant_id: str
    before: RunState | None
    state: RunState
    context: RunContext | None
    """The run's decider context (its pinned definition and memos), kept with its state."""
    events: list[Event] = field(default_factory=list)
    presumed_new: bool = False
    """Started by this batch and not read from the log (see `_commit_retrying`)."""
    row: RunRecord | None = None
    """The `runs` row the starter wrote, read for a command that came before the StartRun."""


class CommandHandler:
    """Decides batches of commands; one instance per scheduler process."""

    def __init__(
        self,
        *,
        store: BatchStore,
        bus: Bus,
        states: RunStates,
        definitions: Definitions,
        snapshot_every: int = 100,
        limits: Limits | None = None,
        signal_bytes: int = 256 * 1024,
    ) -> None:
        self._snapshot_every = snapshot_every
        self._limits = limits or Limits()
        self._signal_bytes = signal_bytes
        self._store = store
        self._bus = bus
        self._states = states
        self._definitions = definitions
        self._tracer = RunTracer(store=store)
        self._sender = OutboxSender(bus, store)
        self.committed = asyncio.Event()
        """Set whenever a batch's events are committed: wakes the event publisher."""

    async def drain(self) -> None:
        """Wait until what committed batches send went out (at shutdown; tests)."""
        await self._sender.drain()

    async def __call__(self, batch: Batch) -> None:
        started = time.perf_counter()
        commands = await self._decode(batch)
        try:
            await self._commit_retrying(commands)
        except _DETERMINISTIC as e:
            log.warning("batch of %d commands failed (%s); isolating the culprit", len(batch), e)
            await self._isolate(commands)
        await self._save_step_logs(commands)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(batch))

    async def _commit_retrying(self, commands: list[tuple[Message, WireCommand]]) -> None:
        """Decide and commit, again from the log after a conflict.

        The first try presumes that a run whose first command here is its StartRun is new
        (unless cached), so a batch of starts reads nothing: a redelivered StartRun of a
        run that did start conflicts at the commit (its events are appended at seq 0 only
        if the log has none), and the next try reads every run from the log."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            try:
                await self._decide_and_commit(commands, presume_new=attempt == 0)
            except ConcurrencyConflict as conflict:
                # Another replica owned these runs for a while: reload them from the log.
                metrics.CONFLICTS.inc()
                log.info("append conflict on %s (try %d)", sorted(conflict.run_ids), attempt + 1)
                self._states.forget(conflict.run_ids)
            else:
                return
        raise ConcurrencyConflict(message="batch kept conflicting; it will be redelivered")

    async def _isolate(self, commands: list[tuple[Message, WireCommand]]) -> None:
        """Commit run by run, then a failing run command by command; dead-letter what
        still fails. States of failing runs are reloaded from the log each time."""
        runs: dict[str, list[tuple[Message, WireCommand]]] = {}
        for item in commands:
            runs.setdefault(item[1].run_id, []).append(item)
        for run_id, run_commands in runs.items():
            self._states.forget({run_id})
            try:
                await self._commit_retrying(run_commands)
                continue
            except _DETERMINISTIC:
                self._states.forget({run_id})
            for item in run_commands:
                try:
                    await self._commit_retrying([item])
                except _DETERMINISTIC as e:
                    self._states.forget({run_id})
                    reason = f"{type(e).__name__}: {e}"[:4096]
                    if isinstance(item[1], StartRequest):
                        await self._reject_start(
                            item[1], START_REJECTED, f"the run could not start: {reason}",
                            keep_input=False,
                        )  # fmt: skip
                    await self._dead_letter(item[0], "scheduler.poison_command", reason)

    async def _decode(self, batch: Batch) -> list[tuple[Message, WireCommand]]:
        decoded: list[tuple[Message, WireCommand]] = []
        for message in batch:
            try:
                command = decode_command(message.envelope)
            except (CodecError, TypeError, ValidationError, ValueError) as e:
                await self._dead_letter(message, "scheduler.not_a_command", str(e))
                continue
            screened = screen(command, limits=self._limits, signal_bytes=self._signal_bytes)
            if screened.command is None:
                rejected = screened.rejected
                code = f"scheduler.{rejected.code.value}" if rejected else "scheduler.rejected"
                await self._dead_letter(message, code, rejected.message if rejected else "")
                continue
            decoded.append((message, screened.command))
        return decoded

    async def _save_step_logs(self, commands: list[tuple[Message, WireCommand]]) -> None:
        """Log lines that travelled with step results; best effort, after the commit."""
        lines = [line for message, _ in commands for line in step_logs(message.envelope)]
        if lines:
            try:
                await self._store.append_logs(lines)
            except Exception:
                log.exception("saving %d step log lines failed", len(lines))

    async def _dead_letter(self, message: Message, code: str, reason: str) -> None:
        metrics.DEAD_LETTERS.labels(code).inc()
        log.warning("dead-lettering %s: %s", message.envelope.type, reason)
        await self._bus.dead_letter(message, reason=reason, code=code, group=GROUP)

    async def _decide_and_commit(
        self, commands: list[tuple[Message, WireCommand]], *, presume_new: bool = False
    ) -> None:
        traced = await self._tracer.batch(commands)
        try:
            states = await self._decide_and_commit_traced(commands, traced, presume_new)
        except BaseException as e:
            traced.fail(e)
            raise
        traced.finish(states)

    async def _decide_and_commit_traced(
        self, commands: list[tuple[Message, WireCommand]], traced: BatchTrace, presume_new: bool
    ) -> dict[str, RunState]:
        """Decide, commit and publish a batch; the states it left its runs in."""
        now = datetime.now(UTC)
        deciding = time.perf_counter()
        work: dict[str, RunWork] = {}
        starting = _starting(commands) if presume_new else set()
        states, presumed = await self._states.get_many(
            {command.run_id for _, command in commands}, presumed_new=starting
        )
        for message, wire_command in commands:
            run = work.get(wire_command.run_id)
            if run is None:
                state = states[wire_command.run_id]
                tenant = message.envelope.tenant_id or "default"
                context = self._states.context(wire_command.run_id, state)
                run = RunWork(wire_command.run_id, tenant, state, state or RunState(), context,
                              presumed_new=wire_command.run_id in presumed)  # fmt: skip
                work[run.run_id] = run
            traced.add(message, wire_command)
            command: RunCommand | None
            if isinstance(wire_command, StartRequest):
                command = await self._start_command(message, wire_command, run)
                if command is None:
                    continue
            else:
                if run.state.status is RunStatus.PENDING and not await self._known(run, message):
                    continue
                command = wire_command
            metrics.COMMANDS.labels(command.type).inc()
            with traced.active(run.run_id):
                _decide_into(run, command, now)
            # each decision is bounded (the expression budget); between two of them, the
            # rest of the process (in `tide dev`: the API too) gets the event loop
            await asyncio.sleep(0)
        metrics.DECIDE_SECONDS.observe(time.perf_counter() - deciding)
        changed = [run for run in work.values() if run.events]
        if not changed:
            return {run.run_id: run.state for run in work.values()}
        try:
            commit, outgoing = self._commit_batch(changed, now, traced)
        except CodecError:
            raise
        except Exception as e:
            log.exception("encoding the events of %d runs raised", len(changed))
            raise Unprocessable(f"encoding events raised {e!r}") from e
        result = await self._commit(commit)
        for run in changed:
            self._states.put(run.run_id, run.state, run.context)
            observe_run(run.before, run.state, run.events,
                        workflow=run.row.workflow_id if run.row else None)  # fmt: skip
        rows = [
            SentOutbox(outbox_id, message.tenant_id)
            for outbox_id, message in zip(result.outbox_ids, commit.outbox, strict=True)
        ]
        await self._publish(outgoing, rows)
        return {run.run_id: run.state for run in work.values()}

    async def _commit(self, commit: CommitBatch) -> CommitResult:
        """Commit a batch, deleting with it the rows of earlier batches that went out."""
        committing = time.perf_counter()
        sent = self._sender.take_sent()
        try:
            result = await self._store.commit_batch(replace(commit, sent_outbox=sent))
        except BaseException:
            self._sender.give_back(sent)
            raise
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - committing)
        if result.events:
            self.committed.set()
        return result

    async def _known(self, run: RunWork, message: Message) -> bool:
        """Whether a run not started yet exists (its starter wrote its `runs` row), so a
        command that overtook its StartRun is decided (see the core's `_early`): a cancel
        must not be lost to the order of two messages. A run nobody recorded is unknown:
        the command is dead-lettered. Read only for commands ahead of a start (rare)."""
        if run.row is None:
            try:
                run.row = await self._store.get_run(run.run_id, tenant_id=run.tenant_id)
            except NotFound:
                await self._dead_letter(message, "scheduler.unknown_run", f"no run {run.run_id!r}")
                return False
        return True

    async def _start_command(
        self, message: Message, request: StartRequest, run: RunWork
    ) -> StartRun | None:
        if run.state.status is not RunStatus.PENDING:
            return None  # a redelivered StartRun, or a run cancelled before it: nothing
        try:
            version, pinned = await self._definitions.get(
                request.tenant_id, request.workflow, request.version
            )
        except NotFound:
            if run.presumed_new:  # before failing a start, make sure it is not a repeat
                raise ConcurrencyConflict(
                    (RunConflict(run.run_id, 0, -1),), message="checking a start in the log"
                ) from None
            reason = (
                f"workflow {request.workflow!r} version {request.version or 'latest'} "
                "is not published"
            )
            await self._reject_start(request, SUBWORKFLOW_NOT_FOUND, reason, keep_input=True)
            await self._dead_letter(message, "scheduler.unknown_workflow", reason)
            return None
        run.context = RunContext(pinned)
        return replace(request, version=version).with_definition(pinned.definition, self._limits)

    async def _reject_start(
        self, request: StartRequest, error_type: str, reason: str, *, keep_input: bool
    ) -> None:
        """Close a run whose start is dead-lettered as failed (see `rejected_starts`), and
        tell its parent run, if any, so neither waits for ever."""
        if request.parent is not None:
            await self._fail_parent(request, reason)
        # a signal may have come before the start (buffered in the log): end after it
        state = await self._states.get(request.run_id)
        if state is not None and state.status is not RunStatus.PENDING:
            return  # the run started, or was closed, already
        after_seq = state.last_seq if state is not None else 0
        now = datetime.now(UTC)
        for keep in (True, False) if keep_input else (False,):
            batch = rejected_start_batch(
                request, error_type=error_type, reason=reason, now=now, keep_input=keep,
                after_seq=after_seq,
            )  # fmt: skip
            try:
                await self._store.commit_batch(batch)
            except ConcurrencyConflict:
                return  # the run has events: it started, or was closed, already
            except InvalidData:
                continue  # the input is what Postgres refuses: write the row without it
            except Exception:
                log.exception("marking run %s failed raised", request.run_id)
                return
            self._states.forget({request.run_id})
            self.committed.set()
            metrics.RUNS_ENDED.labels(request.workflow, "failed").inc()
            return

    async def _fail_parent(self, request: StartRequest, reason: str) -> None:
        """A subworkflow naming a workflow that does not exist fails its step at once
        (never a silent wait): the child run cannot start, so its parent hears it now."""
        parent = request.parent
        assert parent is not None  # noqa: S101 - checked by the caller
        result = StepResult(
            command_id=ids.child_missing_command_id(request.run_id), run_id=parent.run_id,
            step=parent.step,
            attempt=parent.attempt, ok=False,
            error=StepError(type=SUBWORKFLOW_NOT_FOUND, message=f"subworkflow: {reason}",
                            retryable=False),
        )  # fmt: skip
        await self._bus.publish(
            self._bus.topics.runs, parent.run_id,
            command_envelope(result, tenant_id=request.tenant_id),
        )  # fmt: skip

    def _commit_batch(
        self, runs: list[RunWork], now: datetime, traced: BatchTrace
    ) -> tuple[CommitBatch, list[RawOutgoing]]:
        appends: list[RunAppend] = []
        records: list[RunRecord] = []
        steps: list[StepRecord] = []
        snapshots: list[Snapshot] = []
        timers: list[Timer] = []
        cancel_timers: list[TimerKey] = []
        outgoing: list[RawOutgoing] = []
        tenants: list[str] = []
        for run in runs:
            records_ = [event_to_record(e) for e in run.events]
            appends.append(
                RunAppend(
                    run_id=run.run_id,
                    expected_seq=run.before.last_seq if run.before else 0,
                    events=[NewEvent(t, d) for t, d in records_],
                    tenant_id=run.tenant_id,
                )
            )
            record = (
                run_record(run.state, tenant_id=run.tenant_id)
                if run.state.definition is not None or run.row is None
                else unstarted_record(run.row, run.state)
            )
            if (traceparent := traced.started_trace(run.run_id)) is not None:
                record = replace(record, traceparent=traceparent)
            records.append(record)
            before_seq = run.before.last_seq if run.before else 0
            if snapshot_due(
                before_seq, run.state.last_seq, self._snapshot_every, len(run.state.steps)
            ):
                snapshots.append(snapshot_of(run.state, tenant_id=run.tenant_id))
            steps.extend(changed_steps(run.before, run.state, tenant_id=run.tenant_id))
            run_effects = effects(run.state, run.events)
            run_timers = _timers(run_effects, run.tenant_id)
            timers.extend(t for t in run_timers if t.fire_at > now)
            # a timer already due (a foreach resuming, `delay: 0s`) is fired through the
            # outbox of this very transaction: as durable as a timer row, without waiting
            # for the next poll of the timer loop
            due = [t for t in run_timers if t.fire_at <= now]
            cancel_timers.extend(
                TimerKey(e.run_id, e.timer_id) for e in run_effects if isinstance(e, CancelTimer)
            )
            with traced.active(run.run_id):  # the messages carry the run's span
                messages = [fire_timer_message(t, self._bus.topics.runs) for t in due]
                messages += effect_messages(
                    run_effects, topics=self._bus.topics, tenant_id=run.tenant_id
                )
                # encoded once: the outbox row holds exactly what is published right after
                outgoing.extend(encode_outgoing(message) for message in messages)
            tenants.extend(run.tenant_id for _ in messages)
        outbox = [
            OutboxMessage(topic=raw.topic, payload=raw.value, key=raw.key, headers=raw.headers,
                          tenant_id=tenant)
            for raw, tenant in zip(outgoing, tenants, strict=True)
        ]  # fmt: skip
        batch = CommitBatch(
            appends=appends,
            runs=records,
            steps=steps,
            snapshots=snapshots,
            outbox=outbox,
            outbox_claimed_for=OUTBOX_CLAIM,
            **_net_timers(timers, cancel_timers),
        )
        return batch, outgoing

    async def _publish(self, outgoing: list[RawOutgoing], rows: list[SentOutbox]) -> None:
        """Hand a committed batch's messages to the sender, which publishes them in the
        background in commit order (on failure the relay publishes the rows later)."""
        await self._sender.send(outgoing, rows)


def _starting(commands: list[tuple[Message, WireCommand]]) -> set[str]:
    """The runs whose first command in the batch is their StartRun."""
    first: dict[str, WireCommand] = {}
    for _, command in commands:
        first.setdefault(command.run_id, command)
    return {run_id for run_id, command in first.items() if isinstance(command, StartRequest)}


def _decide_into(run: RunWork, command: RunCommand, now: datetime) -> None:
    """Decide one command: the run's work takes the decided state and events."""
    try:
        decided = decide(run.state, command, now, run.context)
        run.state = decided.state
        run.events.extend(decided.events)
    except Exception as e:
        log.exception("deciding %s for run %s raised", command.type, run.run_id)
        raise Unprocessable(f"deciding {command.type} raised {e!r}") from e


def _net_timers(timers: list[Timer], cancels: list[TimerKey]) -> dict[str, Any]:
    """A timer set and cancelled within one batch (a task started at once) is neither
    written nor deleted (the store deletes before it inserts, so it would be left set)."""
    both = {TimerKey(t.run_id, t.timer_id) for t in timers} & set(cancels)
    if both:
        timers = [t for t in timers if TimerKey(t.run_id, t.timer_id) not in both]
        cancels = [key for key in cancels if key not in both]
    return {"timers": timers, "cancel_timers": cancels}


def _timers(run_effects: list[Effect], tenant_id: str) -> list[Timer]:
    return [
        Timer(
            timer_id=e.timer_id,
            run_id=e.run_id,
            fire_at=e.fire_at,
            kind=e.kind.value,
            tenant_id=tenant_id,
        )
        for e in run_effects
        if isinstance(e, ScheduleTimer)
    ]
