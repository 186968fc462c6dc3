"""Every command survives the trip through its protobuf envelope unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tideflow.bus import Topics, decode_envelope, encode_envelope, payload_of, pb
from tideflow.core import (
    ApprovalDecision,
    ApprovalVote,
    Cancel,
    CancelTask,
    DispatchTask,
    FireTimer,
    NotifyParent,
    ParentLink,
    ReplayOrigin,
    Restored,
    RestoredItem,
    Signal,
    StartChildRun,
    StartRun,
    StepAccepted,
    StepError,
    StepPoll,
    StepResult,
    parse_definition,
)
from tideflow.nodes import StepFailure, StepPending, StepSuccess
from tideflow.wire import (
    StartRequest,
    command_envelope,
    decode_command,
    effect_messages,
    result_envelope,
    task_of,
)

pytestmark = pytest.mark.unit

TOPICS = Topics()
DEFINITION = parse_definition(
    {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "wf"},
        "spec": {"nodes": [{"id": "a", "type": "transform", "config": {"value": 1}}]},
    }
)


def wire(envelope: pb.Envelope) -> pb.Envelope:
    return decode_envelope(encode_envelope(envelope))


@pytest.mark.parametrize(
    "command",
    [
        StepResult(command_id="c1", run_id="r", step="a", attempt=2, ok=True, output={"x": [1]}),
        StepResult(
            command_id="c2",
            run_id="r",
            step="a",
            attempt=1,
            ok=False,
            error=StepError(type="Http500", message="boom", retryable=True),
        ),
        StepResult(
            command_id="c2p",
            run_id="r",
            step="a",
            attempt=3,
            ok=True,
            poll=StepPoll(after=timedelta(seconds=5), state={"jobId": "j-1"}),
        ),
        StepAccepted(command_id="c3", run_id="r", step="a", attempt=1, worker="w1"),
        FireTimer(command_id="c4", run_id="r", timer_id="t1"),
        Signal(command_id="c5", run_id="r", name="go", data={"ok": True}),
        ApprovalDecision(command_id="c6", run_id="r", step="ap", approved=False, decided_by="u"),
        ApprovalDecision(
            command_id="c6b",
            run_id="r",
            step="ap",
            approved=True,
            decided_by="bob",
            comment="fine",
            attempt=2,
            decided_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            decisions=(
                ApprovalVote(
                    by="alice",
                    decision="approve",
                    comment=None,
                    decided_at=datetime(2026, 1, 2, 3, 0, tzinfo=UTC),
                ),
                ApprovalVote(
                    by="bob",
                    decision="approve",
                    comment="fine",
                    decided_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                ),
            ),
        ),
        Cancel(command_id="c7", run_id="r", reason="stop", by="admin"),
    ],
)
def test_run_commands_round_trip(command: object) -> None:
    envelope = wire(command_envelope(command, tenant_id="t1"))  # type: ignore[arg-type]
    assert envelope.tenant_id == "t1"
    assert decode_command(envelope) == command


def test_start_run_travels_without_its_definition() -> None:
    start = StartRun(
        command_id="s1",
        run_id="r",
        workflow="wf",
        version=3,
        definition=DEFINITION,
        input={"n": 1},
        parent=ParentLink(run_id="p", step="sub", attempt=1),
        replay_of=ReplayOrigin(run_id="old", seq=4),
        restored=Restored(
            outputs={"a": 1}, items={"each": {2: RestoredItem(item={"x": 1}, output="c")}}
        ),
    )
    decoded = decode_command(wire(command_envelope(start, tenant_id="default")))
    assert isinstance(decoded, StartRequest)
    assert (decoded.workflow, decoded.version) == ("wf", 3)
    assert decoded.with_definition(DEFINITION) == start


def test_dispatch_becomes_a_task_and_its_result_a_command() -> None:
    dispatch = DispatchTask(
        run_id="r",
        step="call",
        node_id="call",
        attempt=2,
        queue="gpu",
        node_type="http",
        config={"url": "http://x", "headers": {"k": "{{ secrets.key }}"}},
        secret_paths=(("headers", "k"),),
        timeout=timedelta(seconds=5),
        deadline=datetime(2030, 1, 1, tzinfo=UTC),
        idempotency_key="order-17:call",
    )
    [message] = effect_messages([dispatch], topics=TOPICS, tenant_id="default")
    assert message.topic == "tideflow.tasks.gpu"
    envelope = wire(message.envelope)
    task = payload_of(envelope)
    assert isinstance(task, pb.Task)
    spec, secret_paths = task_of(envelope, task)
    assert (spec.node_id, spec.attempt, spec.timeout) == ("call", 2, timedelta(seconds=5))
    assert secret_paths == [("headers", "k")]
    assert spec.idempotency_key == "order-17:call"
    started = datetime.now(UTC)
    for outcome in (StepSuccess({"status": 200}), StepFailure("Http404", "gone", retryable=False)):
        result = result_envelope(spec, outcome, topics=TOPICS, started_at=started)
        command = decode_command(wire(result.envelope))
        assert isinstance(command, StepResult)
        assert command.command_id == "r:call:2:result"
        assert command.ok is isinstance(outcome, StepSuccess)


def test_child_runs_cancellations_and_parent_notices_are_routed() -> None:
    effects = [
        StartChildRun(
            run_id="p",
            child_run_id="c",
            parent_step="sub",
            attempt=1,
            workflow="child",
            version=None,
            input={"a": 1},
        ),
        CancelTask(run_id="p", step="call", attempt=1, queue="io"),
        NotifyParent(run_id="c", parent_run_id="p", step="sub", attempt=1, ok=True, output=5),
    ]
    start, cancel, notify = effect_messages(effects, topics=TOPICS, tenant_id="default")
    child = decode_command(wire(start.envelope))
    assert isinstance(child, StartRequest)
    assert child.parent == ParentLink(run_id="p", step="sub", attempt=1)
    assert cancel.topic == "tideflow.tasks.io.cancel"
    assert isinstance(payload_of(wire(cancel.envelope)), pb.CancelTask)
    result = decode_command(wire(notify.envelope))
    assert isinstance(result, StepResult)
    assert (result.run_id, result.step, result.output) == ("p", "sub", 5)


def test_a_pending_attempt_hands_its_state_to_the_next_one() -> None:
    dispatch = DispatchTask(
        run_id="r", step="ocr", node_id="ocr", attempt=4, queue="default", node_type="ocr",
        config={"document": "s3://b/k"}, poll_state={"jobId": "j-9", "polls": 2},
    )  # fmt: skip
    [message] = effect_messages([dispatch], topics=TOPICS, tenant_id="default")
    envelope = wire(message.envelope)
    task = payload_of(envelope)
    assert isinstance(task, pb.Task)
    spec, _ = task_of(envelope, task)
    assert spec.poll_state == {"jobId": "j-9", "polls": 2}
    pending = StepPending(timedelta(seconds=7.5), {"jobId": "j-9", "polls": 3})
    result = result_envelope(spec, pending, topics=TOPICS, started_at=datetime.now(UTC))
    command = decode_command(wire(result.envelope))
    assert isinstance(command, StepResult)
    assert (command.ok, command.output) == (True, None)
    assert command.poll == StepPoll(
        after=timedelta(seconds=7.5), state={"jobId": "j-9", "polls": 3}
    )
