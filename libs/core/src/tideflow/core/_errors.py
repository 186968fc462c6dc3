"""Errors and problems of the core.

Validation never raises on the first problem: it collects `Problem`s with stable codes so an
API can show every mistake in a definition at once. `DefinitionError` wraps that list for
callers that prefer an exception. Everything the core raises derives from `CoreError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProblemCode(StrEnum):
    """Stable codes of definition and input problems (part of the public API)."""

    PARSE_ERROR = "PARSE_ERROR"
    SCHEMA_ERROR = "SCHEMA_ERROR"
    UNKNOWN_NODE_TYPE = "UNKNOWN_NODE_TYPE"
    DUPLICATE_NODE_ID = "DUPLICATE_NODE_ID"
    INVALID_NODE_ID = "INVALID_NODE_ID"
    DANGLING_EDGE = "DANGLING_EDGE"
    DUPLICATE_EDGE = "DUPLICATE_EDGE"
    CYCLE = "CYCLE"
    NO_START_NODE = "NO_START_NODE"
    UNREACHABLE_NODE = "UNREACHABLE_NODE"
    WHEN_ON_NON_BRANCH = "WHEN_ON_NON_BRANCH"
    MISSING_WHEN = "MISSING_WHEN"
    INVALID_WHEN = "INVALID_WHEN"
    INVALID_EXPRESSION = "INVALID_EXPRESSION"
    INVALID_DURATION = "INVALID_DURATION"
    INVALID_RETRY = "INVALID_RETRY"
    UNKNOWN_COMPENSATE = "UNKNOWN_COMPENSATE"
    COMPENSATE_IN_GRAPH = "COMPENSATE_IN_GRAPH"
    INVALID_CONFIG = "INVALID_CONFIG"
    SECRET_NOT_ALLOWED = "SECRET_NOT_ALLOWED"  # noqa: S105 - an error code, not a secret
    INPUT_SCHEMA_INVALID = "INPUT_SCHEMA_INVALID"
    INPUT_INVALID = "INPUT_INVALID"
    INVALID_TRIGGER = "INVALID_TRIGGER"
    DUPLICATE_TRIGGER_ID = "DUPLICATE_TRIGGER_ID"
    OCR_ENDPOINT_NOT_ALLOWED = "OCR_ENDPOINT_NOT_ALLOWED"
    """An ocr node's own `endpointUrl` without its own credentials, at a host the operator
    does not allow to receive the worker's AWS signature (checked at save and publish)."""
    UNKNOWN_NODE_REFERENCE = "UNKNOWN_NODE_REFERENCE"
    """An expression reads `nodes.<id>` of a node the workflow does not have (checked where
    a definition is written; see `reference_problems`)."""
    NODE_NOT_UPSTREAM = "NODE_NOT_UPSTREAM"
    """An expression reads `nodes.<id>` of a node that has not run where it is read: no path
    of edges leads from it there (or `spec.vars`, worked out before any node ran)."""
    RESERVED_TOPIC = "RESERVED_TOPIC"
    """An event trigger on one of the platform's own topics (under its topic prefix), which
    carry every tenant's commands and run events (checked at save and publish)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a definition or an input, located by a dotted path."""

    code: ProblemCode
    message: str
    path: str = ""
    node: str | None = None
    """The id of the node the problem is about, when it is about one."""

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.code}{where}: {self.message}"


class CoreError(Exception):
    """Root of every error the core raises."""


class DefinitionError(CoreError):
    """A definition (or a run input) has problems; all of them are in `problems`."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class ExpressionError(CoreError):
    """A CEL expression or template failed to compile or evaluate.

    Expression failures are never retryable: the same inputs fail the same way again.
    """

    def __init__(
        self,
        message: str,
        *,
        expression: str,
        position: int | None = None,
        code: str = "ExpressionError",
    ) -> None:
        self.expression = expression
        self.position = position
        self.reason = message
        self.code = code
        """The stable error type a failed step or run records (`ExpressionError`, or a
        limit's code such as `ExpressionBudgetExceeded` or `NonFiniteNumber`)."""
        where = f" at column {position}" if position is not None else ""
        super().__init__(f"{message}{where} in expression {expression!r}")


class DurationError(CoreError, ValueError):
    """A duration string is not of the form `1h30m`, `500ms`, `30s`."""


class InlineNodeError(CoreError):
    """An inline node type's own evaluation failed (a plugin's pure handler raised, or its
    output broke its output schema). The step fails for good: the same config fails again."""

    def __init__(self, message: str, *, code: str = "InlineNodeError") -> None:
        self.code = code
        super().__init__(message)
