"""Co-editing in the browser: several people in one workflow's builder at once.

One `tide dev` (its collaboration routes on the gateway's port) and one Chromium for the
module; each person is a browser context of their own, signed in with an API token of
their own. Their definitions are read from the YAML tab (what the builder holds) and from
the collaboration service, and must all agree.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from .conftest import DevServer, Page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

WORKFLOW = "co-edit"
FORGE = """({ url, message }) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => ws.send(Uint8Array.from(message));
  ws.onmessage = (e) => {
    if (new Uint8Array(e.data)[0] === 2) { ws.close(); resolve("denied"); }
  };
  setTimeout(() => { ws.close(); resolve("no answer"); }, 10000);
})"""


def _definition(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "nodes": [
                {"id": "a", "type": "log", "config": {"message": "one"}, "ui": {"x": 0, "y": 0}},
                {"id": "b", "type": "log", "config": {"message": "two"},
                 "ui": {"x": 320, "y": 0}},
            ],
            "edges": [{"from": "a", "to": "b"}],
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def tokens(dev: DevServer) -> dict[str, str]:
    made = {}
    for name, role in (("alice", "editor"), ("bob", "editor"), ("carol", "editor"),
                       ("vera", "viewer")):  # fmt: skip
        response = dev.api.post("/auth/tokens", json={"name": name, "role": role})
        assert response.status_code == 201, response.text
        made[name] = response.json()["token"]
    return made


class Person:
    def __init__(self, context: Any, url: str, token: str, name: str) -> None:
        self.context = context
        self.name = name
        self.page = Page(context.new_page(), url)
        self.token = token

    @property
    def p(self) -> Any:
        return self.page.page

    def open(self, workflow: str) -> Person:
        self.p.goto(self.page.url + "/ui/login")
        self.p.fill("input[name=token]", self.token)
        self.p.press("input[name=token]", "Enter")
        self.p.wait_for_url(lambda url: "/ui/login" not in url)
        self.p.goto(f"{self.page.url}/ui/workflows/{workflow}")
        self.wait_status("connected")
        self.p.wait_for_selector(".react-flow__node[data-id=a]")
        return self

    def wait_status(self, status: str) -> None:
        self.p.wait_for_selector(f"[data-testid=collab-status][data-status={status}]")

    def set_message(self, node: str, message: str) -> None:
        self.p.click("[data-tab=properties]")
        self.p.click(f".react-flow__node[data-id={node}]")
        self.p.fill("textarea[name='config.message']", message)

    def definition(self) -> dict[str, Any]:
        """What the builder holds, from its YAML tab."""
        self.p.click("[data-tab=yaml]")
        text = self.p.input_value("[data-testid=builder] aside textarea")
        self.p.click("[data-tab=properties]")
        loaded: dict[str, Any] = yaml.safe_load(text)
        return loaded


@pytest.fixture
def people(dev: DevServer, browser: Any, tokens: dict[str, str]) -> Iterator[Callable[..., Person]]:
    opened: list[Person] = []

    def person(name: str, workflow: str = WORKFLOW) -> Person:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        found = Person(context, dev.url, tokens[name], name)
        opened.append(found)
        return found.open(workflow)

    yield person
    # requests the builder makes while a person is offline on purpose fail, as they should
    errors = {
        p.name: [e for e in p.page.errors if "ERR_INTERNET_DISCONNECTED" not in e] for p in opened
    }
    for p in opened:
        p.context.close()
    assert all(not e for e in errors.values()), errors


def fresh_workflow(dev: DevServer, name: str) -> str:
    response = dev.api.post("/workflows", json=_definition(name))
    assert response.status_code == 201, response.text
    return name


def shared(dev: DevServer, name: str) -> dict[str, Any]:
    response = dev.api.get(f"/collab/workflows/{name}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["definition"]
    return found


def converged(
    dev: DevServer, name: str, people: list[Person], timeout: float = 30
) -> dict[str, Any]:
    """Poll until every person's builder and the service hold one definition."""
    deadline = time.monotonic() + timeout
    while True:
        seen = [p.definition() for p in people] + [shared(dev, name)]
        if all(s == seen[0] for s in seen):
            return seen[0]
        assert time.monotonic() < deadline, f"did not converge: {seen}"
        time.sleep(0.1)


