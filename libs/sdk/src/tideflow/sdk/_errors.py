"""Errors a task raises to tell the engine whether a retry can help."""


class TaskError(Exception):
    """A task failure with an explicit error type and retry decision.

    `error_type` is what a node's `retry.nonRetryable` list matches against, so a workflow
    author can stop retries for a type without changing the worker.
    """

    def __init__(
        self, message: str, *, error_type: str | None = None, retryable: bool = True
    ) -> None:
        super().__init__(message)
        self.error_type = error_type or type(self).__name__
        self.retryable = retryable


class NonRetryableError(TaskError):
    """A failure no retry can fix (bad input, a rejected request)."""

    def __init__(self, message: str, *, error_type: str | None = None) -> None:
        super().__init__(message, error_type=error_type, retryable=False)


class TaskCancelledError(Exception):
    """Raised by `ctx.heartbeat()` once the attempt was cancelled or timed out.

    Let it propagate: the attempt's outcome is already decided (cancelled, or failed by
    its timeout), so whatever the task returns after this is ignored.
    """


class DuplicateTaskError(ValueError):
    """Two different functions were registered under one task name."""
