"""The builder in headless Chromium against a real `tide dev`: build a three-node workflow
by drag and drop, edit it with the keyboard, publish it, run it and watch it finish live,
scrub time travel, replay from an event, then publish a change and roll it back."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from .conftest import DevServer, Page

pytestmark = [pytest.mark.e2e]


def _node_ids(page: Page) -> list[str]:
    return page.page.eval_on_selector_all(
        "[data-testid=canvas] [data-node-id]", "els => els.map(e => e.dataset.nodeId)"
    )


def _select(page: Page, node_id: str) -> None:
    page.page.click(f".react-flow__node[data-id={node_id}]")
    page.page.wait_for_selector(f"[data-testid=property-panel][data-node={node_id}]")


def _center(page: Page, selector: str) -> tuple[float, float]:
    box = page.page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _settled_center(page: Page, selector: str) -> tuple[float, float]:
    """The centre of an element once it stopped moving (the canvas may still be fitting
    its view after a drop): two reads a frame apart agree, within a deadline."""
    deadline = time.monotonic() + 5
    last = _center(page, selector)
    while True:
        page.page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")
        now = _center(page, selector)
        if now == last or time.monotonic() > deadline:
            return now
        last = now


def _connect(page: Page, source: str, target: str, edges: int) -> None:
    """Drag from a node's source handle to another's target handle, as a person would:
    hover, press, move in steps (React Flow tracks the pointer), release over the handle;
    the edge must be drawn after this one gesture. The handles are measured once they are
    still (the canvas may still be fitting its view after a drop)."""
    start = _settled_center(page, f".react-flow__node[data-id={source}] .react-flow__handle.source")
    end = _settled_center(page, f".react-flow__node[data-id={target}] .react-flow__handle.target")
    mouse = page.page.mouse
    mouse.move(*start, steps=2)
    mouse.down()
    mouse.move(start[0] + 10, start[1] + 10, steps=3)
    mouse.move(*end, steps=20)
    mouse.move(end[0] + 1, end[1], steps=2)
    mouse.move(*end, steps=1)
    mouse.up()
    page.page.wait_for_function(
        f"document.querySelectorAll('.react-flow__edge').length === {edges}", timeout=20_000
    )


def _drop_three(page: Page, name: str) -> None:
    """A new workflow with a transform, a delay and a log node dropped from the palette."""
    p = page.page
    p.fill("input[name=new-workflow]", name)
    p.press("input[name=new-workflow]", "Enter")
    p.wait_for_url(re.compile(rf"/ui/workflows/{name}$"))
    for i, node_type in enumerate(["transform", "delay", "log"]):
        p.drag_and_drop(
            f"[data-palette-type={node_type}]",
            "[data-testid=canvas]",
            target_position={"x": 120 + i * 280, "y": 120 + i * 60},
        )
        p.wait_for_selector(f"[data-testid=canvas] [data-node-id={node_type}]")


def _valid(page: Page) -> None:
    page.page.wait_for_selector("[data-testid=problem-count][data-count='0']")


def test_every_handle_drag_draws_its_edge(page: Page):
    """Each drag between two fresh nodes draws its edge the first time. React Flow used to
    lose a just-dropped node's handle positions when the builder's rebuilt nodes reached it
    after its resize observer (xyflow #4888): the edge was added but never drawn, and a
    second drag was refused as a duplicate; that hit about one drag in seven here."""
    page.login("/ui/workflows")
    for _ in range(8):
        page.page.goto(page.url + "/ui/workflows")
        _drop_three(page, f"edges-{uuid.uuid4().hex[:6]}")
        _connect(page, "transform", "delay", edges=1)
        _connect(page, "delay", "log", edges=2)


def test_build_publish_run_travel_replay_and_roll_back(dev: DevServer, page: Page):
    name = f"built-{uuid.uuid4().hex[:6]}"
    _build_and_publish(dev, page, name)
    run_id = _run_and_watch(page)
    _travel_and_replay(dev, page, run_id)
    _change_and_roll_back(dev, page, name)


def _build_and_publish(dev: DevServer, page: Page, name: str) -> None:
    p = page.page
    page.login("/ui/workflows")
    # three nodes by drag and drop from the palette, two edges by dragging handles
    _drop_three(page, name)
    assert _node_ids(page) == ["transform", "delay", "log"]
    _connect(page, "transform", "delay", edges=1)
    _connect(page, "delay", "log", edges=2)

    # configure each node in the property panel (rendered from the node types' schemas)
    _select(page, "transform")
    p.fill("textarea[name='config.value']", "{{ input.n * 10 }}")
    _select(page, "delay")
    p.fill("input[name='config.duration']", "x")
    # live validation pins the bad duration on its node
    p.wait_for_selector("[data-node-id=delay][data-problems]")
    p.fill("input[name='config.duration']", "5s")
    _select(page, "log")
    p.fill("textarea[name='config.message']", "got {{ nodes.transform.output }}")
    p.click("[data-testid=auto-layout]")
    _valid(page)

    # keyboard: copy/paste, delete, undo, redo
    _select(page, "log")
    p.click("[data-testid=canvas] .react-flow__pane", position={"x": 5, "y": 5})
    p.click(".react-flow__node[data-id=log]")
    p.keyboard.press("Control+c")
    p.keyboard.press("Control+v")
    p.wait_for_selector("[data-testid=canvas] [data-node-id=log_2]")
    p.keyboard.press("Delete")
    p.wait_for_selector("[data-testid=canvas] [data-node-id=log_2]", state="detached")
    p.keyboard.press("Control+z")
    p.wait_for_selector("[data-testid=canvas] [data-node-id=log_2]")
    p.keyboard.press("Control+Shift+z")
    p.wait_for_selector("[data-testid=canvas] [data-node-id=log_2]", state="detached")
    assert sorted(_node_ids(page)) == ["delay", "log", "transform"]

    # the YAML beside the canvas shows the same graph
    p.click("[data-tab=yaml]")
    yaml_text = p.input_value("textarea[name=yaml]")
    assert "type: delay" in yaml_text
    assert "from: delay" in yaml_text

    _valid(page)
    p.click("[data-testid=publish]")
    p.wait_for_selector("text=Published version 1.")
    stored = dev.api.get(f"/workflows/{name}/versions/1").json()["definition"]["spec"]
    assert [n["id"] for n in stored["nodes"]] == ["transform", "delay", "log"]
    assert [(e["from"], e["to"]) for e in stored["edges"]] == [
        ("transform", "delay"),
        ("delay", "log"),
    ]


def _run_and_watch(page: Page) -> str:
    """Run it from the builder and watch it finish live in the run viewer."""
    p = page.page
    p.click("[data-testid=run]")
    p.fill("textarea[name=run-input]", '{"n": 4}')
    p.click("[data-testid=start-run]")
    p.wait_for_url(re.compile(r"/ui/runs/[^/]+$"))
    run_id = p.url.rsplit("/", 1)[1]
    p.wait_for_selector("[data-node-id=delay][data-status=waiting]")
    p.wait_for_selector("[data-testid=run-viewer][data-run-status=succeeded]", timeout=20_000)
    p.wait_for_selector("[data-node-id=log][data-status=succeeded]")
    return run_id


def _travel_and_replay(dev: DevServer, page: Page, run_id: str) -> None:
    p = page.page
    # time travel back to the moment the delay started waiting
    events = dev.api.get(f"/runs/{run_id}/events").json()["items"]
    waiting = next(
        e["seq"] for e in events if e["type"] == "StepScheduled" and e["data"]["step"] == "delay"
    )
    p.fill("input[name=seq]", str(waiting))
    p.wait_for_selector(f"[data-testid=run-graph][data-at-seq='{waiting}']")
    p.wait_for_selector("[data-node-id=delay][data-status=waiting]")
    p.wait_for_selector("[data-node-id=transform][data-status=succeeded]")
    p.wait_for_selector("[data-node-id=log][data-status=pending]")

    # replay from there: a new run that reuses `transform` and finishes
    p.click("[data-testid=replay]")
    p.wait_for_url(lambda url: "/ui/runs/" in url and run_id not in url)
    replay_id = p.url.rsplit("/", 1)[1]
    p.wait_for_selector("[data-testid=replay-of]")
    replayed = dev.wait_run(replay_id)
    assert replayed["status"] == "succeeded"
    assert replayed["replayOf"] == run_id


def _change_and_roll_back(dev: DevServer, page: Page, name: str) -> None:
    """Change the draft, publish v2, look at the diff, roll back to v1 (= v3)."""
    p = page.page
    p.goto(f"{dev.url}/ui/workflows/{name}")
    _select(page, "log")
    p.fill("textarea[name='config.message']", "changed")
    _valid(page)
    p.click("[data-testid=publish]")
    p.wait_for_selector("text=Published version 2.")
    p.click("[data-tab=versions]")
    p.wait_for_selector("[data-testid=versions-panel] [data-version='2']")
    diff = p.inner_text("[data-testid=version-diff]")
    assert "+ " in diff
    assert "changed" in diff
    p.click("[data-testid=rollback-1]")
    p.click("[data-testid=confirm-rollback-1]")
    p.wait_for_selector("[data-testid=versions-panel] [data-version='3']")
    v3 = dev.api.get(f"/workflows/{name}/versions/3").json()
    assert v3["rollbackOf"] == 1
    assert v3["definition"]["spec"]["nodes"][2]["config"]["message"] != "changed"
