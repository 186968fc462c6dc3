"""A fetched batch: decoded messages, their poison dead-lettered, finished exactly once.

A batch is finished by exactly one of `commit()` (its effects are durable: move the
group's offsets past it) or `rewind()` (its handler failed: deliver it again). Records
that do not decode never reach a handler: `fetch_batch` sends them to the dead-letter
topic with the reason before it hands out the batch, and their offsets are committed with
the batch, so a poison message never blocks its partition.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from tideflow.bus._codec import decode_envelope, encode_envelope
from tideflow.bus._errors import BatchStateError, CodecError
from tideflow.bus._metrics import DEAD_LETTERS
from tideflow.bus._outgoing import RawOutgoing, envelope_headers
from tideflow.bus._proto.v1.dlq_pb2 import DeadLetter, Header
from tideflow.bus._proto.v1.envelope_pb2 import Envelope
from tideflow.bus._records import MAX_MESSAGE_BYTES, Message, Record, TopicPartition

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import timedelta

    from tideflow.bus._driver import ConsumerDriver
    from tideflow.bus._topics import Topics

logger = logging.getLogger("tideflow.bus")


class DeadLetterSink(Protocol):
    """Where undecodable records go: any bus (its raw publish and its DLQ topic)."""

    topics: Topics

    async def publish_raw_batch(self, records: Sequence[RawOutgoing]) -> None: ...


DEAD_LETTER_BYTES = MAX_MESSAGE_BYTES - 16 * 1024
"""The most a dead letter may weigh (value, key and headers): under the record limit, with
room for Kafka's own framing. A dead letter wraps its record whole, so one for a record near
the limit was over it: its publish failed, and so did the fetch, for ever."""
REASON_CHARS = 64 * 1024
"""The longest reason a dead letter keeps (an error message may quote the whole input)."""
_NOTE_ROOM = 1024
"""Bytes kept free for the note that says what was cut."""


def dead_letter_record(
    record: Record, *, reason: str, code: str, group: str, dlq_topic: str
) -> RawOutgoing:
    """The dead letter for a record; its id is derived from the record's coordinates so
    that dead-lettering the same record twice (at-least-once) is recognisable.

    It carries the record byte for byte unless that would not fit in a record: then the
    original value (then headers, then key) is cut to fit, and the reason says so.
    """
    if len(reason) > REASON_CHARS:
        reason = f"{reason[:REASON_CHARS]}… (cut from {len(reason):,} characters)"
    letter = DeadLetter(
        original_topic=record.topic,
        original_partition=record.partition,
        original_offset=record.offset,
        original_key=record.key or b"",
        original_value=record.value,
        original_headers=[Header(key=k, value=v) for k, v in record.headers],
        reason=reason,
        error_code=code,
        consumer_group=group,
    )
    letter.failed_at.FromDatetime(datetime.now(UTC))
    envelope = Envelope(
        message_id=f"dlq:{group}:{record.topic}:{record.partition}:{record.offset}",
        type=DeadLetter.DESCRIPTOR.full_name,
    )
    try:  # keep tenant, run and trace when the original envelope is readable
        original = decode_envelope(record.value)
    except CodecError:
        pass
    else:
        envelope.tenant_id = original.tenant_id
        envelope.run_id = original.run_id
        envelope.trace.CopyFrom(original.trace)
    envelope.produced_at.FromDatetime(datetime.now(UTC))
    envelope.dead_letter.CopyFrom(letter)
    value = encode_envelope(envelope)
    headers = envelope_headers(envelope)
    framing = len(record.key or b"") + sum(len(k) + len(v) for k, v in headers)
    excess = len(value) + framing - DEAD_LETTER_BYTES
    if excess > 0:
        _trim(envelope.dead_letter, excess + _NOTE_ROOM)
        value = encode_envelope(envelope)
    return RawOutgoing(topic=dlq_topic, key=record.key, value=value, headers=headers)


def _trim(letter: DeadLetter, excess: int) -> None:
    """Drop `excess` bytes of the original record from `letter`: the end of its value
    first, then its headers, then its key (the dead letter's own key is the same)."""
    cut: list[str] = []
    total = len(letter.original_value)
    keep = max(0, total - excess)
    if keep < total:
        letter.original_value = letter.original_value[:keep]
        excess -= total - keep
        cut.append(f"the original value keeps its first {keep:,} of {total:,} bytes")
    if excess > 0 and letter.original_headers:
        weight = sum(len(h.key.encode()) + len(h.value) for h in letter.original_headers)
        cut.append(f"its {len(letter.original_headers)} headers ({weight:,} bytes) are left out")
        del letter.original_headers[:]
        excess -= weight
    if excess > 0 and letter.original_key:
        cut.append("its key is left out (the dead letter's own key is the same)")
        letter.original_key = b""
    letter.reason = f"{letter.reason} [trimmed to fit in a record: {'; '.join(cut)}]"


class Batch:
    """Messages fetched together; finish it with `commit()` or `rewind()`."""

    def __init__(
        self,
        driver: ConsumerDriver,
        messages: Sequence[Message],
        *,
        next_offsets: dict[TopicPartition, int],
        dead_lettered: int = 0,
    ) -> None:
        self._driver = driver
        self.messages: tuple[Message, ...] = tuple(messages)
        self.dead_lettered = dead_lettered
        # where each partition resumes after this batch (poison records included)
        self.next_offsets = dict(next_offsets)
        # where each partition restarts if the batch is rewound (poison already handled)
        self.first_offsets: dict[TopicPartition, int] = {}
        for message in self.messages:
            self.first_offsets.setdefault(message.record.topic_partition, message.offset)
        self._done = False

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def done(self) -> bool:
        return self._done

    async def commit(self) -> bool:
        """Mark the batch handled: call only once its effects are durable.

        Returns False when some of its partitions were reassigned to another member
        meanwhile; those messages will be delivered again there (idempotency absorbs it).
        """
        self._finish()
        return await self._driver.commit(self.next_offsets)

    def start_commit(self) -> asyncio.Task[bool]:
        """`commit`, begun now and finished in the background, so the next batch can be
        fetched during the broker's round trip. Await the task before committing the next
        batch (offsets must land in order)."""
        self._finish()
        return asyncio.ensure_future(self._driver.commit(self.next_offsets))

    async def rewind(self) -> None:
        """Give the batch back: its messages are delivered again by the next fetch."""
        self._finish()
        await self._driver.seek(self.first_offsets)

    def _finish(self) -> None:
        if self._done:
            raise BatchStateError("batch already committed or rewound")
        self._done = True


async def fetch_batch(
    driver: ConsumerDriver,
    sink: DeadLetterSink,
    max_wait: timedelta | None,
    *,
    limit: int | None = None,
    raw: bool = False,
) -> Batch | None:
    """One fetch, decoded and its poison dead-lettered; None when nothing came.

    `raw` hands records over undecoded (foreign topics): each message carries the record
    as it is and an empty envelope, and nothing is dead-lettered.
    """
    records = await driver.fetch(max_wait, limit)
    if not records:
        return None
    if raw:
        return Batch(
            driver,
            [Message(record, Envelope()) for record in records],
            next_offsets={r.topic_partition: r.offset + 1 for r in records},
        )
    try:
        return await _decode(driver, sink, records)
    except BaseException:
        # the dead-letter send failed: fetch these records again rather than skip them
        first: dict[TopicPartition, int] = {}
        for record in records:
            first.setdefault(record.topic_partition, record.offset)
        await driver.seek(first)
        raise


async def _decode(driver: ConsumerDriver, sink: DeadLetterSink, records: list[Record]) -> Batch:
    messages: list[Message] = []
    poison: list[RawOutgoing] = []
    codes: list[str] = []
    next_offsets: dict[TopicPartition, int] = {}
    for record in records:
        next_offsets[record.topic_partition] = record.offset + 1
        try:
            messages.append(Message(record, decode_envelope(record.value)))
        except CodecError as e:
            logger.warning(
                "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, e
            )
            codes.append(e.code)
            poison.append(
                dead_letter_record(
                    record,
                    reason=e.reason,
                    code=e.code,
                    group=driver.group,
                    dlq_topic=sink.topics.dlq,
                )
            )
    if poison:
        await sink.publish_raw_batch(poison)
        for code in codes:
            DEAD_LETTERS.labels(driver.group, code).inc()
    return Batch(driver, messages, next_offsets=next_offsets, dead_lettered=len(poison))
