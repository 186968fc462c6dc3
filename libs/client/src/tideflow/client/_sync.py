"""The synchronous client: `Client(url, token=...)`, for scripts, notebooks and the CLI.

Generated from `_async.py` by `scripts/unasync_client.py`: edit that file, then run the
script (a test fails while the two differ). Both execute the calls of `_calls.py`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

import httpx

from tideflow.client import _calls as calls
from tideflow.client._calls import UNSET, Call, Definition
from tideflow.client._errors import ConflictError, ErrorCode, WaitTimeoutError
from tideflow.client._http import (
    Endpoint,
    Retries,
    read,
    request_of,
    retry_error,
    retry_response,
    unreachable,
)
from tideflow.client._models import (
    Accepted,
    Applied,
    Approval,
    Event,
    EventPage,
    Page,
    Published,
    Run,
    RunState,
    RunSummary,
    ValidationResult,
    Workflow,
    WorkflowSummary,
    WorkflowVersion,
)
from tideflow.client._polling import Backoff, changed

if TYPE_CHECKING:
    import builtins
    from collections.abc import Iterator, Mapping
    from datetime import datetime
    from types import TracebackType

T = TypeVar("T")


MAX_LONG_POLL = 60.0
"""The longest the gateway holds `GET /runs/{id}?wait=` (seconds)."""


class Client:
    """A typed client of the REST API (and of the approval API, `approvals_url`).

    `url`, `token` and `approvals_url` default to TIDEFLOW_URL, TIDEFLOW_TOKEN and
    TIDEFLOW_APPROVAL_URL (else the API's address). Use it as a context manager, or call
    `close()`, to release its connections.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        approvals_url: str | None = None,
        timeout: float = 30.0,
        retries: Retries | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = Endpoint.resolve(url, token, approvals_url)
        self.retries = retries or Retries()
        # a long poll must answer before the client's own read timeout gives up on it
        self.long_poll = min(MAX_LONG_POLL, timeout * 0.8)
        self._http = httpx.Client(
            timeout=timeout, headers=self.endpoint.headers(), transport=transport
        )
        self.runs = Runs(self)
        self.workflows = Workflows(self)
        self.approvals = Approvals(self)

    def send(self, call: Call[T]) -> T:
        """Execute one call, retrying what is safe to retry (see `_http.py`)."""
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retries.attempts
            try:
                response = self._http.request(**request_of(call, self.endpoint))
            except httpx.TransportError as e:
                if last or not retry_error(call, e):
                    raise unreachable(self.endpoint, e) from e
                time.sleep(self.retries.delay(attempt))
                continue
            if not last and retry_response(call, response):
                time.sleep(self.retries.delay(attempt))
                continue
            return read(call, response)

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
        json: Any = UNSET,
    ) -> Any:  # fmt: skip
        """Any other endpoint (`/tenants`, `/secrets`, ...), answered as decoded JSON."""
        return self.send(calls.raw(method, path, params, json))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()


