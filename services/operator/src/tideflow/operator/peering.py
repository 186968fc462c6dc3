"""Several operator replicas, one active: kopf peering as leader election.

kopf's peering is a keep-alive table in the status of a `KopfPeering` (or, for an operator
watching every namespace, a `ClusterKopfPeering`) object: every replica writes its
identity, priority and lifetime there and watches the others. A replica that sees a live
peer with a higher priority pauses; when that peer stops renewing its entry (its pod
died), the entry expires after its lifetime and the next replica resumes. Peers with the
same priority all pause (kopf's safety rule), so each replica draws a random priority at
start unless one is configured: exactly one replica (the highest) handles resources, the
others are hot standbys.

Peering is mandatory once a name is set: a replica that cannot find the peering object
stops with an error instead of silently running unelected next to the others.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import kopf

    from tideflow.operator.settings import OperatorSettings

PRIORITY_RANGE = (1, 2**31 - 1)
"""Random priorities are drawn from here: two replicas tie once in about two billion."""


@dataclass(frozen=True, slots=True)
class Peering:
    """How this replica takes part: standalone, or a peer of `name` with `priority`."""

    name: str | None
    priority: int | None
    lifetime_seconds: int

    @property
    def standalone(self) -> bool:
        return self.name is None


def peering_of(settings: OperatorSettings, rng: random.Random | None = None) -> Peering:
    """The peering of a replica started with `settings` (a random priority if none is set)."""
    if not settings.peering:
        return Peering(name=None, priority=None, lifetime_seconds=0)
    priority = settings.priority
    if priority is None:
        priority = (rng or random.SystemRandom()).randint(*PRIORITY_RANGE)
    return Peering(
        name=settings.peering,
        priority=priority,
        lifetime_seconds=max(1, int(settings.peering_lifetime.total_seconds())),
    )


def configure_peering(kopf_settings: kopf.OperatorSettings, peering: Peering) -> None:
    """kopf's peering settings for `peering` (the name and priority go to kopf.operator)."""
    if not peering.standalone:
        kopf_settings.peering.lifetime = peering.lifetime_seconds
        kopf_settings.peering.mandatory = True