def messages(definition: dict[str, Any]) -> dict[str, str]:
    return {n["id"]: n.get("config", {}).get("message") for n in definition["spec"]["nodes"]}


def test_two_then_three_editors_converge(dev: DevServer, people: Callable[..., Person]) -> None:
    name = fresh_workflow(dev, "co-edit-three")
    alice = people("alice", name)
    bob = people("bob", name)
    alice.p.wait_for_selector("[data-testid=collab-peers][data-count='1'] [data-name=bob]")
    bob.p.wait_for_selector("[data-testid=collab-peers] [data-name=alice]")
    alice.set_message("a", "from alice")
    bob.set_message("b", "from bob")
    merged = converged(dev, name, [alice, bob])
    assert messages(merged) == {"a": "from alice", "b": "from bob"}

    carol = people("carol", name)
    carol.p.wait_for_selector("[data-testid=collab-peers][data-count='2']")
    # three at once: two fields of different nodes and a new node
    alice.set_message("a", "alice again")
    bob.set_message("b", "bob again")
    carol.p.dblclick("[data-palette-type=log]")
    # a node added to a shared draft has an id of carol's own (`log_<her client's tag>`)
    added = carol.p.wait_for_selector(".react-flow__node[data-id^=log_]").get_attribute("data-id")
    merged = converged(dev, name, [alice, bob, carol])
    assert messages(merged)["a"] == "alice again"
    assert messages(merged)["b"] == "bob again"
    assert added in messages(merged)
    alice.p.wait_for_selector(f".react-flow__node[data-id={added}]")

    # presence: a cursor and a selection are seen by the others
    alice.p.hover("[data-testid=canvas] .react-flow__pane", position={"x": 200, "y": 300})
    alice.p.mouse.move(420, 420)
    bob.p.wait_for_selector("[data-testid=peer-cursor][data-name=alice]")
    alice.p.click(".react-flow__node[data-id=b]")
    carol.p.wait_for_selector(".react-flow__node[data-id=b][data-peer-selected*=alice]")

    # a publish from the shared draft names everyone who changed it
    bob.p.click("[data-testid=publish]")
    bob.p.wait_for_selector("text=Published version")
    audit = dev.api.get("/audit", params={"limit": 20}).json()["items"]
    entry = next(e for e in audit if e["action"] == "workflow.publish"
                 and e["resource"].startswith(f"workflow/{name}/"))  # fmt: skip
    # API tokens act as `token:<name>`
    assert entry["details"]["contributors"] == ["token:alice", "token:bob", "token:carol"]
    assert entry["actor"] == "token:bob"


def test_offline_edits_merge_on_reconnect(dev: DevServer, people: Callable[..., Person]) -> None:
    name = fresh_workflow(dev, "co-edit-offline")
    alice = people("alice", name)
    bob = people("bob", name)
    bob.context.set_offline(True)
    bob.wait_status("offline")
    bob.set_message("a", "written offline")
    alice.set_message("b", "written online")
    # both add a log node while apart: the same type at the same moment, for the merge
    for person in (alice, bob):
        person.p.dblclick("[data-palette-type=log]")
        person.p.wait_for_selector(".react-flow__node[data-id^=log_]")
    # alice does not see bob's edit while he is away
    assert messages(shared(dev, name))["a"] == "one"
    bob.context.set_offline(False)
    bob.wait_status("connected")
    merged = converged(dev, name, [alice, bob])
    found = messages(merged)
    assert {k: v for k, v in found.items() if k in {"a", "b"}} == {
        "a": "written offline",
        "b": "written online",
    }
    # two nodes with ids of their own (they used to be `log` twice: DUPLICATE_NODE_ID)
    ids = [n["id"] for n in merged["spec"]["nodes"]]
    assert len(ids) == len(set(ids)) == 4, ids
    problems = dev.api.post("/definitions/validate", json=merged).json()["problems"]
    assert not [p for p in problems if p["code"] == "DUPLICATE_NODE_ID"], problems


