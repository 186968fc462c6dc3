"""One OpenAPI document for the platform's one API address.

Clients call a single base URL: the gateway's routes, and the approval, trigger and
collaboration routes that an ingress sends to their own services (`tide dev` serves them
all on one port). The gateway's `/openapi.json` documents every one of them: its own
routes, plus the routes its peers install (`peers`: each service's `api_routes`), merged
in with the service that serves them named in `x-tideflow-service`. A peer's schema whose
name the gateway already uses for a different schema is renamed `<Service><Name>`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_REF = "#/components/schemas/"


def peer_document(service: str, api_routes: Callable[[FastAPI], None]) -> dict[str, Any]:
    """The OpenAPI document of a peer service's client routes (nothing is served)."""
    app = FastAPI(title=f"Tideflow {service}", version="1")
    api_routes(app)
    document = app.openapi()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation["x-tideflow-service"] = service
    return document


def merge(document: dict[str, Any], service: str, peer: dict[str, Any]) -> None:
    """Add `peer`'s paths and schemas to `document` (the gateway's own always win)."""
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    theirs: dict[str, Any] = peer.get("components", {}).get("schemas", {})
    renamed = {
        name: f"{service.capitalize()}{name}"
        for name, schema in theirs.items()
        if name in schemas and schemas[name] != schema
    }
    text = json.dumps(peer)
    for old, new in renamed.items():
        text = text.replace(f'"{_REF}{old}"', f'"{_REF}{new}"')
    peer = json.loads(text)
    for name, schema in peer.get("components", {}).get("schemas", {}).items():
        schemas.setdefault(renamed.get(name, name), schema)
    paths: dict[str, Any] = document.setdefault("paths", {})
    for path, operations in peer.get("paths", {}).items():
        mine = paths.setdefault(path, {})
        for method, operation in operations.items():
            mine.setdefault(method, operation)


def include_peers(app: FastAPI, peers: Mapping[str, Callable[[FastAPI], None]]) -> None:
    """Make `app.openapi()` document the peers' routes too (built once, then cached)."""
    if not peers:
        return
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for service, api_routes in peers.items():
                merge(document, service, peer_document(service, api_routes))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
