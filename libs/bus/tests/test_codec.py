"""Envelope codec, trace context and topic naming: the parts of the bus with no IO."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tideflow.bus import (
    CodecError,
    CodecErrorCode,
    Topics,
    decode_envelope,
    dump_json,
    encode_envelope,
    extract_trace,
    inject_trace,
    load_json,
    new_envelope,
    parse_traceparent,
    partition_for,
    payload_of,
    pb,
)

pytestmark = pytest.mark.unit

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

PAYLOADS = [
    pb.StartRun(command_id="c1", run_id="r1", workflow_id="w", input_json=b'{"a":1}'),
    pb.StepResult(
        command_id="c2",
        run_id="r1",
        node_id="n",
        attempt=2,
        failure=pb.StepFailure(error_type="http.timeout", message="slow", retryable=True),
    ),
    pb.TimerFired(command_id="c3", run_id="r1", timer_id="t", kind="retry"),
    pb.Signal(command_id="c4", run_id="r1", name="go", payload_json=b"{}"),
    pb.ApprovalDecision(
        command_id="c5", run_id="r1", node_id="a", decision=pb.Decision.DECISION_APPROVED
    ),
    pb.Cancel(command_id="c6", run_id="r1", reason="user"),
    pb.Replay(command_id="c7", run_id="r2", source_run_id="r1", from_seq=3),
    pb.Task(run_id="r1", node_id="n", attempt=1, node_type="http", config_json=b"{}"),
    pb.RunEvent(run_id="r1", seq=4, type="StepSucceeded", data_json=b"{}"),
    pb.DeadLetter(original_topic="x", original_offset=9, reason="bad", error_code="e"),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.DESCRIPTOR.name)
def test_every_payload_round_trips(payload: pb.Task) -> None:
    produced = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    envelope = new_envelope(
        payload, tenant_id="t1", run_id="r1", produced_at=produced, traceparent=TRACEPARENT
    )
    decoded = decode_envelope(encode_envelope(envelope))
    assert decoded == envelope
    assert decoded.type == payload.DESCRIPTOR.full_name
    assert payload_of(decoded) == payload
    assert decoded.produced_at.ToDatetime(tzinfo=UTC) == produced
    assert decoded.tenant_id == "t1"
    assert decoded.message_id


def test_step_result_outcome_is_a_oneof() -> None:
    result = pb.StepResult(run_id="r", success=pb.StepSuccess(output_json=b"[1]"))
    assert result.WhichOneof("outcome") == "success"
    result.failure.message = "boom"
    assert result.WhichOneof("outcome") == "failure"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff\xff\xff\xff not protobuf", CodecErrorCode.INVALID_PROTOBUF),
        (b"", CodecErrorCode.MISSING_PAYLOAD),
        (
            pb.Envelope(message_id="m", type="tideflow.v1.Task").SerializeToString(),
            CodecErrorCode.MISSING_PAYLOAD,
        ),
    ],
)
def test_undecodable_bytes_raise_a_codec_error_with_a_stable_code(
    data: bytes, code: CodecErrorCode
) -> None:
    with pytest.raises(CodecError) as raised:
        decode_envelope(data)
    assert raised.value.code is code
    assert str(raised.value).startswith(code.value)


def test_type_must_match_the_payload() -> None:
    envelope = new_envelope(pb.Cancel(run_id="r"), tenant_id="t", run_id="r")
    envelope.type = "tideflow.v1.StartRun"
    data = envelope.SerializeToString()
    with pytest.raises(CodecError) as raised:
        decode_envelope(data)
    assert raised.value.code is CodecErrorCode.TYPE_MISMATCH
    with pytest.raises(CodecError):
        encode_envelope(envelope)


def test_message_id_is_required() -> None:
    envelope = new_envelope(pb.Cancel(run_id="r"), tenant_id="t", run_id="r", message_id="x")
    envelope.message_id = ""
    with pytest.raises(CodecError) as raised:
        decode_envelope(envelope.SerializeToString())
    assert raised.value.code is CodecErrorCode.MISSING_FIELD


def test_trace_context_inject_and_extract() -> None:
    envelope = new_envelope(pb.Cancel(run_id="r"), tenant_id="t", run_id="r")
    assert extract_trace(envelope) is None
    inject_trace(envelope, TRACEPARENT, "vendor=1")
    context = extract_trace(decode_envelope(encode_envelope(envelope)))
    assert context is not None
    assert context.traceparent == TRACEPARENT
    assert context.tracestate == "vendor=1"
    assert context.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert context.span_id == "00f067aa0ba902b7"


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    ],
)
def test_invalid_traceparents_are_refused_on_write_and_ignored_on_read(value: str) -> None:
    with pytest.raises(CodecError) as raised:
        parse_traceparent(value)
    assert raised.value.code is CodecErrorCode.INVALID_TRACEPARENT
    envelope = new_envelope(pb.Cancel(run_id="r"), tenant_id="t", run_id="r")
    envelope.trace.traceparent = value
    assert extract_trace(envelope) is None


def test_json_helpers() -> None:
    value = {"a": [1, 2.5, None], "b": {"c": "d"}, "when": datetime(2025, 1, 1, tzinfo=UTC)}
    assert load_json(dump_json(value)) == {**value, "when": "2025-01-01T00:00:00+00:00"}
    assert load_json(b"") is None
    with pytest.raises(CodecError) as raised:
        load_json(b"{not json")
    assert raised.value.code is CodecErrorCode.INVALID_JSON
    with pytest.raises(CodecError):
        dump_json({"x": object()})


def test_topic_names_follow_the_prefix() -> None:
    topics = Topics(prefix="acme")
    assert (topics.runs, topics.events, topics.dlq) == ("acme.runs", "acme.events", "acme.dlq")
    assert topics.tasks("gpu-1") == "acme.tasks.gpu-1"
    assert Topics().tasks() == "tideflow.tasks.default"
    assert topics.task_cancels("gpu-1") == "acme.tasks.gpu-1.cancel"
    with pytest.raises(ValueError, match="queue"):
        topics.tasks("a.b")


def test_partitioning_is_deterministic_and_spreads_keys() -> None:
    assert [partition_for(f"run-{i}".encode(), 8, 0) for i in range(4)] == [
        partition_for(f"run-{i}".encode(), 8, 99) for i in range(4)
    ]
    assert {partition_for(f"run-{i}".encode(), 8, 0) for i in range(200)} == set(range(8))
    assert partition_for(None, 4, 6) == 2
