"""Tideflow bus: Kafka topics and messages, and an in-process bus with the same semantics.

Messages are protobuf (`proto/tideflow/v1`, generated into `tideflow.bus.pb` at build
time) wrapped in an `Envelope`; free-form data travels as JSON bytes (`dump_json`,
`load_json`). Services code against the `Bus` port and pick `KafkaBus` or `InMemoryBus`
at wiring time.

Publishing::

    bus = KafkaBus(bootstrap_servers="127.0.0.1:9092", topics=Topics(prefix="tideflow"))
    await bus.start()
    await bus.ensure_topics([bus.topics.runs, bus.topics.tasks("default")], partitions=16)
    env = new_envelope(pb.StartRun(command_id=..., run_id=r, input_json=dump_json(x)),
                       tenant_id=t, run_id=r, traceparent=current_traceparent)
    await bus.publish(bus.topics.runs, r, env)           # durable on return
    await bus.publish_batch([Outgoing(topic, key, env), ...])

Consuming (at-least-once, offsets committed only after the effects are durable)::

    async with bus.consumer([bus.topics.runs], group="scheduler", max_batch=500) as c:
        async for batch in c:                    # batch: Batch of Message
            ...write one transaction...          # message.envelope, payload_of(envelope)
            await batch.commit()                 # or: await batch.rewind() to retry

    # or: await consumer.run(handler, stop=event)  - commit on return, rewind on raise

    # or, one handler task per message, fetching on while earlier ones still run:
    await consumer.run_pipelined(handle_message, stop=event, max_in_flight=64)
    # offsets commit per partition up to the first unfinished message; a raise rewinds

`InMemoryBus(journal=PostgresJournal(dsn))` is as durable as Kafka: publishes and commits
return once written to the `bus_*` tables, and a restart delivers again whatever was not
committed (`tide dev` runs this way).

Records that do not decode are sent to `topics.dlq` (a `DeadLetter` with reason and
stable code) and never reach the handler; handlers dead-letter what they cannot use with
`await bus.dead_letter(message, reason=..., code=..., group=...)` and then commit.
"""

from tideflow.bus import pb
from tideflow.bus._batch import Batch
from tideflow.bus._codec import (
    Payload,
    TraceContext,
    decode_envelope,
    dump_json,
    encode_envelope,
    extract_trace,
    inject_trace,
    load_json,
    new_envelope,
    parse_traceparent,
    payload_of,
)
from tideflow.bus._driver import ConsumerDriver
from tideflow.bus._errors import (
    BatchStateError,
    BusConnectionError,
    BusError,
    CodecError,
    CodecErrorCode,
)
from tideflow.bus._journal import Journal, JournalState
from tideflow.bus._kafka import KafkaBus
from tideflow.bus._memory import InMemoryBus
from tideflow.bus._outgoing import Outgoing, RawOutgoing, encode_outgoing, envelope_headers
from tideflow.bus._partitioner import partition_for
from tideflow.bus._pg_journal import PostgresJournal
from tideflow.bus._port import Bus, Consumer
from tideflow.bus._records import MAX_MESSAGE_BYTES, Message, Record, TopicPartition
from tideflow.bus._topics import Topics

__all__ = [
    "MAX_MESSAGE_BYTES",
    "Batch",
    "BatchStateError",
    "Bus",
    "BusConnectionError",
    "BusError",
    "CodecError",
    "CodecErrorCode",
    "Consumer",
    "ConsumerDriver",
    "InMemoryBus",
    "Journal",
    "JournalState",
    "KafkaBus",
    "Message",
    "Outgoing",
    "Payload",
    "PostgresJournal",
    "RawOutgoing",
    "Record",
    "TopicPartition",
    "Topics",
    "TraceContext",
    "decode_envelope",
    "dump_json",
    "encode_envelope",
    "encode_outgoing",
    "envelope_headers",
    "extract_trace",
    "inject_trace",
    "load_json",
    "new_envelope",
    "parse_traceparent",
    "partition_for",
    "payload_of",
    "pb",
]
