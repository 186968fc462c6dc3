"""The `tide` CLI against a real `tide dev` (embedded Postgres, in-process bus) subprocess."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .stack import TIDE, free_port

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]


class Dev:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.pg_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items()
               if k not in {"TIDEFLOW_DATABASE_URL", "TIDEFLOW_KAFKA_BOOTSTRAP"}}  # fmt: skip
        env["TIDEFLOW_ADMIN_TOKEN"] = "dev-test-token"
        # as a newcomer starts it: `.venv/bin/tide dev`, with the venv not on PATH
        # (scripts/test.sh puts it there)
        venv_bin = Path(TIDE).parent.resolve()
        env["PATH"] = os.pathsep.join(
            entry for entry in env.get("PATH", "").split(os.pathsep)
            if entry and Path(entry).resolve() != venv_bin
        )  # fmt: skip
        self.env = env
        self.log = (data_dir / "dev.log").open("wb")
        self.process = subprocess.Popen(
            [TIDE, "dev", "--port", str(self.port), "--data-dir", str(data_dir),
             "--pg-port", str(self.pg_port), "--examples", str(ROOT / "examples")],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.data_dir / "dev.log").read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("tide dev did not become ready")

    def tide(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "TIDEFLOW_URL": self.url, "TIDEFLOW_TOKEN": "dev-test-token",
               "COLUMNS": "200"}  # fmt: skip
        result = subprocess.run(
            [TIDE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if check:
            assert result.returncode == 0, result.stderr + result.stdout
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.tide(*args, "--output", "json").stdout)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    server = Dev(tmp_path_factory.mktemp("dev"))
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.stop()
        assert code == 0, (server.data_dir / "dev.log").read_text()[-3000:]


def wait_status(dev: Dev, run_id: str, status: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = dev.json("run", "get", run_id)
        if run["status"] == status:
            return run  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never became {status}")


def test_validate_apply_and_run_with_wait(dev: Dev, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: tideflow.io/v1\nkind: Workflow\nmetadata: {name: bad}\n"
        "spec:\n  nodes: [{id: a, type: nope}]\n  edges: [{from: a, to: b}]\n"
    )
    invalid = dev.tide("workflow", "validate", "-f", str(bad), check=False)
    assert invalid.returncode == 1
    assert "UNKNOWN_NODE_TYPE" in invalid.stderr
    assert "DANGLING_EDGE" in invalid.stderr

    applied = dev.json("workflow", "apply", "-f", str(ROOT / "examples/hello.yaml"), "--publish")
    assert applied["action"] == "unchanged"  # tide dev applied the examples at start
    done = dev.tide("run", "start", "hello", "--input", '{"name": "Ada"}', "--wait")
    assert waited_output(done.stdout) == {"greeting": "Hello, Ada!", "letters": 3}


def waited_output(stdout: str) -> Any:
    """`run start --wait` printed `run <id> started`, progress lines, then the output."""
    lines = stdout.splitlines()
    assert re.fullmatch(r"run \S+ started", lines[0]), stdout
    ended = next(i for i, line in enumerate(lines) if re.fullmatch(r"run \S+ succeeded", line))
    assert any(line.startswith("step ") for line in lines[1:ended])
    return json.loads("\n".join(lines[ended + 1 :]))


def line_within(process: subprocess.Popen[str], seconds: float) -> str:
    """The next line the process prints, failing (not hanging) if none comes in time."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], seconds)
    assert ready, f"nothing printed in {seconds}s"
    return process.stdout.readline()


def test_wait_prints_the_run_id_at_once_and_progress_while_it_waits(
    dev: Dev, tmp_path: Path
) -> None:
    gate = tmp_path / "gate.yaml"
    gate.write_text("apiVersion: tideflow.io/v1\nkind: Workflow\nmetadata: {name: gate}\n"
                    "spec:\n  nodes: [{id: go, type: signal, config: {name: go}}]\n"
                    "  output: '{{ nodes.go.output }}'\n")  # fmt: skip
    dev.tide("workflow", "apply", "-f", str(gate), "--publish")
    env = {**dev.env, "TIDEFLOW_URL": dev.url, "TIDEFLOW_TOKEN": "dev-test-token"}
    command = [TIDE, "run", "start", "gate", "--wait"]
    waiting = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        first = line_within(waiting, 30)  # while the run waits: it cannot have ended
        run_id = re.fullmatch(r"run (\S+) started\n", first)
        assert run_id, first
        seen = [line_within(waiting, 30)]
        while not seen[-1].startswith("step go waiting"):  # progress while it waits
            seen.append(line_within(waiting, 30))
        assert waiting.poll() is None
        dev.tide("run", "signal", run_id[1], "go", "--data", '{"ok": true}')
        rest, errors = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, errors
    assert waited_output(first + "".join(seen) + rest) == {"ok": True}


