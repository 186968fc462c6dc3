"""One run gives one connected trace across real processes (gateway, scheduler, executor
on Kafka), exported by each process through the `jsonl` exporter into one file.

The trace of a run: the start request's server span (FastAPI) -> `tideflow.run.start` ->
a `tideflow.scheduler.decide` span per batch that touched the run -> a `tideflow.step`
span per attempt (node id, attempt, outcome; failures as error status) -> the decision
its result caused -> ... Timer-fired decisions (the retry backoff) join the run's trace
too, although the timer carries no context. A child run has a trace of its own, linked to
its parent's decision. JSON log lines carry the trace and run ids.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from typing import Any

import pytest

from .stack import ObservedStack

pytestmark = pytest.mark.e2e

Span = dict[str, Any]


def read_spans(stack: ObservedStack) -> list[Span]:
    if not stack.spans_file.exists():
        return []
    return [json.loads(line) for line in stack.spans_file.read_text().splitlines() if line]


def trace_id(span: Span) -> str:
    return str(span["context"]["trace_id"])


def span_id(span: Span) -> str:
    return str(span["context"]["span_id"])


def service(span: Span) -> str:
    return str(span["resource"]["attributes"]["service.name"])


def of_run(spans: list[Span], run_id: str) -> list[Span]:
    return [s for s in spans if s["attributes"].get("tideflow.run_id") == run_id]


async def spans_until(stack: ObservedStack, done: Any, timeout: float = 30) -> list[Span]:
    """Exporters flush every 200 ms: poll the file until `done(spans)`."""
    deadline = time.monotonic() + timeout
    spans = read_spans(stack)
    while not done(spans):
        assert time.monotonic() < deadline, f"{len(spans)} spans; the trace is incomplete"
        await asyncio.sleep(0.2)
        spans = read_spans(stack)
    return spans


def complete(stack: ObservedStack) -> Any:
    """Every run's final decision and step spans have been exported."""

    def check(spans: list[Span]) -> bool:
        for run_id in stack.ok_runs + stack.failed_runs:
            decided = [s for s in of_run(spans, run_id) if s["name"] == "tideflow.scheduler.decide"]
            ended = {s["attributes"].get("tideflow.run.status") for s in decided}
            if not ended & {"succeeded", "failed"}:
                return False
        return True

    return check


async def test_one_run_is_one_connected_trace_across_processes(observed: ObservedStack) -> None:
    spans = await spans_until(observed, complete(observed))
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[trace_id(span)].append(span)
    for run_id in observed.ok_runs:
        mine = of_run(spans, run_id)
        (trace,) = {trace_id(s) for s in mine}  # one trace per run
        members = by_trace[trace]
        ids = {span_id(s) for s in members}
        roots = [s for s in members if s["parent_id"] is None]
        # connected: one root (the start request), every other span's parent in the trace
        assert len(roots) == 1, [s["name"] for s in roots]
        assert all(s["parent_id"] in ids for s in members if s["parent_id"] is not None)
        root = roots[0]
        assert root["name"] == "POST /workflows/{workflow_id}/runs"
        assert root["kind"] == "SpanKind.SERVER"
        assert service(root) == "tideflow-gateway"
        assert {service(s) for s in members} == {
            "tideflow-gateway", "tideflow-scheduler", "tideflow-executor"
        }  # fmt: skip
        names = [s["name"] for s in members]
        assert names.count("tideflow.run.start") == 1
        # the start, a, b (twice), the timer of b's retry, child started, child ended ...
        assert names.count("tideflow.scheduler.decide") >= 5
        # a set: steps are at-least-once, a redelivered task may run an attempt twice
        steps = sorted({
            (s["attributes"]["tideflow.node_id"], s["attributes"]["tideflow.attempt"],
             s["attributes"]["tideflow.step.outcome"], s["status"]["status_code"])
            for s in members if s["name"] == "tideflow.step"
        })  # fmt: skip
        assert steps == [
            ("a", 1, "succeeded", "UNSET"),
            ("b", 1, "failed", "ERROR"),
            ("b", 2, "succeeded", "UNSET"),
        ]
        failed_attempt = next(
            s for s in members
            if s["name"] == "tideflow.step" and s["attributes"]["tideflow.attempt"] == 1
            and s["attributes"]["tideflow.node_id"] == "b"
        )  # fmt: skip
        assert failed_attempt["attributes"]["error.type"] == "RuntimeError"
        # a decision is caused by the step whose result it decides (causal chain)
        by_id = {span_id(s): s for s in members}
        after_steps = [
            s for s in members
            if s["name"] == "tideflow.scheduler.decide"
            and by_id[s["parent_id"]]["name"] == "tideflow.step"
        ]  # fmt: skip
        assert len(after_steps) >= 3
        assert all(s["attributes"]["tideflow.run_id"] == run_id for s in mine)


async def test_a_child_run_has_its_own_trace_linked_to_its_parent(observed: ObservedStack) -> None:
    spans = await spans_until(observed, complete(observed))
    for run_id in observed.ok_runs:
        parent_trace = trace_id(of_run(spans, run_id)[0])
        child_starts = [
            s for s in spans
            if s["name"] == "tideflow.scheduler.decide"
            and s["attributes"].get("tideflow.parent_run_id") == run_id
        ]  # fmt: skip
        assert len(child_starts) == 1
        (start,) = child_starts
        child_id = start["attributes"]["tideflow.run_id"]
        child_traces = {trace_id(s) for s in of_run(spans, child_id)}
        assert child_traces == {trace_id(start)}
        assert trace_id(start) != parent_trace
        assert start["parent_id"] is None
        linked = {link["context"]["trace_id"] for link in start["links"]}
        assert linked == {parent_trace}
        child_steps = [s for s in of_run(spans, child_id) if s["name"] == "tideflow.step"]
        assert {s["attributes"]["tideflow.node_id"] for s in child_steps} == {"c"}


async def test_failed_steps_are_errors_and_logs_carry_trace_and_run_ids(
    observed: ObservedStack,
) -> None:
    spans = await spans_until(observed, complete(observed))
    for run_id in observed.failed_runs:
        steps = [s for s in of_run(spans, run_id) if s["name"] == "tideflow.step"]
        assert steps  # (twice if its task was redelivered: steps are at-least-once)
        step = steps[0]
        assert step["status"]["status_code"] == "ERROR"
        assert step["attributes"]["tideflow.step.outcome"] == "failed"
        assert step["attributes"]["error.type"] == "ValueError"
        last = [
            s for s in of_run(spans, run_id)
            if s["attributes"].get("tideflow.run.status") == "failed"
        ]  # fmt: skip
        assert last, "the decision that failed the run"
        logged = [
            json.loads(line)
            for path in observed.logs.glob("executor-*.log")
            for line in path.read_text().splitlines()
            if line.startswith("{") and "failing on purpose" in line
            and json.loads(line).get("run_id") == run_id
        ]  # fmt: skip
        assert logged
        assert {line["trace_id"] for line in logged} == {trace_id(step).removeprefix("0x")}
        assert {line["span_id"] for line in logged} == {
            span_id(s).removeprefix("0x") for s in steps
        }
