"""An open builder outlives its access token: renewed, it joins the room again, edits kept.

The collaboration service closes a JWT's session with `4401 TOKEN_EXPIRED` the moment the
token expires (docs/collaboration.md). The builder then renews the access token with its
refresh token and reconnects with the new one; what the user edited meanwhile stays in the
document and reaches the room on reconnect. A `tide dev` of this module's own issues
access tokens for 10 s, so the expiry happens within the test. The browser's renewal
requests are held for a while, so the builder is seen disconnected and edited then.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tideflow.store.testing import Databases, with_database

from .conftest import DevServer
from .test_collab import Person, converged, fresh_workflow, messages, shared

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

TTL = 10  # seconds an access token lasts in this module's `tide dev`
# every collaboration WebSocket the page opens, and how each one closed
RECORD = """(() => {
  const Native = window.WebSocket;
  const seen = (window.__collab = { opened: [], closed: [] });
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (!String(url).includes("/collab/")) return;
      seen.opened.push(String(url));
      this.addEventListener("close", (e) =>
        seen.closed.push({ url: String(url), code: e.code, reason: e.reason }));
    }
  };
})()"""


@pytest.fixture(scope="module")
async def renewal_dsn(databases: Databases, migrated_template: str) -> AsyncIterator[str]:
    name = await databases.create(template=migrated_template)
    yield with_database(databases.url, name)
    await databases.drop(name)


@pytest.fixture(scope="module")
def short_tokens(tmp_path_factory: pytest.TempPathFactory, renewal_dsn: str) -> Iterator[DevServer]:
    """`tide dev` whose access tokens expire after `TTL` seconds."""
    server = DevServer(
        tmp_path_factory.mktemp("web-renewal"),
        renewal_dsn,
        {"TIDEFLOW_SECURITY_ACCESS_TOKEN_TTL": f"{TTL}s"},
    )
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.stop()
        assert code == 0, server.output()[-3000:]


def token_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["token"][0]


def test_an_expired_token_is_renewed_and_the_builder_rejoins_with_its_edits(
    short_tokens: DevServer, browser: Any
) -> None:
    dev = short_tokens
    username = f"rena-{uuid.uuid4().hex[:6]}"
    created = dev.api.post(
        "/users",
        json={"username": username, "password": "correct horse", "tenant": "default",
              "role": "editor"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    name = fresh_workflow(dev, "renewal")
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(RECORD)
    held: list[Any] = []  # renewal requests kept waiting
    holding = [False]

    def renewal(route: Any) -> None:
        if holding[0]:
            held.append(route)
        else:
            route.continue_()

    rena = Person(context, dev.url, "", username)
    try:
        # signed in on the way to the builder: the app goes on there without a reload (a
        # reload during a held renewal is tests/web/test_session_reload.py's subject)
        rena.p.goto(f"{dev.url}/ui/workflows/{name}")
        rena.p.wait_for_url("**/ui/login")
        rena.p.fill("input[name=username]", username)
        rena.p.fill("input[name=password]", "correct horse")
        rena.p.press("input[name=password]", "Enter")
        rena.p.wait_for_url(f"**/ui/workflows/{name}")
        rena.wait_status("connected")
        rena.p.wait_for_selector(".react-flow__node[data-id=a]")
        # from now on, renewals wait until the test lets them through
        holding[0] = True
        context.route("**/auth/refresh", renewal)
        first = rena.p.evaluate("window.__collab.opened.at(-1)")
        rena.set_message("a", "before the expiry")

        # the token expires: the service ends the session with 4401, the builder is offline
        rena.p.wait_for_function(
            "(url) => window.__collab.closed.some((c) => c.url === url)",
            arg=first,
            timeout=(TTL + 15) * 1000,
        )
        closed = rena.p.evaluate("window.__collab.closed")
        assert [(c["code"], c["reason"]) for c in closed if c["url"] == first] == [
            (4401, "TOKEN_EXPIRED")
        ]
        rena.wait_status("offline")
        assert held, "the builder did not ask for a new access token"
        rena.set_message("b", "while disconnected")
        assert messages(shared(dev, name))["b"] == "two"  # only in the builder for now

        # renewed: it joins again with the new token, and both edits reach the room
        holding[0] = False
        for route in held:
            route.continue_()
        rena.p.wait_for_function(
            "(url) => window.__collab.opened.at(-1) !== url", arg=first, timeout=15_000
        )
        rena.wait_status("connected")
        again = rena.p.evaluate("window.__collab.opened.at(-1)")
        assert token_of(again) != token_of(first)
        merged = converged(dev, name, [rena])
        assert messages(merged) == {"a": "before the expiry", "b": "while disconnected"}
        errors = list(rena.page.errors)
    finally:
        context.close()
    assert errors == [], errors
