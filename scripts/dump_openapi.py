"""Print the gateway's OpenAPI document, for the web app's generated API client.

The document depends only on the routes, so the app is built over in-memory twins of the
store and the bus; nothing is started. It is the document `tide serve gateway` serves:
the gateway's routes and those of the approval, trigger and collaboration services.
"""

from __future__ import annotations

import json
import sys

from tideflow.bus import InMemoryBus
from tideflow.cli._services import peer_routes
from tideflow.gateway.app import create_app
from tideflow.gateway.settings import GatewaySettings
from tideflow.store import InMemoryEventStore


def main() -> None:
    app = create_app(
        settings=GatewaySettings(),
        store=InMemoryEventStore(),
        bus=InMemoryBus(),
        peers=peer_routes(),
    )
    json.dump(app.openapi(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
