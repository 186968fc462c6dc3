"""What presenting a refresh token does to its family: the rule both stores apply.

A family is a chain: each token is exchanged once, for exactly one successor. Presenting a
used token again is either a client that lost the answer to its refresh (a page reloaded
while the request was in flight, two tabs refreshing at once) — it gets the same successor
back, within a short grace window — or a leaked copy, which revokes the whole family (OAuth
2.0 Security BCP, 4.14; Auth0's "reuse interval", Okta's "grace period"). Nothing here ever
creates a second live branch: a replay only hands back the successor that already exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from tideflow.store._identity_records import RefreshTokenRecord


class RefreshOutcome(StrEnum):
    ROTATED = "rotated"
    """First use: the token is used up and the new successor stored."""
    REPLAYED = "replayed"
    """Used again within the grace window while its successor is still live: the stored
    successor is handed back, nothing changes."""
    REUSED = "reused"
    """Used again after the window (or after its successor moved on): the family is revoked."""
    REFUSED = "refused"
    """Unknown, revoked or expired: nothing changes."""


@dataclass(frozen=True, slots=True)
class RefreshRotation:
    outcome: RefreshOutcome
    token: RefreshTokenRecord | None
    """The presented token as it was before this call (None when unknown); on `REPLAYED` its
    `successor_id` and `successor_sealed` are what to hand back."""


def decide(
    token: RefreshTokenRecord | None,
    successor: RefreshTokenRecord | None,
    *,
    at: datetime,
    reuse_grace: timedelta,
) -> RefreshOutcome:
    """The outcome of presenting `token` at `at`; `successor` is its stored successor.

    The window is measured from the first use and never extended by a replay, so a leaked
    token is good for at most `reuse_grace` after its owner used it.
    """
    if token is None or token.revoked_at is not None or token.expires_at <= at:
        return RefreshOutcome.REFUSED
    if token.used_at is None:
        return RefreshOutcome.ROTATED
    replayable = (
        at < token.used_at + reuse_grace
        and token.successor_sealed is not None
        and successor is not None
        and successor.used_at is None
        and successor.revoked_at is None
        and at < successor.expires_at
    )
    return RefreshOutcome.REPLAYED if replayable else RefreshOutcome.REUSED