def test_events_time_travel_and_replay(dev: Dev) -> None:
    run = dev.json("run", "start", "hello", "--input", '{"name": "Grace"}', "--wait")
    assert run["status"] == "succeeded"
    events = dev.json("run", "events", run["runId"])["items"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "RunStarted"
    past = dev.json("run", "state", run["runId"], "--at", "3")
    assert past["atSeq"] == 3
    assert past["status"] == "running"
    assert past["steps"][0]["status"] == "succeeded"

    replayed = dev.json("run", "replay", run["runId"], "--from-seq", "3",
                        "--input", '{"name": "Hopper"}')  # fmt: skip
    final = wait_status(dev, replayed["runId"], "succeeded")
    assert final["replayOf"] == run["runId"]
    # greet's output was carried over from the original run; measure ran on the new input
    assert final["output"] == {"greeting": "Hello, Grace!", "letters": 6}
    waited = dev.tide("run", "replay", run["runId"], "--from-seq", "3", "--wait")
    assert waited_output(waited.stdout) == {"greeting": "Hello, Grace!", "letters": 5}


def test_cancel_one_waiting_run_and_signal_another(dev: Dev) -> None:
    cancelled = dev.json("run", "start", "await-payment", "--input", '{"n": 1}')["runId"]
    signalled = dev.json("run", "start", "await-payment", "--input", '{"n": 2}')["runId"]
    wait_status(dev, cancelled, "waiting")
    wait_status(dev, signalled, "waiting")
    dev.tide("run", "cancel", cancelled)
    dev.tide("run", "signal", signalled, "payment-received", "--data", '{"amount": 42}')
    assert wait_status(dev, cancelled, "cancelled")["status"] == "cancelled"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        steps = {s["nodeId"]: s for s in dev.json("run", "get", signalled)["steps"]}
        if steps["paid"]["status"] == "succeeded":
            break
        time.sleep(0.1)
    assert steps["paid"]["output"] == {"amount": 42}
    assert steps["cool-off"]["status"] == "waiting"  # the 5 minute durable timer


def test_failed_run_exit_code_and_logs(dev: Dev) -> None:
    result = dev.tide("run", "start", "book-trip", "--input", '{"to": "Porto"}', "--wait",
                      check=False)  # fmt: skip
    assert result.returncode == 1  # compensated: the charge step cannot reach its host
    run_id = dev.json("run", "list", "--workflow", "book-trip")["items"][0]["runId"]
    assert dev.json("run", "get", run_id)["status"] == "compensated"
    logs = dev.tide("run", "logs", run_id).stdout
    assert "booking a flight to Porto" in logs

    piped = dev.tide("run", "logs", run_id, "-o", "json").stdout
    as_json = [json.loads(line) for line in piped.splitlines()]
    assert any(line["message"] == "booking a flight to Porto" for line in as_json)
    assert {line["type"] for line in as_json} == {"log"}


def test_logs_refused_by_the_server_are_an_error(dev: Dev) -> None:
    """A run that does not exist, or a bad token: the stream's refusal is the usual error line
    and a non-zero exit (it printed ` #  ` and exited 0)."""
    missing = dev.tide("run", "logs", "00000000-0000-0000-0000-000000000000", check=False)
    assert missing.returncode == 1
    assert "error RUN_NOT_FOUND" in missing.stderr
    assert missing.stdout == ""
    run_id = dev.json("run", "start", "hello", "--input", '{"name": "Ada"}')["runId"]
    bad = dev.tide("run", "logs", run_id, "--token", "not-a-token", check=False)
    assert bad.returncode == 1
    assert "error UNAUTHENTICATED" in bad.stderr


def test_a_run_keeps_the_start_time_it_was_answered_with(dev: Dev) -> None:
    """The start's answer and every later read agree on `startedAt` (the scheduler's own
    start, a few milliseconds later, moved it)."""
    started = dev.json("run", "start", "hello", "--input", '{"name": "Ada"}')
    done = wait_status(dev, started["runId"], "succeeded")
    assert done["startedAt"] == started["startedAt"]


def test_bad_arguments_are_one_line(dev: Dev, tmp_path: Path) -> None:
    """`--input @missing.json` was a 40-line traceback; `-o yaml` quietly printed a table."""
    missing = dev.tide("run", "start", "hello", "--input", f"@{tmp_path / 'nope.json'}",
                       check=False)  # fmt: skip
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines() == [
        f"error INVALID_JSON: cannot read {tmp_path / 'nope.json'}: No such file or directory"
    ]
    yaml = dev.tide("workflow", "list", "-o", "yaml", check=False)
    assert yaml.returncode == 2
    assert "'yaml' is not one of table, json" in yaml.stderr
    assert yaml.stdout == ""


def test_a_file_is_validated_and_applied_as_written(dev: Dev, tmp_path: Path) -> None:
    """A YAML date or time stays its text: `validate` refused what `apply` then stored as
    `2026-01-01 10:00:00`; a file that is not UTF-8 was a traceback."""
    dated = write(
        tmp_path / "dated.yaml",
        "apiVersion: tideflow.io/v1\nkind: Workflow\n"
        "metadata: {name: dated, annotations: {since: 2026-01-01}}\n"
        "spec: {nodes: [{id: x, type: transform, config: {value: 2026-01-01T10:00:00}}]}\n",
    )
    dev.tide("workflow", "validate", "-f", str(dated))
    dev.tide("workflow", "apply", "-f", str(dated))
    stored = dev.json("workflow", "get", "dated")["definition"]
    assert stored["metadata"]["annotations"] == {"since": "2026-01-01"}
    assert stored["spec"]["nodes"][0]["config"] == {"value": "2026-01-01T10:00:00"}
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"metadata: {name: caf\xe9}\n")
    for command in ("validate", "apply"):
        refused = dev.tide("workflow", command, "-f", str(latin), check=False)
        assert refused.returncode == 2
        assert "Traceback" not in refused.stderr
        assert refused.stderr.startswith(f"error INVALID_YAML: cannot read {latin}: ")


