"""The gateway's `/openapi.json` documents every HTTP route a client can call at the
platform's API address, and nothing else: the gateway's own routes and the approval,
trigger and collaboration routes (served by their own services behind an ingress, or on
the gateway's port under `tide dev`). The same document in both deployments.

Not in an OpenAPI document by nature: WebSockets (documented in docs/api.md), the web UI,
Swagger UI and the document itself (`include_in_schema=False`), and each process's own
/healthz, /readyz and /metrics of the peer services (on their own ports).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from tideflow.approval.app import create_app as approval_app
from tideflow.approval.app import install as install_approval
from tideflow.approval.app import services_of as approval_services
from tideflow.approval.settings import ApprovalSettings
from tideflow.bus import InMemoryBus
from tideflow.cli._services import peer_routes
from tideflow.collab.app import create_app as collab_app
from tideflow.collab.app import install as install_collab
from tideflow.collab.handlers import Services as CollabServices
from tideflow.collab.settings import CollabSettings
from tideflow.gateway.app import create_app as gateway_app
from tideflow.gateway.settings import GatewaySettings
from tideflow.store import InMemoryEventStore
from tideflow.trigger.app import create_app as trigger_app
from tideflow.trigger.app import install as install_trigger
from tideflow.trigger.app import services_of as trigger_services
from tideflow.trigger.settings import TriggerSettings

pytestmark = pytest.mark.unit

OPERATIONAL = {"/healthz", "/readyz", "/metrics"}
NO_STORE = cast(Any, None)  # building an app touches no store


def served(app: FastAPI, *, operational: bool = True) -> set[tuple[str, str]]:
    """(method, path) of every documentable HTTP route the app answers (with the
    prefixes and flags of the routers that include it)."""
    return {
        (method.lower(), route.path)
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute) and route.include_in_schema
        if operational or route.path not in OPERATIONAL
        for method in route.methods or ()
    }


def documented(app: FastAPI) -> set[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {(method, path) for path, operations in paths.items() for method in operations}


def _peer_apps() -> list[FastAPI]:
    bus = InMemoryBus()
    approval = approval_services(settings=ApprovalSettings(), store=NO_STORE, bus=bus)
    trigger = trigger_services(settings=TriggerSettings(), store=NO_STORE, bus=bus)
    collab = CollabServices(settings=CollabSettings(), rooms=NO_STORE)
    return [approval_app(approval), trigger_app(trigger), collab_app(collab)]


def test_the_gateways_document_lists_every_route_served_at_the_api_address() -> None:
    """`tide serve gateway` beside `tide serve approval|trigger|collab`."""
    gateway = gateway_app(
        settings=GatewaySettings(), store=InMemoryEventStore(), bus=InMemoryBus(),
        peers=peer_routes(),
    )  # fmt: skip
    reachable = served(gateway)
    for peer in _peer_apps():
        reachable |= served(peer, operational=False)
    assert {path for _, path in reachable} >= {
        "/approvals", "/approvals/{approval_id}/decision", "/hooks/{workflow_id}/{trigger_id}",
        "/workflows/{workflow_id}/triggers", "/collab/workflows/{workflow_id}",
    }  # fmt: skip
    assert documented(gateway) == reachable
    approvals = gateway.openapi()["paths"]["/approvals"]["get"]
    assert approvals["x-tideflow-service"] == "approval"


def test_tide_dev_serves_and_documents_the_same_routes() -> None:
    """`tide dev` mounts the peers on the gateway's port: what it serves is documented,
    and its document lists the same routes as the full stack's."""
    bus = InMemoryBus()

    def extend(app: FastAPI) -> None:
        install_approval(
            app, approval_services(settings=ApprovalSettings(), store=NO_STORE, bus=bus),
            operational=False,
        )  # fmt: skip
        install_trigger(
            app, trigger_services(settings=TriggerSettings(), store=NO_STORE, bus=bus),
            operational=False,
        )  # fmt: skip
        install_collab(
            app, CollabServices(settings=CollabSettings(), rooms=NO_STORE), operational=False
        )

    dev = gateway_app(
        settings=GatewaySettings(), store=InMemoryEventStore(), bus=bus, extend=extend
    )
    full = gateway_app(
        settings=GatewaySettings(), store=InMemoryEventStore(), bus=bus, peers=peer_routes()
    )
    assert documented(dev) == served(dev)
    assert documented(dev) == documented(full)