class Runs:
    """`client.runs`: start, follow, inspect, time travel, replay, cancel, signal."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def start(
        self, workflow_id: str, input: Any = None, *, version: int | None = None,  # noqa: A002
        idempotency_key: str | None = None,
    ) -> Run:  # fmt: skip
        """Start a run of the newest (or a pinned) published version.

        The same `idempotency_key` returns the run it started the first time, which is
        also what makes the call safe to retry on a broken connection.
        """
        return self._client.send(calls.start_run(workflow_id, input, version, idempotency_key))

    def get(self, run_id: str) -> Run:
        return self._client.send(calls.get_run(run_id))

    def list(
        self, *, workflow_id: str | None = None, status: str | None = None,
        parent_run_id: str | None = None, started_after: datetime | None = None,
        started_before: datetime | None = None, limit: int = 50, cursor: str | None = None,
    ) -> Page[RunSummary]:  # fmt: skip
        """Runs newest first; pass `page.next_cursor` as `cursor` for the next page."""
        return self._client.send(calls.list_runs(
            workflow_id=workflow_id, status=status, parent_run_id=parent_run_id,
            started_after=started_after, started_before=started_before, limit=limit,
            cursor=cursor,
        ))  # fmt: skip

    def events(self, run_id: str, *, after_seq: int = 0, limit: int | None = None) -> EventPage:
        """One page of the run's event history, in seq order, after `after_seq`."""
        return self._client.send(calls.run_events(run_id, after_seq, limit))

    def all_events(self, run_id: str, *, after_seq: int = 0) -> builtins.list[Event]:
        """Every event after `after_seq`, following the pages."""
        events: builtins.list[Event] = []
        while True:
            page = self.events(run_id, after_seq=after_seq)
            events.extend(page.items)
            if page.next_after_seq is None:
                return events
            after_seq = page.next_after_seq

    def state(self, run_id: str, at_seq: int | None = None) -> RunState:
        """Time travel: the run as it was right after event `at_seq` (default: now)."""
        return self._client.send(calls.run_state(run_id, at_seq))

    def replay(self, run_id: str, from_seq: int, *, input: Any = UNSET) -> Run:  # noqa: A002
        """A new run continuing from the state after `from_seq` (optionally a new input)."""
        return self._client.send(calls.replay_run(run_id, from_seq, input))

    def cancel(
        self, run_id: str, *, reason: str | None = None, idempotency_key: str | None = None
    ) -> Accepted:
        return self._client.send(calls.cancel_run(run_id, reason, idempotency_key))

    def fail(self, run_id: str, reason: str, *, idempotency_key: str | None = None) -> Accepted:
        """End the run as failed (compensations run as for any failure)."""
        return self._client.send(calls.fail_run(run_id, reason, idempotency_key))

    def signal(
        self, run_id: str, name: str, data: Any = None, *, idempotency_key: str | None = None
    ) -> Accepted:
        """Deliver a named signal; one sent before its node waits is buffered."""
        return self._client.send(calls.signal_run(run_id, name, data, idempotency_key))

    def watch(
        self,
        run_id: str,
        *,
        timeout: float = 600.0,
    ) -> Iterator[Run]:
        """The run now, then each time it changes, until it ends (`WaitTimeoutError` after
        `timeout` seconds; the run goes on)."""
        deadline = time.monotonic() + timeout
        backoff = Backoff()
        run = self.get(run_id)
        yield run
        while not run.ended:
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(f"run {run_id} still {run.status}", run=run)
            time.sleep(min(backoff.next(), max(0.0, deadline - time.monotonic())))
            fresh = self.get(run_id)
            if changed(run, fresh):
                backoff.reset()
                run = fresh
                yield run

    def wait(self, run_id: str, *, timeout: float = 600.0) -> Run:
        """The run once it has ended (succeeded, failed, cancelled or compensated);
        `WaitTimeoutError` after `timeout` seconds (the run goes on).

        Each request is held by the gateway until the run ends (`GET /runs/{id}?wait=`, a
        long poll), so the answer comes as soon as it ends, with no polling. An answer that
        comes back early without the end (a gateway that does not hold requests) is asked
        again after a growing pause, as `watch` does.
        """
        deadline = time.monotonic() + timeout
        backoff = Backoff()
        while True:
            hold = max(0.0, min(deadline - time.monotonic(), self._client.long_poll))
            asked = time.monotonic()
            run = self._client.send(calls.get_run(run_id, wait=hold))
            if run.ended:
                return run
            now = time.monotonic()
            if now >= deadline:
                raise WaitTimeoutError(f"run {run_id} still {run.status}", run=run)
            if now - asked < hold / 2:
                time.sleep(min(backoff.next(), max(0.0, deadline - now)))