def test_undo_takes_back_only_my_edits(dev: DevServer, people: Callable[..., Person]) -> None:
    name = fresh_workflow(dev, "co-edit-undo")
    alice = people("alice", name)
    bob = people("bob", name)
    alice.set_message("a", "alice's")
    converged(dev, name, [alice, bob])
    bob.set_message("b", "bob's")
    converged(dev, name, [alice, bob])
    alice.p.click("[data-testid=canvas] .react-flow__pane", position={"x": 5, "y": 5})
    alice.p.click("[data-testid=undo]")
    merged = converged(dev, name, [alice, bob])
    assert messages(merged) == {"a": "one", "b": "bob's"}
    alice.p.click("[data-testid=redo]")
    merged = converged(dev, name, [alice, bob])
    assert messages(merged) == {"a": "alice's", "b": "bob's"}


def test_a_viewer_follows_but_cannot_edit(dev: DevServer, people: Callable[..., Person]) -> None:
    name = fresh_workflow(dev, "co-edit-viewer")
    alice = people("alice", name)
    vera = people("vera", name)
    vera.p.wait_for_selector("[data-testid=read-only]")
    vera.set_message("a", "defaced")
    alice.set_message("b", "edited by alice")
    merged = converged(dev, name, [alice, vera])
    assert messages(merged) == {"a": "one", "b": "edited by alice"}
    # a viewer may not publish either
    response = dev.api.get(
        f"/collab/workflows/{name}", headers={"Authorization": f"Bearer {vera.token}"}
    )
    assert response.json()["readOnly"] is True


def test_an_editor_lowered_to_viewer_becomes_view_only_in_an_open_builder(
    dev: DevServer, browser: Any, people: Callable[..., Person]
) -> None:
    """The service checks a session's credential again while it lasts (every second under
    this test's `tide dev`): an editor made viewer is disconnected with 4403, and the
    builder reads its access again and joins as a viewer, without a reload."""
    name = fresh_workflow(dev, "co-edit-demoted")
    username = f"erin-{uuid.uuid4().hex[:6]}"
    created = dev.api.post(
        "/users",
        json={"username": username, "password": "correct horse", "tenant": "default",
              "role": "editor"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    alice = people("alice", name)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    erin = Page(context.new_page(), dev.url)
    try:
        erin.page.goto(dev.url + "/ui/login")
        erin.page.fill("input[name=username]", username)
        erin.page.fill("input[name=password]", "correct horse")
        erin.page.press("input[name=password]", "Enter")
        erin.page.wait_for_url(lambda url: "/ui/login" not in url)
        erin.page.goto(f"{dev.url}/ui/workflows/{name}")
        erin.page.wait_for_selector("[data-testid=collab-status][data-status=connected]")
        assert erin.page.query_selector("[data-testid=read-only]") is None

        changed = dev.api.patch(f"/users/{created.json()['id']}", json={"role": "viewer"})
        assert changed.status_code == 200, changed.text
        erin.page.wait_for_selector("[data-testid=read-only]", timeout=15_000)
        erin.page.wait_for_selector("[data-testid=collab-status][data-status=connected]")
        # her edits no longer get through; alice's still reach her
        erin.page.click("[data-tab=properties]")
        erin.page.click(".react-flow__node[data-id=a]")
        erin.page.fill("textarea[name='config.message']", "after the demotion")
        alice.set_message("b", "still editing")
        merged = converged(dev, name, [alice])
        assert messages(merged) == {"a": "one", "b": "still editing"}
    finally:
        context.close()
    assert erin.errors == [], erin.errors
