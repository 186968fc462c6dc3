"""Web UI benchmark: time to show a run of 1,000 steps, and frame time while panning a
500-node graph, in headless Debian Chromium (Playwright, no browser download).

    .venv/bin/python bench/web_ui.py [--steps 1000] [--pan-nodes 500] [--repeat 3]

The gateway app serves the real UI build (`scripts/install.sh` makes it) from a thread;
the run's API answers are synthetic (Playwright routes), so what is measured is the UI
alone: from the moment the last page of the event log has arrived to the moment the graph,
coloured as of the last event, and the Gantt with every step are on screen. Panning drags
the run graph's canvas for two seconds and records the interval between animation frames.
Numbers are printed, never asserted (goals: < 300 ms to show, < 16 ms per frame).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import Route, sync_playwright

from tideflow.bus import InMemoryBus
from tideflow.gateway import GatewaySettings
from tideflow.gateway.app import create_app
from tideflow.store import InMemoryEventStore

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]  # fmt: skip
LANES = 10
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(ms: int) -> str:
    return (T0 + timedelta(milliseconds=ms)).isoformat()


def synthetic_run(steps: int) -> dict[str, Any]:
    """A succeeded run of `steps` nodes in LANES parallel chains, with its event log."""
    nodes = [{"id": f"n{i}", "type": "transform", "config": {"value": i}} for i in range(steps)]
    edges = [{"from": f"n{i - LANES}", "to": f"n{i}"} for i in range(LANES, steps)]
    definition = {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": "bench-ui"},
        "spec": {"nodes": nodes, "edges": edges},
    }
    events: list[dict[str, Any]] = []

    def add(kind: str, ms: int, **data: Any) -> None:
        events.append({"seq": len(events) + 1, "type": kind, "recordedAt": _at(ms),
                       "data": {"at": _at(ms), **data}})  # fmt: skip

    add("RunStarted", 0, runId="bench", workflow="bench-ui", version=1, definition=definition)
    for i in range(steps):
        ms = (i // LANES) * 20
        add("StepScheduled", ms, step=f"n{i}", nodeId=f"n{i}", nodeType="transform",
            execution="dispatch", attempt=1)  # fmt: skip
        add("StepStarted", ms + 2, step=f"n{i}", attempt=1)
        add("StepSucceeded", ms + 15, step=f"n{i}", attempt=1, output=i)
    end = (steps // LANES) * 20 + 20
    add("RunSucceeded", end, output=None)
    step_views = [{"nodeId": f"n{i}", "status": "succeeded", "attempt": 1, "output": i,
                   "startedAt": _at(0), "endedAt": _at(end)} for i in range(steps)]  # fmt: skip
    run = {"runId": "bench", "workflowId": "bench-ui", "version": 1, "status": "succeeded",
           "input": {}, "output": None, "error": None, "startedAt": _at(0), "endedAt": _at(end),
           "parentRunId": None, "replayOf": None, "idempotencyKey": None,
           "lastSeq": len(events), "steps": step_views}  # fmt: skip
    return {"run": run, "events": events}


class Api:
    """Answers the run viewer's requests for one synthetic run."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def handle(self, route: Route) -> None:
        if route.request.resource_type not in {"fetch", "xhr"}:
            route.continue_()  # the page itself (/ui/runs/...) comes from the gateway
            return
        url = route.request.url
        path, _, query = url.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        body: Any
        if path.endswith("/events"):
            after, limit = int(params.get("afterSeq", 0)), int(params.get("limit", 500))
            page = [e for e in self.data["events"] if e["seq"] > after][:limit]
            more = page and page[-1]["seq"] < len(self.data["events"])
            body = {"items": page, "nextAfterSeq": page[-1]["seq"] if more else None}
        elif path.endswith("/state"):
            body = {**self.data["run"], "atSeq": int(params.get("atSeq", 1)), "vars": {}}
        elif path.endswith("/runs"):
            body = {"items": [], "nextCursor": None}
        else:
            body = self.data["run"]
        text = json.dumps(body, separators=(",", ":"))
        route.fulfill(status=200, content_type="application/json", body=text)


