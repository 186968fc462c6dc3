"""Commands that reach a run before its StartRun (the order of two commands on the bus is
not the order they were accepted in: a StartRun may wait in an outbox while a cancel goes
straight out).

Nothing is lost and the outcome does not depend on the order: a cancel ends the run at
once, `cancelled` with one `RunCancelled` event and no step run; a manual fail ends it
`failed` with one `RunFailed` (`ManuallyFailed`); the StartRun that comes later finds the
run ended and decides nothing (as for a run whose start was rejected). A signal is
buffered (`SignalReceived`) and is there for the run's `signal` step once it starts. Any
other command names steps the run cannot have yet and decides nothing.
"""

from datetime import datetime

from tideflow.core._commands import Cancel, RunCommand, Signal
from tideflow.core._decider._decision import Decided
from tideflow.core._decider._saga import manual_failure
from tideflow.core._events import Event, RunCancelled, RunFailed, SignalReceived
from tideflow.core._evolve import apply
from tideflow.core._state import RunState


def before_start(state: RunState, command: RunCommand, now: datetime) -> Decided:
    """Decide `command` for a run whose StartRun has not been decided yet."""
    event: Event
    if isinstance(command, Cancel) and command.fail:
        event = RunFailed(at=now, error=manual_failure(command))
    elif isinstance(command, Cancel):
        event = RunCancelled(at=now, reason=command.reason, by=command.by)
    elif isinstance(command, Signal):
        event = SignalReceived(
            at=now, signal_id=command.command_id, name=command.name, data=command.data
        )
    else:
        return Decided((), state)
    event = event.model_copy(update={"command_id": command.command_id})
    return Decided((event,), apply(state, event, None))
