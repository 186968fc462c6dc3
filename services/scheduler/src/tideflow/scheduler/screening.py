"""Commands are screened before they are decided: nothing that cannot be stored reaches
the log.

A value too deep for the JSON encoder, too large, holding NaN or a NUL character would
make the batch's transaction fail, and the batch would be delivered again for ever,
stalling every run on the partition. What to do instead depends on whose value it is:

- a step result's output is the step's own outcome: the attempt fails for good with the
  limit's stable error type (the same call would return the same value again);
- a failure's message is cut to a readable length;
- a signal is the sender's data, not the run's: it goes to the dead-letter topic with the
  reason and the run does not see it.

Run inputs are checked by the decider itself (a run with an unusable input fails with a
stable error type), since only it can end the run properly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tideflow.core import Limits, LimitViolation, Signal, StepError, StepResult, check_value

if TYPE_CHECKING:
    from tideflow.wire import WireCommand

MAX_ERROR_MESSAGE = 16 * 1024


@dataclass(frozen=True, slots=True)
class Screened:
    """A command as it may be decided, or the reason it may not be used at all."""

    command: WireCommand | None
    rejected: LimitViolation | None = None


def screen(command: WireCommand, *, limits: Limits, signal_bytes: int) -> Screened:
    """The command made safe to decide, or rejected with a stable code and a reason."""
    if isinstance(command, StepResult):
        return Screened(_step_result(command, limits))
    if isinstance(command, Signal):
        violation = check_value(
            command.data, what=f"data of signal {command.name!r}",
            max_depth=limits.json_depth, max_bytes=signal_bytes,
        )  # fmt: skip
        return Screened(None, violation) if violation else Screened(command)
    return Screened(command)


def _step_result(result: StepResult, limits: Limits) -> StepResult:
    if result.ok:
        violation = check_value(
            result.output, what=f"output of step {result.step!r}",
            max_depth=limits.json_depth, max_bytes=limits.output_bytes,
        )  # fmt: skip
        if violation is None:
            return result
        error = StepError(type=violation.code.value, message=violation.message, retryable=False)
        return result.model_copy(update={"ok": False, "output": None, "error": error})
    failure = result.error
    if failure is None or len(failure.message) <= MAX_ERROR_MESSAGE:
        return result
    message = failure.message[:MAX_ERROR_MESSAGE] + f" ... ({len(failure.message):,} characters)"
    return result.model_copy(update={"error": failure.model_copy(update={"message": message})})
