"""The AsyncAPI document of what the trigger service reads and writes.

It reads every topic an event trigger of a published workflow names (JSON messages of
other systems) and writes StartRun commands to `tideflow.runs`. The document is built
from the registrations at request time, so it always shows the live subscriptions. It
describes the bus really there: Kafka (a `kafka` server, Kafka bindings) in the full stack;
under `tide dev`, the in-process bus of the one process, which has no server to connect to
(no `servers`, no Kafka bindings; messages are fed with `POST /events/{topic}`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tideflow.store import TriggerRecord

ASYNCAPI_VERSION = "3.0.0"


def _channel_id(topic: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in topic)


IN_PROCESS = (
    "Under `tide dev` these topics live on the in-process bus of the one dev process (the "
    "same topic, partition and consumer-group semantics as Kafka; no Kafka server to connect "
    "to). Put a message on a topic with `POST /events/{topic}`."
)


def document(
    *, runs_topic: str, bootstrap: str | None, triggers: list[TriggerRecord]
) -> dict[str, Any]:
    """AsyncAPI 3.0 for the current event triggers; `bootstrap` None: the in-process bus."""
    channels: dict[str, Any] = {
        "runs": {
            "address": runs_topic,
            "description": "Commands to runs; the trigger service sends StartRun "
            "(protobuf tideflow.v1.Envelope, key = run id).",
            "messages": {"StartRun": {"$ref": "#/components/messages/StartRun"}},
        }
    }
    operations: dict[str, Any] = {
        "startRun": {
            "action": "send",
            "channel": {"$ref": "#/channels/runs"},
            "summary": "Start a run of the workflow whose trigger fired.",
        }
    }
    by_topic: dict[str, list[TriggerRecord]] = {}
    for trigger in triggers:
        if trigger.topic:
            by_topic.setdefault(trigger.topic, []).append(trigger)
    for topic, subscribed in sorted(by_topic.items()):
        channel = _channel_id(topic)
        names = ", ".join(f"{t.workflow_id}/{t.trigger_id}" for t in subscribed)
        channels[channel] = {
            "address": topic,
            "description": f"Read by event triggers {names}.",
            "messages": {"Event": {"$ref": "#/components/messages/Event"}},
        }
        operations[f"consume_{channel}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"Start runs of {names} for the messages their filters match.",
        }
        if bootstrap is not None:
            operations[f"consume_{channel}"]["bindings"] = {
                "kafka": {"groupId": {"type": "string"}}
            }
    description = "Event triggers read user topics; every trigger writes StartRun."
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Tideflow trigger service",
            "version": "1",
            "description": description if bootstrap is not None else f"{description} {IN_PROCESS}",
        },
        **(
            {"servers": {"kafka": {"host": bootstrap, "protocol": "kafka"}}}
            if bootstrap is not None
            else {}
        ),
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {
                "Event": {
                    "contentType": "application/json",
                    "description": "Any JSON (or text) another system publishes.",
                    "payload": {},
                },
                "StartRun": {
                    "contentType": "application/x-protobuf",
                    "description": "tideflow.v1.Envelope carrying tideflow.v1.StartRun.",
                    "payload": {"type": "string", "format": "binary"},
                },
            }
        },
    }