class Workflows:
    """`client.workflows`: drafts, versions, validation."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self, *, limit: int = 50, cursor: str | None = None, include_archived: bool = False
    ) -> Page[WorkflowSummary]:
        return self._client.send(calls.list_workflows(limit, cursor, include_archived))

    def get(self, workflow_id: str) -> Workflow:
        """The workflow with its draft (`definition`)."""
        return self._client.send(calls.get_workflow(workflow_id))

    def create(self, definition: Definition) -> Workflow:
        return self._client.send(calls.create_workflow(calls.document(definition)))

    def update(self, definition: Definition) -> Workflow:
        """Replace the draft of the workflow the definition names."""
        document = calls.document(definition)
        return self._client.send(calls.replace_draft(calls.workflow_name(document), document))

    def apply(self, definition: Definition, *, publish: bool = False) -> Applied:
        """Create the workflow, or replace its draft when it exists; optionally publish.

        Safe to retry: a create that did happen answers WORKFLOW_EXISTS the second time,
        and then the draft is replaced with the same document. `action` is `unchanged`
        when the draft already was the document: the server leaves it, and its revision,
        as it is.
        """
        document = calls.document(definition)
        name = calls.workflow_name(document)
        action: Literal["created", "updated", "unchanged"] = "created"
        try:
            create = dataclasses.replace(calls.create_workflow(document), idempotent=True)
            saved = self._client.send(create)
        except ConflictError as e:
            if e.code != ErrorCode.WORKFLOW_EXISTS:
                raise
            before = self._client.send(calls.get_workflow(name))
            saved = self._client.send(calls.replace_draft(name, document))
            action = "unchanged" if saved.revision == before.revision else "updated"
        published = self.publish(name) if publish else None
        return Applied(workflow=saved, action=action, published=published)

    def publish(self, workflow_id: str) -> Published:
        """Freeze the draft as a new immutable version (an unchanged draft: `created` False)."""
        return self._client.send(calls.publish(workflow_id))

    def versions(
        self, workflow_id: str, *, definitions: bool = False
    ) -> builtins.list[WorkflowVersion]:
        """Published versions, newest first."""
        return (self._client.send(calls.list_versions(workflow_id, definitions))).items

    def version(self, workflow_id: str, version: int) -> WorkflowVersion:
        return self._client.send(calls.get_version(workflow_id, version))

    def rollback(self, workflow_id: str, version: int) -> Published:
        """Publish an older version again as the newest (the draft becomes it too)."""
        return self._client.send(calls.rollback(workflow_id, version))

    def archive(self, workflow_id: str) -> None:
        self._client.send(calls.archive(workflow_id))

    def restore(self, workflow_id: str) -> Workflow:
        return self._client.send(calls.restore(workflow_id))

    def validate(self, definition: Definition) -> ValidationResult:
        """Every problem of a definition, as creating it would report them; stores nothing."""
        return self._client.send(calls.validate(calls.document(definition)))


class Approvals:
    """`client.approvals`: the human approval inbox."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self, *, status: str | None = "pending", workflow_id: str | None = None,
        run_id: str | None = None, limit: int = 50, cursor: str | None = None,
    ) -> Page[Approval]:  # fmt: skip
        """Approvals newest first (pending ones unless `status` says otherwise; None: all)."""
        return self._client.send(calls.list_approvals(status, workflow_id, run_id, limit, cursor))

    def get(self, approval_id: str) -> Approval:
        return self._client.send(calls.get_approval(approval_id))

    def decide(
        self, approval_id: str, decision: Literal["approve", "reject"], *,
        comment: str | None = None,
    ) -> Approval:  # fmt: skip
        """Vote; with a quorum the approval stays pending until enough agree."""
        return self._client.send(calls.decide_approval(approval_id, decision, comment))

    def approve(self, approval_id: str, *, comment: str | None = None) -> Approval:
        return self.decide(approval_id, "approve", comment=comment)

    def reject(self, approval_id: str, *, comment: str | None = None) -> Approval:
        return self.decide(approval_id, "reject", comment=comment)
