"""Every identity the engine derives, made here and nowhere else.

Derived ids are what makes at-least-once delivery harmless: a redelivered command, a
re-sent task or a timer that fires twice carries the same id and is recognised. Each id
is scoped as widely as the place that stores or compares it:

- step keys (`each[3]`, `save.compensate`) and timer ids (`pause/delay/1`) live inside
  one run: run state, run events and `run_steps` rows are all keyed by run, and so is the
  `timers` table (primary key `(run_id, timer_id)`, migration 0003). A timer is only
  identified by `TimerRef(run_id, timer_id)` outside the core;
- command ids are compared per run (the run's applied set) but also travel as bus message
  ids, which share topics with every other run: they all contain the run id;
- child run ids are run ids, global: a UUID derived from the parent run, step and attempt;
  so are approval ids (the approvals table is shared by every run).

Changing any format here changes recorded histories (golden replays pin the run-scoped
ones), so they only ever change deliberately.
"""

import uuid
from typing import NamedTuple

_CHILD_NAMESPACE = uuid.UUID("5d7f3c1e-7a51-4a55-9a36-0a4f0b6f2a11")
_APPROVAL_NAMESPACE = uuid.UUID("0f3f5b0e-2b0a-4f7e-9b44-51c1a5b4a7d3")
_COMPENSATION_SUFFIX = ".compensate"


class TimerRef(NamedTuple):
    """The identity of a durable timer wherever timers of many runs meet (store, bus)."""

    run_id: str
    timer_id: str


# ---- run-scoped ---------------------------------------------------------------------------


def timer_id(step: str, kind: str, attempt: int) -> str:
    """The id of a step attempt's timer of `kind` (unique within its run only)."""
    return f"{step}/{kind}/{attempt}"


def foreach_continue_timer_id(step: str, next_index: int) -> str:
    """The timer that resumes foreach `step` at item `next_index` (one per resume, so each
    fires as its own command)."""
    return f"{step}/foreach_continue/{next_index}"


def compensation_key(step: str) -> str:
    """The key of the step that compensates `step`."""
    return f"{step}{_COMPENSATION_SUFFIX}"


def compensated_step(key: str) -> str:
    """The step a compensation step (`compensation_key`) compensates."""
    return key.removesuffix(_COMPENSATION_SUFFIX)


def item_key(step: str, index: int) -> str:
    """The key of item `index` of the foreach step `step`."""
    return f"{step}[{index}]"


def agent_turn_key(step: str, turn: int) -> str:
    """The key of model call number `turn` (1-based) of the agent step `step`."""
    return f"{step}.turn[{turn}]"


def agent_call_key(step: str, turn: int, call: int) -> str:
    """The key of tool call `call` (0-based) the model asked for in `turn`."""
    return f"{agent_turn_key(step, turn)}.call[{call}]"


def agent_turn_of(key: str) -> int:
    """The turn an agent model-call or tool-call step belongs to."""
    head = key.rsplit(".turn[", 1)[1]
    return int(head.split("]", 1)[0])


# ---- global ---------------------------------------------------------------------------------


def child_run_id(run_id: str, step: str, attempt: int) -> str:
    """The run id of the child run an attempt of a `subworkflow` step starts."""
    return str(uuid.uuid5(_CHILD_NAMESPACE, f"{run_id}/{step}/{attempt}"))


def approval_id(run_id: str, step: str, attempt: int) -> str:
    """The id of the approval an attempt of an `approval` step asks for (global)."""
    return str(uuid.uuid5(_APPROVAL_NAMESPACE, f"{run_id}/{step}/{attempt}"))


def approval_decision_command_id(approval: str) -> str:
    """The ApprovalDecision that closes an approval: one per approval."""
    return f"approval:{approval}"


def child_missing_command_id(child_run_id: str) -> str:
    """The failed StepResult a parent gets when its child run's workflow does not exist."""
    return f"{child_run_id}:not-found"


def start_command_id(run_id: str) -> str:
    """The StartRun command (and message) id of a run: one start per run id."""
    return f"{run_id}:start"


def fire_timer_command_id(timer: TimerRef) -> str:
    """The FireTimer command (and message) id of one timer of one run."""
    return f"{timer.run_id}:timer:{timer.timer_id}"


def result_command_id(run_id: str, step: str, attempt: int) -> str:
    """The StepResult command (and message) id of one attempt of one step."""
    return f"{run_id}:{step}:{attempt}:result"


def accepted_command_id(run_id: str, step: str, attempt: int) -> str:
    """The StepAccepted a worker sends when it starts an attempt (at most one matters)."""
    return f"{run_id}:{step}:{attempt}:accepted"


def task_message_id(run_id: str, step: str, attempt: int) -> str:
    """The message id of the task that dispatches one attempt to workers."""
    return f"{run_id}:{step}:{attempt}:task"


def cancel_task_message_id(run_id: str, step: str, attempt: int) -> str:
    """The message id of the cancellation of one dispatched attempt."""
    return f"{run_id}:{step}:{attempt}:cancel"


def child_cancel_command_id(child_run_id: str) -> str:
    """The Cancel a parent sends to a child run whose step it abandoned."""
    return f"{child_run_id}:cancel-by-parent"


def child_ended_command_id(child_run_id: str) -> str:
    """The StepResult a child run sends its parent when it ends (once per child run)."""
    return f"{child_run_id}:ended"


def event_message_id(run_id: str, seq: int) -> str:
    """The message id of event `seq` of a run on the public event stream."""
    return f"{run_id}:{seq}"
