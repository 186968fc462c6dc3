"""The benchmark's client: it talks to the gateway's REST API as any client would.

Submissions are `POST /workflows/{id}/runs` over one pooled aiohttp session.
Results are collected the way that costs the server least: a single `Tracker` polls
`GET /runs?workflowId=..&status=<terminal>&startedAfter=..` every 100 ms (one indexed query
per poll, whatever the number of runs in flight) instead of one request per run or one SSE stream
per run (each stream is a server task re-querying the log every 250 ms). Per-run latency
is the run's `endedAt` (stamped by the scheduler when it decided the run's last event)
minus the client's clock just before the POST; both clocks are this machine's. Where
single milliseconds matter (W3, one run at a time), `wait_one` long-polls
`GET /runs/{id}?wait=` (answered as soon as the run ends) and the latency is what the
client observed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

TERMINAL = ("succeeded", "failed", "cancelled", "compensated")


class BenchError(Exception):
    """The system under test misbehaved (a request failed, a run failed or never ended)."""


@dataclass(frozen=True, slots=True)
class Submitted:
    run_id: str
    at: datetime  # wall clock, to compare with the server's endedAt
    mono: float


@dataclass(frozen=True, slots=True)
class Ended:
    run_id: str
    status: str
    latency_s: float
    ended_at: datetime


class ApiClient:
    """A thin REST client; one connection pool shared by every request of a workload.

    aiohttp, not httpx: the client shares the machine's two cores with the system under
    test, and at W1's 200 concurrent submissions httpx's pool cost 8-9 ms of CPU per
    request here against 0.5-0.6 ms for aiohttp (`cpu_ms_per_step` prints what is left).
    """

    def __init__(self, base_url: str, token: str, *, connections: int = 64) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def _http(self) -> aiohttp.ClientSession:
        # made on first use, inside the running loop (aiohttp binds a session to it)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                self._base_url,
                headers={"Authorization": f"Bearer {self._token}"},
                connector=aiohttp.TCPConnector(
                    limit=self._connections,
                    keepalive_timeout=2.0,  # below any server's keep-alive: no close-while-send
                ),
                timeout=aiohttp.ClientTimeout(total=120),
                json_serialize=lambda value: orjson.dumps(value).decode(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _send(self, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
        async with self._http.request(method, path, **kwargs) as response:
            return response.status, await response.read()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body = await self._send(method, path, **kwargs)
        if status >= 400:
            raise BenchError(f"{method} {path} -> {status}: {body[:300].decode(errors='replace')}")
        return orjson.loads(body) if body else None

    async def publish_workflow(self, document: dict[str, Any]) -> int:
        """Create (or replace the draft of) a workflow and publish it; returns the version."""
        name = document["metadata"]["name"]
        status, body = await self._send("POST", "/workflows", json=document)
        if status == 409:
            await self._request("PUT", f"/workflows/{name}", json=document)
        elif status >= 400:
            raise BenchError(f"creating {name} -> {status}: {body[:300].decode(errors='replace')}")
        published = await self._request("POST", f"/workflows/{name}/publish")
        return int(published["version"])

    async def submit(self, workflow: str, run_input: Any) -> Submitted:
        at, mono = datetime.now(UTC), time.monotonic()
        body = await self._request("POST", f"/workflows/{workflow}/runs", json={"input": run_input})
        return Submitted(str(body["runId"]), at, mono)

    async def get_run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"/runs/{run_id}")
        return result

    async def wait_one(self, submitted: Submitted, *, within: float) -> Ended:
        """Long-poll one run (`GET /runs/{id}?wait=`): the gateway answers when it ends,
        so the latency is what the client saw, with no polling load on the server."""
        deadline = submitted.mono + within
        while (left := deadline - time.monotonic()) > 0:
            run = await self._request(
                "GET", f"/runs/{submitted.run_id}", params={"wait": str(min(left, 60.0))}
            )
            if run["status"] in TERMINAL:
                latency = time.monotonic() - submitted.mono
                return Ended(submitted.run_id, run["status"], latency, _time(run["endedAt"]))
        raise BenchError(f"run {submitted.run_id} did not end within {within:.0f}s")

    async def ended_since(self, workflow: str, since: datetime) -> list[dict[str, Any]]:
        """Every ended run of `workflow` started at or after `since` (all pages)."""
        params: dict[str, Any] = {
            "workflowId": workflow,
            "status": ",".join(TERMINAL),
            "startedAfter": since.isoformat(),
            "limit": "500",
        }
        items: list[dict[str, Any]] = []
        while True:
            page = await self._request("GET", "/runs", params=params)
            items.extend(page["items"])
            if not page.get("nextCursor"):
                return items
            params["cursor"] = page["nextCursor"]


@dataclass
class Tracker:
    """Follows many runs of one workflow with one list query per poll."""

    client: ApiClient
    workflow: str
    # no figure depends on it (wall and latency come from the server's `endedAt`), while
    # every poll costs the server (and this client) a list of every run still followed
    poll: float = 0.1
    pending: dict[str, Submitted] = field(default_factory=dict)
    ended: dict[str, Ended] = field(default_factory=dict)

    def add(self, submitted: Submitted) -> None:
        self.pending[submitted.run_id] = submitted

    async def poll_once(self) -> None:
        if not self.pending:
            return
        # runs start server-side after the client stamped them: a little slack is enough
        since = min(s.at for s in self.pending.values()) - timedelta(seconds=2)
        for item in await self.client.ended_since(self.workflow, since):
            submitted = self.pending.pop(item["runId"], None)
            if submitted is None:
                continue
            ended_at = _time(item["endedAt"])
            latency = (ended_at - submitted.at).total_seconds()
            self.ended[submitted.run_id] = Ended(
                submitted.run_id, item["status"], latency, ended_at
            )

    async def wait_all(self, *, within: float) -> None:
        deadline = time.monotonic() + within
        while self.pending:
            if time.monotonic() > deadline:
                raise BenchError(f"{len(self.pending)} runs of {self.workflow} did not end in time")
            await asyncio.sleep(self.poll)
            await self.poll_once()

    def failed(self) -> list[Ended]:
        return [e for e in self.ended.values() if e.status != "succeeded"]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)
