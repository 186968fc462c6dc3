"""Collaboration benchmark: sync latency between two browsers, and memory per room.

    .venv/bin/python bench/collab_sync.py [--samples 100] [--rooms 100]

Starts `tide dev` (its embedded Postgres in a temporary folder; the collaboration routes
on the gateway's port), then:
- **latency**: two headless Chromium contexts open one workflow's builder; in turn, one
  types a new value into a node's config field (an input event dispatched in the page,
  timestamped there) and the other notices the value in its YAML tab (polled on every
  millisecond, so within about 4 ms); both pages share the machine's clock. Printed: p50/p95/max of
  the time from the keystroke in one browser to the change on screen in the other;
- **memory per room**: the RSS of the `tide dev` process before and after opening
  `--rooms` rooms (a pycrdt y-websocket client each, on a 10-node workflow), divided by
  the number of rooms.
Numbers are printed, never asserted (goal: p95 < 50 ms; the seed asks < 200 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from playwright.sync_api import sync_playwright
from pycrdt import Doc, YMessageType, create_sync_message, handle_sync_message

ROOT = Path(__file__).resolve().parents[1]
TIDE = str(ROOT / ".venv" / "bin" / "tide")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]  # fmt: skip
TOKEN = "bench-collab-token"  # noqa: S105 - a throwaway dev server's admin token

SEND = """value => {
  const el = document.querySelector("textarea[name='config.message']");
  const set = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value").set;
  set.call(el, value);
  const at = Date.now();
  el.dispatchEvent(new Event("input", { bubbles: true }));
  return at;
}"""
WATCH = """marker => ({ arrived: new Promise((resolve, reject) => {
  const until = Date.now() + 10000;
  const look = () => {
    const text = document.querySelector("[data-testid=builder] aside textarea");
    if (text && text.value.includes(marker)) resolve(Date.now());
    else if (Date.now() > until) reject(new Error("the edit never arrived"));
    else setTimeout(look, 1);
  };
  look();
}) })"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workflow(name: str, nodes: int) -> dict[str, Any]:
    return {
        "apiVersion": "tideflow.io/v1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {
            "nodes": [
                {"id": f"n{i}", "type": "log", "config": {"message": f"step {i}"},
                 "ui": {"x": 220 * i, "y": 0}}
                for i in range(nodes)
            ],
            "edges": [{"from": f"n{i}", "to": f"n{i + 1}"} for i in range(nodes - 1)],
        },
    }  # fmt: skip


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def open_builder(browser: Any, url: str, name: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(url + "/ui/login")
    page.fill("input[name=token]", TOKEN)
    page.press("input[name=token]", "Enter")
    page.wait_for_url(lambda u: "/ui/login" not in u)
    page.goto(f"{url}/ui/workflows/{name}")
    page.wait_for_selector("[data-testid=collab-status][data-status=connected]", timeout=30_000)
    page.click(".react-flow__node[data-id=n0]")
    page.wait_for_selector("textarea[name='config.message']")
    return page


def latency(url: str, samples: int) -> list[float]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages = [open_builder(browser, url, "bench-latency") for _ in range(2)]
        for page in pages:  # the receiver watches its YAML tab
            page.click("[data-tab=yaml]")
        results: list[float] = []
        for i in range(samples + 5):
            sender, receiver = pages[i % 2], pages[(i + 1) % 2]
            sender.click("[data-tab=properties]")
            sender.wait_for_selector("textarea[name='config.message']")
            marker = f"m{i}-{time.monotonic_ns()}"
            seen = receiver.evaluate_handle(WATCH, marker)
            sent = sender.evaluate(SEND, marker)
            arrived = receiver.evaluate("watch => watch.arrived", seen)
            sender.click("[data-tab=yaml]")
            if i >= 5:  # warm-up
                results.append(float(arrived - sent))
        browser.close()
    return results


async def memory_per_room(url: str, pid: int, rooms: int) -> tuple[int, int]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        for i in range(rooms):
            response = await api.post("/workflows", json=workflow(f"bench-room-{i}", 10))
            response.raise_for_status()
    before = rss(pid)
    sockets = []
    for i in range(rooms):
        ws = await websockets.connect(
            url.replace("http", "ws", 1) + f"/collab/bench-room-{i}?token={TOKEN}"
        )
        doc: Doc[Any] = Doc()
        await ws.send(create_sync_message(doc))
        while True:  # until the room's state arrived
            message = await ws.recv()
            if isinstance(message, bytes) and message[0] == YMessageType.SYNC:
                handle_sync_message(message[1:], doc)
                if message[1] == 1:
                    break
        sockets.append(ws)
    await asyncio.sleep(1)  # let the process settle before reading its RSS
    after = rss(pid)
    for ws in sockets:
        await ws.close()
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--rooms", type=int, default=100)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if k not in {"TIDEFLOW_KAFKA_BOOTSTRAP", "TIDEFLOW_DATABASE_URL"}}  # fmt: skip
    env["TIDEFLOW_ADMIN_TOKEN"] = TOKEN
    with tempfile.TemporaryDirectory() as data:
        log = Path(data) / "dev.log"
        process = subprocess.Popen(
            [TIDE, "dev", "--port", str(port), "--data-dir", data, "--examples", data],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit("tide dev did not start:\n" + log.read_text()[-2000:])
                time.sleep(0.2)
            httpx.post(f"{url}/workflows", json=workflow("bench-latency", 10),
                       headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()  # fmt: skip
            results = latency(url, args.samples)
            ordered = sorted(results)
            p50 = statistics.median(ordered)
            p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
            print(f"sync latency, browser to browser ({len(ordered)} edits): "
                  f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms")  # fmt: skip
            before, after = asyncio.run(memory_per_room(url, process.pid, args.rooms))
            print(f"collab memory: {args.rooms} rooms open, RSS {before / 2**20:.1f} -> "
                  f"{after / 2**20:.1f} MiB, {(after - before) / args.rooms / 1024:.0f} KiB "
                  "per room (10-node workflow, one client each)")  # fmt: skip
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
