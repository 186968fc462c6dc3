"""The bus's error tree: one root, codes that stay stable across releases."""

from __future__ import annotations

from enum import StrEnum


class BusError(Exception):
    """Root of every error the bus raises; driver errors are translated into it."""


class BusConnectionError(BusError):
    """The broker could not be reached or refused a request; retrying later may succeed."""


class BatchStateError(BusError):
    """A batch was used out of order (e.g. the next batch asked for before this one ended).

    Kafka commits are positional, so silently moving on past an unfinished batch would
    commit or skip messages nobody handled; we refuse instead.
    """


class CodecErrorCode(StrEnum):
    """Why a message could not be encoded or decoded; the value goes into dead letters."""

    INVALID_PROTOBUF = "bus.decode.invalid_protobuf"
    MISSING_PAYLOAD = "bus.decode.missing_payload"
    TYPE_MISMATCH = "bus.decode.type_mismatch"
    MISSING_FIELD = "bus.decode.missing_field"
    INVALID_JSON = "bus.decode.invalid_json"
    INVALID_TRACEPARENT = "bus.trace.invalid_traceparent"


class CodecError(BusError):
    """A message or one of its JSON fields does not decode; it is never retried."""

    def __init__(self, code: CodecErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.reason = message
