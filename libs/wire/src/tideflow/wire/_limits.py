"""`TIDEFLOW_LIMITS_*` settings -> the core's `Limits` (plain data the decider can pin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tideflow.core import Limits

if TYPE_CHECKING:
    from tideflow.settings import LimitsSettings


def engine_limits(settings: LimitsSettings) -> Limits:
    """The engine's part of the limits an operator configured."""
    return Limits(
        json_depth=settings.json_depth,
        input_bytes=int(settings.input_bytes),
        output_bytes=int(settings.output_bytes),
        foreach_items=settings.foreach_items,
        foreach_output_bytes=int(settings.foreach_output_bytes),
        subworkflow_depth=settings.subworkflow_depth,
        expression_bytes=int(settings.expression_bytes),
        expression_work_bytes=int(settings.expression_work_bytes),
        event_bytes=int(settings.event_bytes),
        schedule_to_start=settings.schedule_to_start_timeout,
    )
