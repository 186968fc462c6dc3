"""A page reloaded while its token renewal is in flight stays signed in.

The web app renews the access token in its last 30 s with the single-use refresh token. If
the page reloads (or the answer is otherwise lost) after the gateway rotated the refresh
token, the reloaded page only has the old one. The gateway's reuse grace (10 s by default,
as shipped) hands the same successor back instead of taking the old token for a stolen copy
and revoking the whole session (docs/security.md).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from .conftest import DevServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SESSION = "JSON.parse(sessionStorage.getItem('tideflow.session') || 'null')"


def test_a_reload_during_a_renewal_keeps_the_session(dev: DevServer, browser: Any) -> None:
    username = f"reload-{uuid.uuid4().hex[:6]}"
    created = dev.api.post(
        "/users",
        json={"username": username, "password": "correct horse", "tenant": "default",
              "role": "viewer"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    lost: list[dict[str, Any]] = []  # what the gateway answered to the renewal cut short
    reloaded = [False]

    def renewal(route: Any) -> None:
        if reloaded[0]:
            route.continue_()
        elif not lost:  # reaches the gateway, which rotates; the page never sees the answer
            lost.append(route.fetch().json())
            route.abort()
        else:  # further tries before the reload never leave the browser
            route.abort()

    try:
        page.goto(f"{dev.url}/ui/runs")
        page.wait_for_url("**/ui/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "correct horse")
        page.press("input[name=password]", "Enter")
        page.wait_for_url("**/ui/runs")
        signed_in = page.evaluate(SESSION)
        old = signed_in["refreshToken"]
        # the access token is in its last 30 s: the next request of the page renews it
        expiring = {**signed_in, "expiresAt": int(time.time() * 1000) + 20_000}
        page.evaluate(
            "(s) => sessionStorage.setItem('tideflow.session', JSON.stringify(s))", expiring
        )
        context.route("**/auth/refresh", renewal)
        with page.expect_event("requestfailed", lambda r: r.url.endswith("/auth/refresh")):
            page.reload()
        assert lost, "the page did not renew its access token"
        assert lost[0]["refreshToken"] != old
        # the page reloads with the old refresh token, which the gateway already used
        assert page.evaluate(SESSION)["refreshToken"] == old
        reloaded[0] = True
        page.reload()
        page.wait_for_function(f"(old) => {SESSION}?.refreshToken !== old", arg=old, timeout=20_000)
        renewed = page.evaluate(SESSION)
        assert renewed is not None, "the reloaded page was signed out"
        assert renewed["refreshToken"] == lost[0]["refreshToken"]  # the same successor
        assert renewed["token"] != signed_in["token"]
        assert "/ui/login" not in page.url
        # and the gateway still honours the session: the family was not revoked
        onward = dev.api.post("/auth/refresh", json={"refreshToken": renewed["refreshToken"]})
        assert onward.status_code == 200, onward.text
    finally:
        context.close()


def test_a_duplicated_tab_takes_the_pair_its_sibling_renewed(dev: DevServer, browser: Any) -> None:
    """A duplicated tab starts with a copy of its origin's sessionStorage: the same single-use
    refresh token. When one tab renews, the other takes the new pair over a BroadcastChannel
    and never presents the used token, which after the reuse grace would revoke the login."""
    username = f"tabs-{uuid.uuid4().hex[:6]}"
    created = dev.api.post(
        "/users",
        json={"username": username, "password": "correct horse", "tenant": "default",
              "role": "viewer"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    first = context.new_page()
    first.set_default_timeout(20_000)
    try:
        first.goto(f"{dev.url}/ui/runs")
        first.wait_for_url("**/ui/login")
        first.fill("input[name=username]", username)
        first.fill("input[name=password]", "correct horse")
        first.press("input[name=password]", "Enter")
        first.wait_for_url("**/ui/runs")
        signed_in = first.evaluate(SESSION)
        old = signed_in["refreshToken"]
        second = context.new_page()  # the duplicate, with the same session as it was
        second.set_default_timeout(20_000)
        second.add_init_script(
            f"sessionStorage.setItem('tideflow.session', JSON.stringify({json.dumps(signed_in)}))"
        )
        renewals: list[str] = []
        second.on("request", lambda r: renewals.append(r.url) if "/auth/refresh" in r.url else None)
        second.goto(f"{dev.url}/ui/runs")
        second.wait_for_selector("text=Runs")
        assert second.evaluate(SESSION)["refreshToken"] == old

        # the first tab's access token is in its last 30 s: its next request renews it
        expiring = {**signed_in, "expiresAt": int(time.time() * 1000) + 20_000}
        first.evaluate(
            "(s) => sessionStorage.setItem('tideflow.session', JSON.stringify(s))", expiring
        )
        with first.expect_response(lambda r: r.url.endswith("/auth/refresh")) as answered:
            first.reload()
        assert answered.value.ok
        renewed = answered.value.json()["refreshToken"]
        assert renewed != old
        second.wait_for_function(f"(r) => {SESSION}?.refreshToken === r", arg=renewed)
        assert second.evaluate(SESSION)["token"] == first.evaluate(SESSION)["token"]
        assert renewals == []  # the second tab never presented the used token
        onward = dev.api.post("/auth/refresh", json={"refreshToken": renewed})
        assert onward.status_code == 200, onward.text  # the login was not revoked
    finally:
        context.close()
