"""Tideflow services as real subprocesses (`tide serve ...`), for e2e and chaos tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tideflow.bus import KafkaBus, Topics
from tideflow.core import StartRun, parse_definition
from tideflow.store import EventStore, RunRecord
from tideflow.wire import command_envelope

TIDE = str(Path(sys.executable).with_name("tide"))
HERE = Path(__file__).parent
TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """One `tide serve <name>` process, restartable, gated on its /healthz."""

    name: str
    args: list[str]
    env: dict[str, str]
    logs: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, **self.env,
               f"TIDEFLOW_{self.name.upper()}_PORT": str(self.port)}  # fmt: skip
        log = (self.logs / f"{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [TIDE, "serve", self.name, *self.args], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    async def healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n"
                                         f"{self.tail()}")  # fmt: skip
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"http://127.0.0.1:{self.port}/healthz")
                    if response.status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} never became healthy:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything, as in a machine crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> int | None:
        """SIGTERM and wait: the graceful path."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def tail(self, lines: int = 40) -> str:
        path = self.logs / f"{self.name}-{self.starts}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "\n".join(text[-lines:])


@dataclass
class Client:
    """Starts runs over Kafka and reads their outcome from Postgres, like a gateway."""

    store: EventStore
    bus: KafkaBus

    async def publish_workflow(self, document: dict[str, Any]) -> None:
        name = document["metadata"]["name"]
        await self.store.create_workflow(name, name, document)
        await self.store.publish(name)

    async def start(self, workflow: str, run_input: Any) -> str:
        run_id = str(uuid.uuid4())
        version = await self.store.get_version(workflow)
        command = StartRun(
            command_id=f"{run_id}:start", run_id=run_id, workflow=workflow,
            version=version.version, definition=parse_definition(version.definition),
            input=run_input,
        )  # fmt: skip
        await self.bus.publish(self.bus.topics.runs, run_id,
                               command_envelope(command, tenant_id="default"))  # fmt: skip
        return run_id

    async def wait(self, run_ids: list[str], timeout: float) -> dict[str, RunRecord]:
        deadline = time.monotonic() + timeout
        ended: dict[str, RunRecord] = {}
        while len(ended) < len(run_ids):
            page = [r for r in run_ids if r not in ended]
            for run_id in page:
                with contextlib.suppress(Exception):
                    record = await self.store.get_run(run_id)
                    if record.status in TERMINAL:
                        ended[run_id] = record
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(page)} of {len(run_ids)} runs did not end in time")
            await asyncio.sleep(0.2)
        return ended


def chain(name: str, length: int, task: str = "inc") -> dict[str, Any]:
    nodes = [
        {"id": f"s{i}", "type": "function",
         "config": {"name": task,
                    "input": "{{ input }}" if i == 0 else f"{{{{ nodes.s{i - 1}.output }}}}"}}
        for i in range(length)
    ]  # fmt: skip
    return {
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
        "spec": {"nodes": nodes,
                 "edges": [{"from": f"s{i}", "to": f"s{i + 1}"} for i in range(length - 1)],
                 "output": f"{{{{ nodes.s{length - 1}.output }}}}"},
    }  # fmt: skip


def fan_out(name: str, width: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "function",
                                    "config": {"name": "inc", "input": 0}}]  # fmt: skip
    nodes += [{"id": f"b{i}", "type": "function", "config": {"name": "one"}}
              for i in range(width)]  # fmt: skip
    parts = ", ".join(["nodes.start.output", *(f"nodes.b{i}.output" for i in range(width))])
    nodes.append({"id": "sum", "type": "function",
                  "config": {"name": "sum", "input": f"{{{{ [{parts}] }}}}"}})  # fmt: skip
    edges = [{"from": "start", "to": f"b{i}"} for i in range(width)]
    edges += [{"from": f"b{i}", "to": "sum"} for i in range(width)]
    return {"apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": name},
            "spec": {"nodes": nodes, "edges": edges,
                     "output": "{{ nodes.sum.output }}"}}  # fmt: skip


def stack_env(dsn: str, bootstrap: str, prefix: str) -> dict[str, str]:
    return {
        "TIDEFLOW_DATABASE_URL": dsn,
        "TIDEFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "TIDEFLOW_KAFKA_TOPIC_PREFIX": prefix,
        "TIDEFLOW_LOG_JSON": "false",
        "PYTHONPATH": str(HERE),
    }


def topics(prefix: str) -> Topics:
    return Topics(prefix=prefix)
