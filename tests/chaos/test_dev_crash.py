"""`tide dev` (the embedded default) killed with runs in flight: nothing it acknowledged is lost.

One data dir, three blows, each while a wave of 50 runs is mid-way through three `http`
steps against a slow local server (plus 10 runs answered 201 just before the blow):
SIGKILL of `tide dev`, SIGTERM (Ctrl-C) of `tide dev`, and SIGKILL of its Postgres. After
each, `tide dev` is started again on the same data dir (the Postgres one is restarted by
`tide dev` itself), and in the end every run has succeeded, every step succeeded exactly
once in the log, and every run's seqs are gapless. A SIGKILLed `tide dev` must not leave
its Postgres behind, and two `tide dev` on different data dirs run side by side.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..e2e.stack import TIDE, free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(600)]

RUNS = 50
BUSY_RUNS = 10
STEPS = ("a", "b", "c")
STEP_SECONDS = 0.4
TOKEN = "dev-crash-token"


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A caller killed mid-request (the point of these tests) is not worth a trace."""


class SlowServer:
    """Answers every GET after STEP_SECONDS and counts the calls per path."""

    def __init__(self) -> None:
        self.hits: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(STEP_SECONDS)  # the slow third party
                with lock:
                    hits[self.path] += 1
                body = json.dumps({"path": self.path}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def total(self) -> int:
        return sum(self.hits.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def workflow(port: int) -> str:
    nodes = "\n".join(
        f"    - {{id: {step}, type: http, timeout: 30s, config: {{method: GET, "
        f'url: "http://127.0.0.1:{port}/{{{{ input.n }}}}/{step}"}}}}'
        for step in STEPS
    )
    return (
        "apiVersion: tideflow.io/v1\nkind: Workflow\nmetadata: {name: slow-http}\n"
        f"spec:\n  input: {{type: object, required: [n]}}\n  nodes:\n{nodes}\n"
        "  edges:\n    - {from: a, to: b}\n    - {from: b, to: c}\n"
    )


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Dev:
    """One `tide dev` on a data dir, restartable."""

    def __init__(self, data_dir: Path, examples: Path) -> None:
        self.data_dir = data_dir
        self.examples = examples
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.client = httpx.Client(base_url=self.url, timeout=10,
                                   headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip

    def start(self) -> None:
        self.launch()
        self.wait_healthy()

    def launch(self) -> None:
        """Start `tide dev` without waiting for it (see `wait_healthy`)."""
        self.starts += 1
        env = {k: v for k, v in os.environ.items()
               if k not in {"TIDEFLOW_DATABASE_URL", "TIDEFLOW_KAFKA_BOOTSTRAP"}}  # fmt: skip
        env |= {"TIDEFLOW_ADMIN_TOKEN": TOKEN, "TIDEFLOW_LOG_LEVEL": "WARNING"}
        log = (self.data_dir.parent / f"dev-{self.data_dir.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [TIDE, "dev", "--port", str(self.port), "--data-dir", str(self.data_dir),
             "--examples", str(self.examples)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_healthy(self) -> None:
        wait_for(self._healthy, "tide dev to be healthy", timeout=120)

    def _healthy(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, self.log_tail()
        try:
            return self.client.get("/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self) -> str:
        log = self.data_dir.parent / f"dev-{self.data_dir.name}-{self.starts}.log"
        return log.read_text(errors="replace")[-3000:]

    def postmaster(self) -> int | None:
        try:
            return int((self.data_dir / "postgres/data/postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None  # between a dead server and its successor

    def signal(self, sig: signal.Signals) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=90)

    def start_runs(self, first: int, count: int) -> list[str]:
        ids = []
        for n in range(first, first + count):
            response = self.client.post("/runs", json={"workflowId": "slow-http",
                                                       "input": {"n": n}})  # fmt: skip
            assert response.status_code == 201, response.text
            ids.append(response.json()["runId"])
        return ids

    def get(self, path: str) -> Any:
        response = self.client.get(path)
        response.raise_for_status()
        return response.json()


def postgres_of(data_dir: Path) -> list[int]:
    """PIDs of any postgres process serving this data dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "postgres" in cmdline and f"{data_dir}/postgres/data" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A folder straight under the temp dir, not pytest's: the server runs as another user
    (under root) and must traverse every parent, but pytest resets its own base folder to
    0700 whenever a session starts, e.g. another developer's on a shared machine."""
    folder = Path(tempfile.mkdtemp(prefix="tideflow-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def slow() -> Iterator[SlowServer]:
    server = SlowServer()
    yield server
    server.close()


@pytest.fixture
def dev(data_root: Path, slow: SlowServer) -> Iterator[Dev]:
    examples = data_root / "examples"
    examples.mkdir()
    (examples / "slow-http.yaml").write_text(workflow(slow.port))
    server = Dev(data_root / "data", examples)
    yield server
    if server.process is not None and server.process.poll() is None:
        server.signal(signal.SIGTERM)


def mid_flight(slow: SlowServer, before: int) -> Callable[[], bool]:
    """Some steps of the wave done, most still to come."""
    return lambda: slow.total() - before >= RUNS // 2


def test_runs_survive_sigkill_sigterm_and_a_postgres_kill(dev: Dev, slow: SlowServer) -> None:
    dev.start()
    run_ids: list[str] = []
    unfinished_at_blow: list[int] = []

    def wave(blow: Callable[[], None]) -> None:
        first = len(run_ids)
        before = slow.total()
        run_ids.extend(dev.start_runs(first, RUNS))
        wait_for(mid_flight(slow, before), "the wave to be mid-way")
        run_ids.extend(dev.start_runs(len(run_ids), BUSY_RUNS))  # 201 while busy
        called = {path for path in list(slow.hits) if int(path.split("/")[1]) >= first}
        unfinished_at_blow.append((len(run_ids) - first) * len(STEPS) - len(called))
        blow()

    def sigkill() -> None:
        dev.signal(signal.SIGKILL)
        wait_for(lambda: not postgres_of(dev.data_dir), "its Postgres to die with it", 30)
        dev.start()

    def sigterm() -> None:
        assert dev.signal(signal.SIGTERM) == 0, dev.log_tail()
        assert not postgres_of(dev.data_dir)
        dev.start()

    def kill_postgres() -> None:
        victim = dev.postmaster()
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: dev.postmaster() not in {None, victim}, "Postgres again", 60)

    wave(sigkill)
    wave(sigterm)
    wave(kill_postgres)

    began = time.monotonic()
    pending = set(run_ids)
    statuses: dict[str, str] = {}

    def all_ended() -> bool:
        for run_id in list(pending):
            response = dev.client.get(f"/runs/{run_id}")
            if response.status_code == 503:  # a pooled session that Postgres dropped
                return False
            response.raise_for_status()
            status = response.json()["status"]
            if status in {"succeeded", "failed", "cancelled", "compensated"}:
                statuses[run_id] = status
                pending.discard(run_id)
        return not pending

    wait_for(all_ended, f"{len(pending)} runs to end", timeout=180)
    assert set(statuses.values()) == {"succeeded"}, collections.Counter(statuses.values())
    for run_id in run_ids:
        events = dev.get(f"/runs/{run_id}/events?limit=1000")["items"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), run_id
        succeeded = collections.Counter(
            e["data"]["step"] for e in events if e["type"] == "StepSucceeded"
        )
        assert succeeded == dict.fromkeys(STEPS, 1), (run_id, succeeded)
    calls = sum(slow.hits.values())
    print(  # noqa: T201
        f"{len(run_ids)} runs all succeeded {time.monotonic() - began:.1f}s after the last blow; "
        f"steps unfinished at each blow: {unfinished_at_blow}; http calls {calls} for "
        f"{len(run_ids) * len(STEPS)} steps (repeats are at-least-once steps)"
    )
    assert min(unfinished_at_blow) > 0, "a blow hit no run in flight: the test proves nothing"


def test_two_dev_servers_run_side_by_side(data_root: Path) -> None:
    examples = data_root / "examples"
    examples.mkdir()
    first, second = Dev(data_root / "one", examples), Dev(data_root / "two", examples)
    try:
        first.launch()  # both start at once: side by side from the first moment
        second.launch()
        first.wait_healthy()
        second.wait_healthy()
        for server in (first, second):
            url = (server.data_dir / "postgres/database-url").read_text()
            assert "host=" in url  # a Unix socket in its data dir, no TCP port
            assert server.get("/runs")["items"] == []
        # A third on the first one's data dir is refused, and leaves the first alone.
        third = subprocess.run(
            [TIDE, "dev", "--port", str(free_port()), "--data-dir", str(first.data_dir),
             "--examples", str(examples)],
            env={k: v for k, v in os.environ.items() if k != "TIDEFLOW_DATABASE_URL"},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert third.returncode == 1
        assert "another tide dev" in third.stderr
        assert first.get("/runs")["items"] == []
        # One on its own data dir but the first one's API port: one line, nothing started.
        clash = subprocess.run(
            [TIDE, "dev", "--port", str(first.port), "--data-dir", str(data_root / "three"),
             "--examples", str(examples)],
            env={k: v for k, v in os.environ.items() if k != "TIDEFLOW_DATABASE_URL"},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert clash.returncode == 1
        assert "PORT_IN_USE" in clash.stderr
        assert "Traceback" not in clash.stderr
        assert not postgres_of(data_root / "three")
    finally:
        for server in (first, second):
            if server.process is not None and server.process.poll() is None:
                assert server.signal(signal.SIGTERM) == 0
    assert not postgres_of(first.data_dir)
    assert not postgres_of(second.data_dir)
