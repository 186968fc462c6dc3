"""The `agent` node on a real `tide dev`, against a scripted OpenAI-compatible server.

The model asks for tools over three turns: a task and a workflow (a child run), then a
slow task, then it answers. `tide dev` is killed (SIGKILL, its embedded Postgres with it)
while the slow task runs, and started again on the same data: the run finishes, and no
model call or tool call that had finished before the kill is made a second time.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tideflow.client import Client
from tideflow.nodes.testing import FakeLlmServer, FakeReply
from tideflow.sdk import Workflow

from .stack import TIDE, free_port

pytestmark = [pytest.mark.e2e]

TOKEN = "agent-test-token"
TASKS = """
import pathlib, time
from tideflow.sdk import task

HERE = pathlib.Path(__file__).parent

@task("lookup")
def lookup(args):
    with open(HERE / "lookup.log", "a") as log:
        log.write(args["q"] + "\\n")
    return {"q": args["q"], "meaning": 42}

@task("slow")
def slow(args, ctx):
    with open(HERE / "slow.log", "a") as log:
        log.write(f"attempt {ctx.attempt}\\n")
    deadline = time.monotonic() + 120
    while not (HERE / "release").exists():
        assert time.monotonic() < deadline, "never released"
        time.sleep(0.05)
    return {"done": args["n"]}
"""


def turn_of(body: dict[str, Any]) -> int:
    """Which model call a request is: one more than the assistant messages it carries."""
    return 1 + sum(1 for m in body["messages"] if m["role"] == "assistant")


def script(body: dict[str, Any]) -> FakeReply:
    turn = turn_of(body)
    if turn == 1:
        return FakeReply(content="", tool_calls=[
            {"id": "c1", "name": "lookup", "arguments": {"q": "tide"}},
            {"id": "c2", "name": "double", "arguments": {"n": 21}},
        ])  # fmt: skip
    if turn == 2:
        return FakeReply(
            content="", tool_calls=[{"id": "c3", "name": "slow", "arguments": {"n": 7}}]
        )
    results = [json.loads(m["content"]) for m in body["messages"] if m["role"] == "tool"]
    return FakeReply(content=json.dumps({"answer": results[0]["meaning"], "doubled": results[1],
                                         "slow": results[2]["done"]}))  # fmt: skip


class DevProcess:
    """`tide dev` with our task module, restartable on the same data dir and port."""

    def __init__(self, data_dir: Path, work: Path) -> None:
        self.data_dir, self.work = data_dir, work
        self.port, self.pg_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in {"TIDEFLOW_DATABASE_URL", "TIDEFLOW_KAFKA_BOOTSTRAP"}}  # fmt: skip
        self.env["TIDEFLOW_ADMIN_TOKEN"] = TOKEN
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.data_dir.parent / f"dev-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [TIDE, "dev", "--port", str(self.port), "--data-dir", str(self.data_dir),
             "--pg-port", str(self.pg_port), "--examples", "none", "-m", "agent_tasks"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.work,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_tail()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("tide dev did not become ready: " + self.log_tail())

    def log_tail(self) -> str:
        return (self.data_dir.parent / f"dev-{self.starts}.log").read_text()[-3000:]

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(2)
            self.process.wait(timeout=60)


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevProcess]:
    work = tmp_path / "work"
    work.mkdir()
    (work / "agent_tasks.py").write_text(TASKS)
    server = DevProcess(tmp_path / "data", work)
    try:
        yield server
    finally:
        server.stop()


def wait_for(condition: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def agent_flow(api_base: str) -> Workflow:
    return (
        Workflow("agent-e2e")
        .node("ask", "agent", {
            "model": "openai/fake-model", "apiBase": api_base, "prompt": "What is {{ input.q }}?",
            "maxIterations": 5,
            "outputSchema": {"type": "object", "required": ["answer"]},
            "tools": [
                {"name": "lookup", "description": "Look a word up.", "task": "lookup",
                 "inputSchema": {"type": "object", "required": ["q"],
                                 "properties": {"q": {"type": "string"}}}},
                {"name": "double", "description": "Double a number.", "workflow": "doubler"},
                {"name": "slow", "description": "Take your time.", "task": "slow"},
            ]})
        .output("{{ nodes.ask.output }}")
    )  # fmt: skip


DOUBLER = (
    Workflow("doubler").transform("twice", value="{{ input.n * 2 }}")
    .output("{{ nodes.twice.output }}")
)  # fmt: skip


def test_a_killed_agent_resumes_without_repeating_finished_calls(dev: DevProcess) -> None:
    with FakeLlmServer(responder=script) as llm:
        dev.start()
        with Client(dev.url, token=TOKEN) as tide:
            tide.workflows.apply(DOUBLER, publish=True)
            tide.workflows.apply(agent_flow(llm.url), publish=True)
            run = tide.runs.start("agent-e2e", {"q": "tide"})
            wait_for((dev.work / "slow.log").exists, "the slow tool never started")
        dev.kill()
        dev.start()
        (dev.work / "release").touch()
        with Client(dev.url, token=TOKEN) as tide:
            done = tide.runs.wait(run.run_id, timeout=120)
            assert done.status == "succeeded", done.error
            output = done.output
            assert output["json"] == {"answer": 42, "doubled": 42, "slow": 7}
            assert [c["name"] for c in output["toolCalls"]] == ["lookup", "double", "slow"]
            assert output["iterations"] == 3
            assert output["usage"]["totalTokens"] == 3 * 18

            # the turns and the tool that had finished before the kill were not made again;
            # turn 3 came after the restart (a worker may get any task twice: at least once)
            asked = Counter(turn_of(r["json"]) for r in llm.requests)
            assert (asked[1], asked[2]) == (1, 1), asked
            assert asked[3] >= 1
            assert (dev.work / "lookup.log").read_text() == "tide\n"
            assert dev.starts == 2

            # the workflow tool was a child run; each turn is a step of its own in the history
            child = done.step("ask.turn[1].call[1]")
            assert child is not None
            assert child.child_run_id is not None
            assert tide.runs.get(child.child_run_id).output == 42
            events = tide.runs.all_events(run.run_id)
            succeeded = [e.data["step"] for e in events if e.type == "StepSucceeded"]
            assert succeeded.count("ask.turn[1]") == 1
            assert succeeded.count("ask.turn[1].call[0]") == 1
            assert succeeded[-1] == "ask"
            first_turn = next(e.seq for e in events if e.type == "StepSucceeded"
                              and e.data["step"] == "ask.turn[1]")  # fmt: skip
            then = tide.runs.state(run.run_id, at_seq=first_turn)
            assert then.step("ask.turn[1]") is not None
            assert then.step("ask.turn[2]") is None
