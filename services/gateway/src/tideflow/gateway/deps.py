"""What route handlers depend on: the wired services and the calling principal.

`create_app` puts one `Services` on `app.state`; handlers ask for it (and for the
`Principal`) through FastAPI dependencies, so tests and the CLI wire real or in-memory
stores and buses without any handler knowing which.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request, WebSocket

from tideflow.auth import REQUEST_SOURCE, current_principal
from tideflow.bus import Bus
from tideflow.gateway.auth import Authenticator, Principal
from tideflow.gateway.metrics import GatewayMetrics
from tideflow.gateway.security import Security
from tideflow.gateway.settings import GatewaySettings
from tideflow.gateway.versions import VersionCache
from tideflow.plugins import NodeTypeRegistry
from tideflow.store import EventStore, OutboxDrops


@dataclass(slots=True)
class BusHealth:
    """The bus port has no ping, so readiness reflects how the last publish went."""

    failing: bool = False


@dataclass(slots=True)
class Services:
    settings: GatewaySettings
    store: EventStore
    bus: Bus
    authenticator: Authenticator
    security: Security
    metrics: GatewayMetrics
    node_types: NodeTypeRegistry = field(default_factory=NodeTypeRegistry.builtin)
    """Built-in and plugin node types: what definitions are validated against."""
    bus_health: BusHealth = field(default_factory=BusHealth)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server shuts down, so live streams end instead of holding it open."""
    versions: VersionCache = field(default_factory=VersionCache)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    """Work that follows a response (publish a committed StartRun, then drop its outbox
    row); held here so it is not garbage-collected and is awaited at shutdown."""
    outbox_drops: OutboxDrops = field(init=False)
    """The outbox rows of published StartRuns, deleted in batches."""

    def __post_init__(self) -> None:
        self.outbox_drops = OutboxDrops(self.store)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after the response; the outbox covers it if the process dies first."""
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def drain(self) -> None:
        """Wait for the work `spawn` started (at shutdown, so publishes are not lost)."""
        while self.background:
            await asyncio.gather(*self.background, return_exceptions=True)
        await self.outbox_drops.drain()


# The dependencies are `async def` on purpose: FastAPI runs a plain `def` dependency in a
# worker thread, a thread hop per dependency per request for what is a dict lookup.


async def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def ws_services(websocket: WebSocket) -> Services:
    found: Services = websocket.app.state.services
    return found


async def principal(request: Request) -> Principal:
    """The caller, from its `Authorization` header (401 when missing or invalid), after
    taking one token of its tenant's API rate limit (429 when exhausted)."""
    # set first: a refused credential is audited with where it came from
    REQUEST_SOURCE.set(request.client.host if request.client else None)
    caller = await current_principal(request)
    found: Services = request.app.state.services
    await found.security.check_rate(caller.tenant_id, "api")
    return caller


ServicesDep = Annotated[Services, Depends(services)]
PrincipalDep = Annotated[Principal, Depends(principal)]