def test_the_printed_hint_works_when_pasted(dev: Dev) -> None:
    deadline = time.monotonic() + 30
    hint = ""
    while time.monotonic() < deadline and not hint:
        log = (dev.data_dir / "dev.log").read_text()
        hint = next((line for line in log.splitlines() if line.startswith("try: ")), "")
        time.sleep(0.1)
    command = hint.removeprefix("try: ")
    assert f"TIDEFLOW_URL=http://127.0.0.1:{dev.port}" in command  # not the default port
    assert ".venv/bin/tide run start hello" in command
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
    env["PATH"] = "/usr/bin:/bin"  # `tide` itself is not on PATH
    pasted = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert pasted.returncode == 0, pasted.stderr
    assert waited_output(pasted.stdout) == {"greeting": "Hello, Ada!", "letters": 3}


def test_piped_tables_keep_ids_and_data_whole(dev: Dev) -> None:
    run = dev.json("run", "start", "hello", "--input", '{"name": "' + "N" * 80 + '"}', "--wait")
    listed = dev.tide("run", "list", "-w", "hello").stdout.splitlines()
    assert listed[0].split()[:2] == ["RUN", "WORKFLOW"]
    assert any(line.startswith(run["runId"] + " ") for line in listed)
    events = dev.tide("run", "events", run["runId"]).stdout
    assert "N" * 80 in events
    assert "…" not in events
    shown = dev.tide("run", "get", run["runId"]).stdout
    assert shown.splitlines()[0].startswith(f"run {run['runId']}  succeeded")


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_apply_publish_is_idempotent_and_rollback_moves_the_draft(dev: Dev, tmp_path: Path) -> None:
    v1 = write(tmp_path / "v1.yaml", "kind: Workflow\napiVersion: tideflow.io/v1\n"
               "metadata: {name: versioned}\n"
               "spec:\n  nodes: [{type: log, id: say, config: {message: first}}]\n")  # fmt: skip
    v2 = write(tmp_path / "v2.yaml", v1.read_text().replace("first", "second"))
    assert dev.json("workflow", "apply", "-f", str(v1), "--publish")["published"]["version"] == 1
    again = dev.tide("workflow", "apply", "-f", str(v1), "--publish").stdout
    assert "unchanged since version 1" in again
    assert dev.json("workflow", "apply", "-f", str(v2), "--publish")["published"]["version"] == 2
    dev.tide("workflow", "rollback", "versioned", "1")
    shown = dev.json("workflow", "get", "versioned")
    assert [v["version"] for v in shown["versions"]] == [3, 2, 1]
    assert shown["definition"]["spec"]["nodes"][0]["config"]["message"] == "first"
    assert list(shown["definition"]) == ["kind", "apiVersion", "metadata", "spec"]  # as written
    assert dev.json("workflow", "publish", "versioned")["created"] is False  # rollback stays
    table = dev.tide("workflow", "get", "versioned").stdout
    assert table.splitlines()[0].startswith("workflow versioned  latest version 3")
    assert "rollback of" in table.lower()
    assert "message: first" in table


