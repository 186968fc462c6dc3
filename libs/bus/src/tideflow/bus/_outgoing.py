"""What is sent: an envelope for a keyed topic, and the bytes and headers it becomes.

`encode_outgoing` is the one place an envelope becomes a record. Services that write a
transactional outbox store exactly what it returns and hand the same value to
`Bus.publish_raw_batch` after their commit, so every message is encoded once and carries
the same headers whether it was sent directly or relayed from the outbox later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tideflow.bus._codec import encode_envelope

if TYPE_CHECKING:
    from tideflow.bus._proto.v1.envelope_pb2 import Envelope

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish; the key (the run id) picks the partition."""

    topic: str
    key: str
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class RawOutgoing:
    """Bytes to publish as they are (encoded envelopes, outbox rows, dead letters, tests of
    poison input)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = ()


def envelope_headers(envelope: Envelope) -> Headers:
    """Kafka headers mirroring the envelope, for tools that cannot read protobuf."""
    headers = [
        ("tideflow-type", envelope.type.encode()),
        ("tideflow-id", envelope.message_id.encode()),
    ]
    if envelope.trace.traceparent:
        headers.append(("traceparent", envelope.trace.traceparent.encode()))
    if envelope.trace.tracestate:
        headers.append(("tracestate", envelope.trace.tracestate.encode()))
    return tuple(headers)


def encode_outgoing(message: Outgoing) -> RawOutgoing:
    """The record a message becomes: what an outbox row stores and what the bus sends."""
    return RawOutgoing(
        topic=message.topic,
        key=message.key.encode(),
        value=encode_envelope(message.envelope),
        headers=envelope_headers(message.envelope),
    )