# Records when the last page of events arrived and when the run was fully on screen.
PROBE = r"""
sessionStorage.setItem('tideflow.session', JSON.stringify({token: 'bench', subject: 'bench'}));
window.__bench = {dataAt: null, shownAt: null};
const original = window.fetch;
window.fetch = async (...args) => {
  const response = await original(...args);
  const url = args[0] instanceof Request ? args[0].url : String(args[0]);
  if (url.includes('/events?')) {
    const text = await response.clone().text();
    if (/"nextAfterSeq":\s*null/.test(text)) window.__bench.dataAt = performance.now();
  }
  return response;
};
const check = () => {
  const b = window.__bench;
  const graph = document.querySelector('[data-testid=run-graph]');
  if (b.dataAt !== null && graph && graph.dataset.atSeq === String(window.__lastSeq)
      && graph.querySelector('.react-flow__node [data-status=succeeded]')
      && document.querySelector('[data-testid=gantt]')?.dataset.rows === String(window.__steps)
      && document.querySelector('[data-gantt-row]')) {
    b.shownAt = performance.now();
    return;
  }
  requestAnimationFrame(check);
};
requestAnimationFrame(check);
"""

# Frame intervals while panning: started before the drag, read after it.
FRAMES_START = """() => {
  window.__frames = [];
  window.__panning = true;
  let last = performance.now();
  const tick = (t) => {
    window.__frames.push(t - last);
    last = t;
    if (window.__panning) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
FRAMES_STOP = "() => { window.__panning = false; return window.__frames.slice(1); }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_ui() -> tuple[str, uvicorn.Server]:
    port = _free_port()
    app = create_app(settings=GatewaySettings(), store=InMemoryEventStore(), bus=InMemoryBus())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the gateway did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


def open_run(browser: Any, url: str, steps: int) -> tuple[Any, Any, float]:
    """A fresh page on the run viewer of a synthetic run; returns (context, page, ms to show)."""
    data = synthetic_run(steps)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.add_init_script(
        f"window.__lastSeq = {len(data['events'])}; window.__steps = {steps};" + PROBE
    )
    api = Api(data)
    page.route("**/runs/**", api.handle)
    page.route("**/runs?**", api.handle)
    page.goto(f"{url}/ui/runs/bench")
    page.wait_for_function("window.__bench.shownAt !== null", timeout=60_000)
    result = page.evaluate("window.__bench")
    return context, page, float(result["shownAt"] - result["dataAt"])


def show_run(browser: Any, url: str, steps: int) -> float:
    context, _, shown = open_run(browser, url, steps)
    context.close()
    return shown


def pan_frames(browser: Any, url: str, nodes: int) -> list[float]:
    context, page, _ = open_run(browser, url, nodes)
    box = page.locator("[data-testid=run-graph] .react-flow__pane").bounding_box()
    if box is None:
        raise SystemExit("the run graph is not on screen")
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.evaluate(FRAMES_START)
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < 2.0:  # back and forth across the canvas for 2 s
        dx = 300 * ((i % 40) / 20 - 1)
        page.mouse.move(x + dx, y + dx / 3)
        i += 1
    values: list[float] = page.evaluate(FRAMES_STOP)
    page.mouse.up()
    context.close()
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--pan-nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (Path(__file__).parents[1] / "services/gateway/src/tideflow/gateway/ui_dist").exists():
        raise SystemExit("build the UI first: bash scripts/install.sh")
    url, server = serve_ui()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            shows = [show_run(browser, url, args.steps) for _ in range(args.repeat)]
            print(f"show a run of {args.steps} steps ({args.steps * 3 + 2} events), after the "
                  f"data arrived: median {statistics.median(shows):.0f} ms, "
                  f"runs {', '.join(f'{s:.0f}' for s in shows)} ms")  # fmt: skip
            frames = pan_frames(browser, url, args.pan_nodes)
            frames.sort()
            p95 = frames[int(len(frames) * 0.95) - 1] if frames else float("nan")
            print(f"pan a {args.pan_nodes}-node graph: {len(frames)} frames in 2 s, frame time "
                  f"median {statistics.median(frames):.1f} ms, p95 {p95:.1f} ms, "
                  f"max {frames[-1]:.1f} ms")  # fmt: skip
            browser.close()
    finally:
        server.should_exit = True


if __name__ == "__main__":
    main()
