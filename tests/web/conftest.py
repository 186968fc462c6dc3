"""The web UI against a real `tide dev` (gateway + scheduler + executor on an embedded
Postgres) in a subprocess, driven by Debian's Chromium through Python Playwright.

`tide dev` runs on a fresh database of the test Postgres (as the e2e tests do) rather than
its embedded one, so it starts in seconds and needs no second server. One `tide dev` and
one browser serve every browser test of the session; each test gets
its own browser context (a fresh sessionStorage, so a fresh login). Chromium comes from
`scripts/install.sh --with-test-deps` (Debian `chromium`), never from a download.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tideflow.store.testing import Databases, with_database

from ..e2e.stack import TIDE, free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
TOKEN = "web-test-token"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class DevServer:
    def __init__(self, data_dir: Path, dsn: str, settings: dict[str, str] | None = None) -> None:
        """`settings`: environment of this `tide dev` on top of the tests' own."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items()
               if k != "TIDEFLOW_KAFKA_BOOTSTRAP"}  # fmt: skip
        env["TIDEFLOW_ADMIN_TOKEN"] = TOKEN
        # collaboration sessions check their credential again every second (30 s by
        # default), so a role changed in a test reaches an open builder within the test
        env["TIDEFLOW_COLLAB_RECHECK_EVERY"] = "1s"
        env["TIDEFLOW_DATABASE_URL"] = dsn
        env.update(settings or {})
        self.log_path = data_dir / "dev.log"
        self.process = subprocess.Popen(
            [TIDE, "dev", "--port", str(self.port), "--data-dir", str(data_dir),
             "--examples", str(ROOT / "examples")],
            env=env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        self.api = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("tide dev did not become ready:\n" + self.log_path.read_text())

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        self.api.close()
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)

    def wait_run(self, run_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run: dict[str, Any] = self.api.get(f"/runs/{run_id}").json()
            if run["status"] in {"succeeded", "failed", "cancelled", "compensated"}:
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not end")


@pytest.fixture(scope="session")
async def web_dsn(databases: Databases, migrated_template: str) -> AsyncIterator[str]:
    name = await databases.create(template=migrated_template)
    yield with_database(databases.url, name)
    await databases.drop(name)


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory, web_dsn: str) -> Iterator[DevServer]:
    if not (ROOT / "services/gateway/src/tideflow/gateway/ui_dist/index.html").exists():
        pytest.fail("the web UI is not built: run `bash scripts/install.sh`")
    server = DevServer(tmp_path_factory.mktemp("web-dev"), web_dsn)
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.stop()
        assert code == 0, server.output()[-3000:]


@pytest.fixture(scope="module")
def browser(dev: DevServer) -> Iterator[Any]:
    """Module-scoped: sync Playwright holds an event loop in this thread while it runs,
    which the asyncio tests of other modules must not meet."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run `bash scripts/install.sh --with-test-deps`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        self.url = url
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.set_default_timeout(20_000)

    def login(self, path: str = "/ui/") -> None:
        self.page.goto(self.url + path)
        self.page.wait_for_url("**/ui/login")
        self.page.fill("input[name=token]", TOKEN)
        self.page.press("input[name=token]", "Enter")
        self.page.wait_for_url(lambda url: "/ui/login" not in url)


@pytest.fixture
def page(dev: DevServer, browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    wrapped = Page(context.new_page(), dev.url)
    try:
        yield wrapped
    finally:
        context.close()
    assert wrapped.errors == [], wrapped.errors
