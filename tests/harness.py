"""What engine, e2e and chaos tests share: a client that starts runs over the bus and
waits for them in Postgres, and builders of the workflows they run."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

from tideflow.bus import Bus
from tideflow.core import StartRun, ids, parse_definition
from tideflow.store import EventStore, RunRecord
from tideflow.wire import command_envelope

TERMINAL = {"succeeded", "failed", "cancelled", "compensated"}


@dataclass
class Client:
    """Starts runs over the bus and reads their outcome from Postgres, like a gateway."""

    store: EventStore
    bus: Bus

    async def publish_workflow(self, document: dict[str, Any]) -> int:
        name = document["metadata"]["name"]
        parse_definition(document)
        await self.store.create_workflow(name, name, document)
        return (await self.store.publish(name)).version

    async def start(self, workflow: str, run_input: Any = None, run_id: str | None = None) -> str:
        run_id = run_id or str(uuid.uuid4())
        version = await self.store.get_version(workflow)
        command = StartRun(
            command_id=ids.start_command_id(run_id), run_id=run_id, workflow=workflow,
            version=version.version, definition=parse_definition(version.definition),
            input=run_input,
        )  # fmt: skip
        await self.bus.publish(self.bus.topics.runs, run_id,
                               command_envelope(command, tenant_id="default"))  # fmt: skip
        return run_id

    async def wait(self, run_ids: list[str], timeout: float = 60) -> dict[str, RunRecord]:
        """Poll the runs projection until every run has ended."""
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
            await asyncio.sleep(0.05 if len(run_ids) < 50 else 0.2)
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
