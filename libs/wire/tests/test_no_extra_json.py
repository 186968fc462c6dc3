"""`proto/` is the contract: first-party producers put every attribute in a typed field.

`extra_json` exists for attributes a later version adds before they get their own field
(and is still read from messages an earlier version wrote). A first-party producer that
writes it hides part of the contract from every worker in another language, so:
- every message our code builds is walked, and no `extra_json` anywhere in it may be set;
- no first-party source assigns `extra_json` at all;
- what used to travel in it (secret paths, the definition's node id, start-by, step logs,
  step acceptance, a child's parent link, replay origin, restored outputs) round-trips
  through the typed fields, and the task deadline reaches the executor.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message as ProtoMessage

from tideflow.bus import (
    Topics,
    decode_envelope,
    dump_json,
    encode_envelope,
    new_envelope,
    payload_of,
    pb,
)
from tideflow.core import (
    ApprovalDecision,
    Cancel,
    CancelChildRun,
    CancelTask,
    DispatchTask,
    FireTimer,
    NotifyParent,
    ParentLink,
    ReplayOrigin,
    Restored,
    Signal,
    StartChildRun,
    StartRun,
    StepAccepted,
    StepPoll,
    StepResult,
    ids,
    parse_definition,
)
from tideflow.nodes import StepPending, StepSuccess, TaskSpec
from tideflow.store import StoredEvent
from tideflow.wire import (
    StartRequest,
    accepted_envelope,
    attach_logs,
    command_envelope,
    decode_command,
    effect_messages,
    event_message,
    result_envelope,
    step_logs,
    task_of,
)

pytestmark = pytest.mark.unit

TOPICS = Topics()
ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
DEFINITION = parse_definition(
    {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "wf"},
     "spec": {"nodes": [{"id": "a", "type": "transform", "config": {"value": 1}}]}}
)  # fmt: skip
DISPATCH = DispatchTask(
    run_id="r", step="each[3]", node_id="each", attempt=2, queue="gpu", node_type="http",
    config={"headers": {"k": "{{ secrets.key }}"}, "list": ["{{ secrets.other }}"]},
    secret_paths=(("headers", "k"), ("list", 0)), timeout=timedelta(seconds=5),
    deadline=NOW + timedelta(seconds=5), start_by=NOW + timedelta(minutes=10),
    poll_state={"jobId": "j-1"},
)  # fmt: skip
SPEC = TaskSpec(run_id="r", node_id="a", attempt=1, node_type="function", config={})


def _set_extra(message: ProtoMessage, path: str = "") -> list[str]:
    """Every `extra_json` that is set anywhere in `message`, by path."""
    found = []
    for field, value in message.ListFields():
        where = f"{path}.{field.name}"
        if field.name == "extra_json" and value:
            found.append(where)
        elif field.message_type is not None:
            values = value if field.is_repeated else [value]
            for item in values:
                if isinstance(item, ProtoMessage):
                    found += _set_extra(item, where)
    return found


def _first_party_messages() -> list[pb.Envelope]:
    envelopes = [
        m.envelope
        for m in effect_messages(
            [
                DISPATCH,
                CancelTask(run_id="r", step="a", attempt=1, queue="default"),
                StartChildRun(run_id="p", child_run_id="c", parent_step="sub", attempt=2,
                              workflow="child", input={"x": 1}, depth=3),
                CancelChildRun(run_id="p", child_run_id="c"),
                NotifyParent(run_id="c", parent_run_id="p", step="sub", attempt=1, ok=True),
            ],
            topics=TOPICS, tenant_id="t",
        )
    ]  # fmt: skip
    commands: list[Any] = [
        StartRun(command_id="s", run_id="r", workflow="wf", version=1, definition=DEFINITION,
                 parent=ParentLink(run_id="p", step="sub", attempt=2, depth=2),
                 replay_of=ReplayOrigin(run_id="old", seq=4),
                 restored=Restored(outputs={"a": 1}, order=("a",), vars={"v": 2})),
        StepResult(command_id="c", run_id="r", step="a", attempt=1, ok=True, output=1),
        StepResult(command_id="p", run_id="r", step="a", attempt=1, ok=True,
                   poll=StepPoll(after=timedelta(seconds=3), state={"jobId": "j-1"})),
        StepAccepted(command_id="acc", run_id="r", step="a", attempt=1, worker="w1"),
        FireTimer(command_id="f", run_id="r", timer_id="t"),
        Signal(command_id="g", run_id="r", name="go", data={}),
        ApprovalDecision(command_id="d", run_id="r", step="ap", approved=True),
        Cancel(command_id="x", run_id="r"),
    ]  # fmt: skip
    envelopes += [command_envelope(c, tenant_id="t") for c in commands]
    result = result_envelope(SPEC, StepSuccess(1), topics=TOPICS, started_at=NOW)
    attach_logs(result, [{"ts": NOW.isoformat(), "level": "info", "message": "hello"}])
    envelopes.append(result.envelope)
    pending = StepPending(after=timedelta(seconds=3), state={"jobId": "j-1"})
    envelopes.append(result_envelope(SPEC, pending, topics=TOPICS, started_at=NOW).envelope)
    envelopes.append(accepted_envelope(SPEC, worker="w1", topics=TOPICS).envelope)
    stored = StoredEvent(run_id="r", seq=1, type="RunStarted", data={}, recorded_at=NOW,
                         position=1)  # fmt: skip
    envelopes.append(event_message(stored, topics=TOPICS, workflow_id="wf", version=1).envelope)
    return envelopes


def wire(envelope: pb.Envelope) -> pb.Envelope:
    return decode_envelope(encode_envelope(envelope))


def test_no_first_party_message_sets_extra_json() -> None:
    offenders = {e.type: _set_extra(wire(e)) for e in _first_party_messages()}
    assert {t: paths for t, paths in offenders.items() if paths} == {}


def test_no_first_party_source_assigns_extra_json() -> None:
    writes = re.compile(r"extra_json\s*=(?!=)|extra_json\.(?:extend|append|CopyFrom)")
    sources = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py"),
               *ROOT.glob("cli/src/**/*.py")]  # fmt: skip
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        if "_proto" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if writes.search(line)
    ]
    assert offenders == []


def test_a_task_carries_node_id_secret_paths_start_by_and_deadline_typed() -> None:
    [message] = effect_messages([DISPATCH], topics=TOPICS, tenant_id="t")
    envelope = wire(message.envelope)
    task = payload_of(envelope)
    assert isinstance(task, pb.Task)
    assert task.definition_node_id == "each"
    spec, paths = task_of(envelope, task)
    assert paths == [("headers", "k"), ("list", 0)]
    assert spec.start_by == NOW + timedelta(minutes=10)
    assert spec.deadline == NOW + timedelta(seconds=5)
    assert spec.poll_state == {"jobId": "j-1"}


def test_a_pending_result_asks_to_be_polled_typed() -> None:
    pending = StepPending(after=timedelta(seconds=3), state={"jobId": "j-1"})
    result = result_envelope(SPEC, pending, topics=TOPICS, started_at=NOW)
    command = decode_command(wire(result.envelope))
    assert isinstance(command, StepResult)
    assert command.poll == StepPoll(after=timedelta(seconds=3), state={"jobId": "j-1"})


def test_a_child_start_carries_its_parent_replay_and_restored_typed() -> None:
    [message] = effect_messages(
        [StartChildRun(run_id="p", child_run_id="c", parent_step="sub", attempt=2,
                       workflow="child", depth=3)], topics=TOPICS, tenant_id="t",
    )  # fmt: skip
    request = decode_command(wire(message.envelope))
    assert isinstance(request, StartRequest)
    assert request.parent == ParentLink(run_id="p", step="sub", attempt=2, depth=3)
    start = StartRun(command_id="s", run_id="r", workflow="wf", version=1, definition=DEFINITION,
                     replay_of=ReplayOrigin(run_id="old", seq=4),
                     restored=Restored(outputs={"a": 1}, order=("a",), vars=None))  # fmt: skip
    decoded = decode_command(wire(command_envelope(start, tenant_id="t")))
    assert isinstance(decoded, StartRequest)
    assert decoded.with_definition(DEFINITION) == start


def test_step_logs_and_acceptance_travel_typed() -> None:
    result = result_envelope(SPEC, StepSuccess(1), topics=TOPICS, started_at=NOW)
    attach_logs(result, [{"ts": NOW.isoformat(), "level": "warning", "message": "slow"}])
    (line,) = step_logs(wire(result.envelope))
    assert (line.level, line.message, line.ts) == ("warning", "slow", NOW)
    accepted = decode_command(wire(accepted_envelope(SPEC, worker="w1", topics=TOPICS).envelope))
    assert accepted == StepAccepted(command_id=ids.accepted_command_id("r", "a", 1), run_id="r",
                                    step="a", attempt=1, worker="w1")  # fmt: skip


def test_messages_an_earlier_version_wrote_are_still_read() -> None:
    legacy = pb.StepResult(command_id="acc", run_id="r", node_id="a", attempt=1,
                           extra_json=dump_json({"accepted": True, "worker": "w0"}))  # fmt: skip
    envelope = wire(new_envelope(legacy, tenant_id="t", run_id="r"))
    assert isinstance(decode_command(envelope), StepAccepted)
    task = pb.Task(run_id="r", node_id="a", attempt=1, node_type="function",
                   extra_json=dump_json({"nodeId": "a", "secretPaths": [["k"]],
                                         "startBy": NOW.isoformat()}))  # fmt: skip
    spec, paths = task_of(new_envelope(task, tenant_id="t", run_id="r"), task)
    assert (paths, spec.start_by) == ([("k",)], NOW)
