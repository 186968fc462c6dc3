"""The web UI in headless Chromium against a real `tide dev`: serving, login, the run
viewer following a run live, time travel, replay from an event."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from .conftest import DevServer, Page

pytestmark = [pytest.mark.e2e]


def _publish(dev: DevServer, nodes: list[dict], edges: list[dict]) -> str:
    name = f"web-{uuid.uuid4().hex[:8]}"
    definition = {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"nodes": nodes, "edges": edges},
    }
    assert dev.api.post("/workflows", json=definition).status_code == 201
    assert dev.api.post(f"/workflows/{name}/publish").status_code == 201
    return name


def _statuses(page: Page) -> dict[str, str]:
    return dict(
        page.page.eval_on_selector_all(
            "[data-testid=run-graph] [data-node-id]",
            "els => els.map(e => [e.dataset.nodeId, e.dataset.status])",
        )
    )


def test_the_gateway_serves_the_app_docs_and_deep_links(dev: DevServer, page: Page):
    assert "web UI: " + dev.url + "/ui/" in dev.output()
    root = httpx.get(dev.url + "/", follow_redirects=False)
    assert root.status_code == 307
    assert root.headers["location"] == "/ui/"

    page.page.goto(dev.url + "/docs")
    page.page.wait_for_selector(".swagger-ui .info .title")
    assert "Tideflow API" in page.page.inner_text(".swagger-ui .info .title")

    # a deep link without a session goes to the login, and back after it
    page.login("/ui/runs?status=succeeded")
    page.page.wait_for_url(re.compile(r"/ui/runs\?status=succeeded$"))
    table = page.page.locator("[data-testid=run-table]")
    table.or_(page.page.get_by_text("No runs match")).first.wait_for()


def test_a_bad_token_is_refused(page: Page):
    page.page.goto(page.url + "/ui/login")
    page.page.fill("input[name=token]", "not-the-token")
    page.page.press("input[name=token]", "Enter")
    page.page.wait_for_selector("text=That token is not valid.")
    # the failed check is a 401 the browser logs; it is the expected answer here
    page.errors = [e for e in page.errors if "401" not in e]


def test_run_viewer_follows_a_run_live_travels_in_time_and_replays(dev: DevServer, page: Page):
    name = _publish(
        dev,
        [
            {"id": "first", "type": "transform", "config": {"value": "{{ input.n * 2 }}"}},
            {"id": "pause", "type": "delay", "config": {"duration": "5s"}},
            {"id": "last", "type": "log", "config": {"message": "n={{ input.n }}"}},
        ],
        [{"from": "first", "to": "pause"}, {"from": "pause", "to": "last"}],
    )
    page.login("/ui/runs")
    run = dev.api.post(f"/workflows/{name}/runs", json={"input": {"n": 21}}).json()
    page.page.goto(f"{dev.url}/ui/runs/{run['runId']}")

    # live: the delay is seen waiting, then everything succeeds without a reload
    page.page.wait_for_selector("[data-node-id=pause][data-status=waiting]")
    page.page.wait_for_selector("[data-testid=live]")
    page.page.wait_for_selector("[data-node-id=last][data-status=succeeded]", timeout=30_000)
    page.page.wait_for_selector("[data-testid=run-viewer][data-run-status=succeeded]")
    assert _statuses(page) == {"first": "succeeded", "pause": "succeeded", "last": "succeeded"}
    last_seq = int(page.page.get_attribute("input[name=seq]", "max"))
    events = dev.api.get(f"/runs/{run['runId']}/events").json()["items"]
    assert last_seq == events[-1]["seq"]

    # time travel: right after `first` succeeded, the rest is still ahead
    first_done = next(
        e["seq"] for e in events if e["type"] == "StepSucceeded" and e["data"]["step"] == "first"
    )
    page.page.fill("input[name=seq]", str(first_done))
    page.page.wait_for_selector(f"[data-testid=run-graph][data-at-seq='{first_done}']")
    statuses = _statuses(page)
    assert statuses["first"] == "succeeded"
    assert statuses["last"] == "pending"
    page.page.wait_for_selector(f"[data-testid=inspector][data-at-seq='{first_done}']")
    gantt_rows = page.page.eval_on_selector_all("[data-gantt-row]", "els => els.length")
    assert gantt_rows == 1
    page.page.fill("input[name=seq]", "1")
    page.page.wait_for_selector("[data-testid=run-graph][data-at-seq='1']")
    assert set(_statuses(page).values()) == {"pending"}

    # replay from the event after `first` with an edited input: a new, linked run
    page.page.fill("input[name=seq]", str(first_done))
    page.page.click("text=Edit input…")
    page.page.fill("textarea[name=replay-input]", '{"n": 5}')
    page.page.click("[data-testid=replay]")
    page.page.wait_for_url(lambda url: run["runId"] not in url and "/ui/runs/" in url)
    new_id = page.page.url.rsplit("/", 1)[1]
    page.page.wait_for_selector("[data-testid=replay-of]")
    replayed = dev.wait_run(new_id)
    assert replayed["replayOf"] == run["runId"]
    assert replayed["status"] == "succeeded"
    assert replayed["input"] == {"n": 5}
    page.page.wait_for_selector("[data-node-id=last][data-status=succeeded]")


def test_a_user_signs_in_with_a_password(dev: DevServer, page: Page):
    username = f"ada-{uuid.uuid4().hex[:6]}"
    created = dev.api.post(
        "/users", json={"username": username, "password": "correct horse 1", "role": "viewer"}
    )
    assert created.status_code == 201, created.text
    page.page.goto(page.url + "/ui/login")
    page.page.wait_for_selector("input[name=username]")
    page.page.fill("input[name=username]", username)
    page.page.fill("input[name=password]", "correct horse 1")
    page.page.press("input[name=password]", "Enter")
    page.page.wait_for_selector("[data-testid=throughput]")
    assert page.page.inner_text("[data-testid=subject]") == username
    session = page.page.evaluate("sessionStorage.getItem('tideflow.session')")
    assert '"refreshToken"' in session
    assert username not in page.page.url


def test_an_approval_is_decided_inline_and_the_run_goes_on(dev: DevServer, page: Page):
    page.login("/ui/runs")
    run = dev.api.post("/workflows/order-approval/runs", json={"input": {"total": 1500}}).json()
    page.page.goto(f"{dev.url}/ui/runs/{run['runId']}")

    # the waiting step carries a badge and the approval is shown with what to decide
    page.page.wait_for_selector("[data-node-id=approve][data-status=waiting]", timeout=30_000)
    page.page.wait_for_selector("[data-node-id=approve] [data-testid=node-approval]")
    page.page.click("[data-testid=pending-approvals] [data-approval-node=approve]")
    card = page.page.locator("[data-testid=approval][data-approval-node=approve]")
    card.wait_for()
    assert card.get_attribute("data-approval-status") == "pending"
    assert "Order of 1500" in card.inner_text()
    assert card.locator("[data-testid=approval-who]").inner_text() == "role: approver"
    assert card.locator("[data-testid=approval-quorum]").inner_text() == "0 of 1 approvals"

    page.page.fill("textarea[name=approval-comment]", "checked the order")
    card.locator("[data-testid=approve]").click()

    # live: the run takes the approve path and succeeds, without a reload
    page.page.wait_for_selector("[data-node-id=book][data-status=succeeded]", timeout=30_000)
    page.page.wait_for_selector("[data-testid=run-viewer][data-run-status=succeeded]")
    statuses = _statuses(page)
    assert statuses["approve"] == "succeeded"
    assert statuses["refuse"] == "skipped"
    decided = page.page.locator("[data-testid=approval][data-approval-status=decided]")
    decided.wait_for()
    assert "checked the order" in decided.inner_text()
    assert page.page.locator("[data-testid=node-approval]").count() == 0
    approval = dev.api.get("/approvals", params={"runId": run["runId"]}).json()["items"][0]
    assert approval["decision"] == "approve"
    assert approval["comment"] == "checked the order"
