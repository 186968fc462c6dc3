"""The body-limit middleware in front of routes that must see the bytes as sent.

Webhook signatures are HMACs over the raw body, so under `tide dev` (where the trigger
routes sit behind the gateway's middleware) the body must reach `/hooks/...` byte for
byte, while the gateway's own routes get the strictly re-read JSON.
"""

from __future__ import annotations

import httpx
from starlette.types import Receive, Scope, Send

from tideflow.gateway.limits import BodyLimit
from tideflow.settings import LimitsSettings

PRETTY = b'{\n  "order": 42,\n  "items": [1, 2]\n}'


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the body it received."""
    assert scope["type"] == "http"
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def client() -> httpx.AsyncClient:
    app = BodyLimit(echo, limits=LimitsSettings())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_webhook_bodies_reach_the_route_byte_for_byte() -> None:
    async with client() as c:
        for path in ("/hooks/orders/new", "/hooks/acme/orders/new"):
            answer = await c.post(path, content=PRETTY, headers={"Content-Type": "text/json"})
            assert answer.status_code == 200
            assert answer.content == PRETTY


async def test_webhook_bodies_are_still_screened() -> None:
    async with client() as c:
        answer = await c.post("/hooks/orders/new", content=b'{"total": NaN}')
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_other_routes_get_the_strictly_reread_json() -> None:
    async with client() as c:
        answer = await c.post("/workflows/x/runs", content=PRETTY)
        assert answer.status_code == 200
        assert answer.content == b'{"order":42,"items":[1,2]}'
