"""A dead letter always fits in a record, whatever the record it carries.

A dead letter wraps the original record byte for byte; for a record close to the 16 MiB
record limit the dead letter itself was over it, so publishing it failed and the
partition stalled behind the poison it was meant to move aside.
"""

from __future__ import annotations

import pytest

from tideflow.bus import MAX_MESSAGE_BYTES, decode_envelope, payload_of, pb
from tideflow.bus._batch import dead_letter_record
from tideflow.bus._records import Record

pytestmark = pytest.mark.unit

REASON = "not an Envelope: Error parsing message"


def size(letter: object) -> int:
    key: bytes = getattr(letter, "key", None) or b""
    headers = getattr(letter, "headers", ())
    value: bytes = getattr(letter, "value", b"")
    return len(value) + len(key) + sum(len(k) + len(v) for k, v in headers)


def letter_for(record: Record, reason: str = REASON) -> tuple[int, pb.DeadLetter]:
    raw = dead_letter_record(
        record, reason=reason, code="bus.decode.invalid_protobuf", group="scheduler",
        dlq_topic="t.dlq",
    )  # fmt: skip
    letter = payload_of(decode_envelope(raw.value))
    assert isinstance(letter, pb.DeadLetter)
    return size(raw), letter


def test_a_small_record_is_kept_whole() -> None:
    record = Record("t.runs", 0, 7, b"run-1", b"\xff garbage", (("h", b"v"),))
    _, letter = letter_for(record)
    assert letter.original_value == record.value
    assert letter.reason == REASON
    assert [(h.key, h.value) for h in letter.original_headers] == [("h", b"v")]


def test_a_record_at_the_limit_is_trimmed_to_fit_with_its_reason_and_code() -> None:
    value = b"\xff" + b"x" * (MAX_MESSAGE_BYTES - 2048)
    record = Record("t.runs", 1, 42, b"run-big", value, (("h", b"v"),))
    weight, letter = letter_for(record)
    assert weight <= MAX_MESSAGE_BYTES - 16 * 1024  # room for Kafka's own framing
    assert letter.error_code == "bus.decode.invalid_protobuf"
    assert letter.reason.startswith(REASON)
    assert f"of {len(value):,} bytes" in letter.reason  # says what was cut
    assert value.startswith(letter.original_value)
    assert len(letter.original_value) > MAX_MESSAGE_BYTES // 2
    assert (letter.original_topic, letter.original_partition, letter.original_offset) == (
        "t.runs", 1, 42,
    )  # fmt: skip
    assert letter.original_key == b"run-big"


def test_huge_headers_and_a_huge_reason_are_cut_too() -> None:
    headers = tuple((f"h{i}", b"y" * (1024 * 1024)) for i in range(16))
    record = Record("t.runs", 0, 3, b"k", b"\xff", headers)
    weight, letter = letter_for(record, reason="boom " * 2_000_000)
    assert weight <= MAX_MESSAGE_BYTES - 16 * 1024
    assert letter.reason.startswith("boom boom")
    assert "cut from 10,000,000 characters" in letter.reason
    assert "16 headers" in letter.reason
    assert list(letter.original_headers) == []
    assert letter.error_code == "bus.decode.invalid_protobuf"
