"""What the secrets tests of the engine share: run one-node workflows on a served
platform to their end, then look everywhere a value could have gone.

Every row of every table, every log record of the process (captured at DEBUG) and every
API answer about the runs: a test plants a value, hands a predicate that finds it in any
of its forms, and asserts that nothing matched (and that the masks replacing it did, so it
cannot pass by never exercising a path).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from tideflow.runtime import EmbeddedServer

TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}


class LogCapture(logging.Handler):
    """Every record of the process, formatted (with its traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def captured_logs() -> Iterator[LogCapture]:
    """Every record of the process at DEBUG while it lasts; the root logger restored after."""
    capture = LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


@contextlib.asynccontextmanager
async def local_server(routes: list[Route]) -> AsyncIterator[str]:
    """A Starlette app on a free loopback port, for workflows to call; its base URL."""
    app = Starlette(routes=routes)
    server = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    task = await server.start_serving()
    try:
        yield f"http://127.0.0.1:{server.bound_port}"
    finally:
        server.should_exit = True
        await task


def one_node_workflow(name: str, node: dict[str, Any]) -> dict[str, Any]:
    """A workflow of one node `call`, tried once (unless the node says otherwise)."""
    node = {"id": "call", "retry": {"maxAttempts": 1}} | node
    return {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"nodes": [node]}}  # fmt: skip


async def finished(
    client: httpx.AsyncClient,
    run_id: str,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float = 60,
) -> dict[str, Any]:
    """The run once it has ended (polled with a deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        run: dict[str, Any] = (await client.get(f"/runs/{run_id}", headers=headers)).json()
        if run["status"] in TERMINAL:
            return run
        assert loop.time() < deadline, run
        await asyncio.sleep(0.05)


async def run_each(
    client: httpx.AsyncClient, workflows: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Create, publish and start every workflow (by name), all at once; each run ended."""
    started: dict[str, str] = {}
    for name, definition in workflows.items():
        created = await client.post("/workflows", json=definition)
        assert created.status_code == 201, created.text
        assert (await client.post(f"/workflows/{name}/publish")).status_code == 201
        run = await client.post(f"/workflows/{name}/runs", json={"input": {}})
        assert run.status_code == 201, run.text
        started[name] = run.json()["runId"]
    return {name: await finished(client, run_id) for name, run_id in started.items()}


async def api_answers(
    client: httpx.AsyncClient, runs: dict[str, dict[str, Any]], *, every_state: bool = False
) -> list[str]:
    """Every API answer about the runs: each run, its state, its events (and its state
    after every event, with `every_state`), and the run list."""
    answers: list[str] = []
    for run in runs.values():
        run_id = run["runId"]
        for path in (f"/runs/{run_id}", f"/runs/{run_id}/state", f"/runs/{run_id}/events"):
            response = await client.get(path, params={"limit": 1000} if "events" in path else None)
            assert response.status_code == 200, response.text
            answers.append(response.text)
        for seq in range(1, run["lastSeq"] + 1 if every_state else 1):
            state = await client.get(f"/runs/{run_id}/state?atSeq={seq}")
            assert state.status_code == 200, state.text
            answers.append(state.text)
    answers.append((await client.get("/runs", params={"limit": 500})).text)
    return answers


async def table_values(dsn: str, found: Callable[[str], object]) -> list[str]:
    """Every value of every row of every table (bytes read as latin-1) that `found`
    finds something in, named by its table."""
    hits: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        assert len(tables) > 5  # the schema is there: the search cannot pass by finding none
        for schema, table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{schema}"."{table}"'):  # noqa: S608
                for value in row.values():
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    if found(text):
                        hits.append(f"{table}: {text[:200]}")
    finally:
        await conn.close()
    return hits
