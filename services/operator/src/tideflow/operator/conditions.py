"""`status.conditions` kept the Kubernetes way: one entry per type, transition times kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tideflow.operator.resources import ConditionStatus


def rfc3339(moment: datetime) -> str:
    """The timestamp format Kubernetes writes (UTC, `Z`); microseconds kept for cooldowns."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    """A timestamp this module wrote (or Kubernetes did); None for none or garbage."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)  # 3.11 reads a trailing Z
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def with_condition(
    conditions: list[dict[str, Any]] | None,
    *,
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[dict[str, Any]]:
    """`conditions` with `type_` set; its lastTransitionTime moves only when status changes."""
    kept = [dict(c) for c in conditions or [] if c.get("type") != type_]
    previous = next((c for c in conditions or [] if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != status.value
    entry: dict[str, Any] = {
        "type": type_,
        "status": status.value,
        "reason": reason,
        "message": message[:1000],
        "lastTransitionTime": rfc3339(now)
        if changed or previous is None
        else previous.get("lastTransitionTime") or rfc3339(now),
    }
    if generation is not None:
        entry["observedGeneration"] = generation
    return sorted([*kept, entry], key=lambda c: str(c.get("type")))