def test_run_get_points_at_the_child_run(dev: Dev, tmp_path: Path) -> None:
    child = write(tmp_path / "child.yaml", "apiVersion: tideflow.io/v1\nkind: Workflow\n"
                  "metadata: {name: kid}\nspec:\n  nodes: [{id: go, type: signal, "
                  "config: {name: go}}]\n")  # fmt: skip
    parent = write(tmp_path / "parent.yaml", "apiVersion: tideflow.io/v1\nkind: Workflow\n"
                   "metadata: {name: mum}\nspec:\n  nodes: [{id: call, type: subworkflow, "
                   "config: {workflow: kid}}]\n")  # fmt: skip
    dev.tide("workflow", "apply", "-f", str(child), "--publish")
    dev.tide("workflow", "apply", "-f", str(parent), "--publish")
    run_id = dev.json("run", "start", "mum")["runId"]
    deadline = time.monotonic() + 30
    children: list[Any] = []
    while time.monotonic() < deadline and not children:
        children = dev.json("run", "list", "--parent", run_id)["items"]
        time.sleep(0.1)
    (kid,) = children
    step = dev.json("run", "get", run_id)["steps"][0]
    assert step["childRunId"] == kid["runId"]
    shown = dev.tide("run", "get", run_id).stdout
    assert f"step call waits for child run {kid['runId']}" in shown
    listed = dev.tide("run", "list", "--parent", run_id).stdout.splitlines()
    assert len(listed) == 2
    assert listed[1].startswith(kid["runId"])
    dev.tide("run", "signal", kid["runId"], "go")
    assert wait_status(dev, run_id, "succeeded")["steps"][0]["childRunId"] == kid["runId"]


def test_the_embedded_postgres_tcp_port_stays_off_limits_to_nodes(dev: Dev, tmp_path: Path) -> None:
    """tide dev's own services reach its Postgres over the Unix socket; the TCP port it
    serves for other clients (`--pg-port`) is still a listener of the deployment."""
    doc = tmp_path / "egress-db.yaml"
    doc.write_text(json.dumps({
        "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "egress-db"},
        "spec": {"nodes": [{"id": "db", "type": "http", "retry": {"maxAttempts": 1},
                            "config": {"url": f"http://localhost:{dev.pg_port}/"}}]},
    }))  # fmt: skip
    dev.tide("workflow", "apply", "-f", str(doc), "--publish")
    run = dev.json("run", "start", "egress-db", "--input", "{}")
    [step] = wait_status(dev, run["runId"], "failed")["steps"]
    assert step["error"]["type"] == "EgressDenied"
    assert "listener of this Tideflow deployment" in step["error"]["message"]


def test_http_nodes_reach_local_services_but_not_the_platform(dev: Dev, tmp_path: Path) -> None:
    """Under `tide dev` loopback is reachable (local services are the point), except the
    listeners of tide dev itself, however the URL spells them."""
    import http.server
    import threading

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"hello": self.headers.get("Idempotency-Key")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    local = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=local.serve_forever, daemon=True).start()
    try:
        doc = tmp_path / "egress.yaml"
        doc.write_text(json.dumps({
            "apiVersion": "tideflow.io/v1", "kind": "Workflow", "metadata": {"name": "egress"},
            "spec": {
                "nodes": [
                    {"id": "local", "type": "http", "idempotencyKey": "k-{{ input.n }}",
                     "config": {"url": f"http://127.0.0.1:{local.server_port}/x"}},
                    {"id": "own", "type": "http", "retry": {"maxAttempts": 1},
                     "config": {"url": f"http://2130706433:{dev.port}/healthz"}},
                ],
                "edges": [{"from": "local", "to": "own"}],
            },
        }))  # fmt: skip
        dev.tide("workflow", "apply", "-f", str(doc), "--publish")
        run = dev.json("run", "start", "egress", "--input", '{"n": 7}')
        final = wait_status(dev, run["runId"], "failed")
        steps = {s["nodeId"]: s for s in final["steps"]}
        assert steps["local"]["status"] == "succeeded"
        assert steps["local"]["output"]["body"] == {"hello": "k-7"}
        assert steps["own"]["error"]["type"] == "EgressDenied"
        assert "listener of this Tideflow deployment" in steps["own"]["error"]["message"]
    finally:
        local.shutdown()
