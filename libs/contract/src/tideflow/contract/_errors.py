"""The stable error codes of the API, shared by the services that answer and the client.

Every failure is answered as `{"error": {"code", "message", "details"}}` (docs/api.md).
Clients branch on `code`, so a code never changes meaning and the list lives here once:
the gateway raises these, the client names them, and neither may import the other.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """The stable codes (see docs/api.md); an answer may also hold one added later."""

    BAD_REQUEST = "BAD_REQUEST"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    INVALID_DEFINITION = "INVALID_DEFINITION"
    INPUT_INVALID = "INPUT_INVALID"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
    WORKFLOW_EXISTS = "WORKFLOW_EXISTS"
    WORKFLOW_ARCHIVED = "WORKFLOW_ARCHIVED"
    NAME_MISMATCH = "NAME_MISMATCH"
    VERSION_NOT_FOUND = "VERSION_NOT_FOUND"
    NO_PUBLISHED_VERSION = "NO_PUBLISHED_VERSION"
    RUN_NOT_FOUND = "RUN_NOT_FOUND"
    STEP_NOT_FOUND = "STEP_NOT_FOUND"
    RUN_ALREADY_ENDED = "RUN_ALREADY_ENDED"
    UNKNOWN_SIGNAL = "UNKNOWN_SIGNAL"
    SEQ_OUT_OF_RANGE = "SEQ_OUT_OF_RANGE"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    JSON_TOO_DEEP = "JSON_TOO_DEEP"
    DEFINITION_TOO_LARGE = "DEFINITION_TOO_LARGE"
    INPUT_TOO_LARGE = "INPUT_TOO_LARGE"
    SIGNAL_TOO_LARGE = "SIGNAL_TOO_LARGE"
    VALUE_TOO_LARGE = "VALUE_TOO_LARGE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    CONFLICT = "CONFLICT"
    TENANT_NOT_FOUND = "TENANT_NOT_FOUND"
    TENANT_EXISTS = "TENANT_EXISTS"
    TOKEN_NOT_FOUND = "TOKEN_NOT_FOUND"  # noqa: S105 - an error code
    USER_EXISTS = "USER_EXISTS"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    SECRET_NOT_FOUND = "SECRET_NOT_FOUND"  # noqa: S105 - an error code
    SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"
    # the approval service's (services/approval answers under the same contract)
    APPROVAL_NOT_FOUND = "APPROVAL_NOT_FOUND"
    APPROVAL_CLOSED = "APPROVAL_CLOSED"
    APPROVAL_EXPIRED = "APPROVAL_EXPIRED"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    # the trigger service's (inbound webhooks)
    TRIGGER_NOT_FOUND = "TRIGGER_NOT_FOUND"
    TRIGGER_PAUSED = "TRIGGER_PAUSED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    INVALID_BODY = "INVALID_BODY"
    EXPRESSION_FAILED = "EXPRESSION_FAILED"
    # the client's own: the API was never reached, or did not answer as it should
    UNREACHABLE = "UNREACHABLE"
    WAIT_TIMEOUT = "WAIT_TIMEOUT"
    BAD_RESPONSE = "BAD_RESPONSE"
