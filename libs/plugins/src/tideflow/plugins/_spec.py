"""What a plugin declares: a node type's name, config schema, where it runs, its handler.

A plugin package lists its types in the `tideflow.node_types` entry point group; each
entry point names a `NodeTypeSpec`, a list of them, or a function returning either:

```toml
[project.entry-points."tideflow.node_types"]
slugify = "my_plugin:SLUGIFY"
```

`Runs.INLINE` types are pure functions of their rendered config, evaluated by the
scheduler inside its decision (no IO, deterministic: their output is recorded once and
never recomputed). `Runs.WORKER` types are async (or sync) functions run by an executor
with a `NodeContext`: the run and step coordinates, the tenant's secrets, an HTTP client
that applies the egress policy, and a logger whose lines land in the step's log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    import httpx
    from pydantic import BaseModel

TASK_LOGGER = "tideflow.task"
"""The logger whose records land in a step's log (the executor collects them)."""


class Runs(StrEnum):
    """Where a node type's handler runs."""

    INLINE = "inline"
    """In the scheduler, inside its decision: a pure function of the rendered config."""
    WORKER = "worker"
    """In an executor on the node's task queue, with retries, timeouts and IO."""


class NodeError(Exception):
    """A handler's expected failure: `retryable` says whether another attempt can help.

    `type` is what a node's `retry.nonRetryable` list matches; other exceptions a worker
    handler raises are retryable failures named after their class.
    """

    def __init__(
        self,
        message: str,
        *,
        type: str = "NodeError",  # noqa: A002 - the error type, as steps report it
        retryable: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.retryable = retryable
        self.details = dict(details or {})


@dataclass(frozen=True, slots=True)
class NodeContext:
    """What a worker handler gets besides its config."""

    run_id: str
    node_id: str
    attempt: int
    tenant_id: str
    node_type: str
    idempotency_key: str | None
    """The node's rendered `idempotencyKey` (default: run, step and attempt), to pass on."""
    deadline: datetime | None
    """When the attempt times out (None: no timeout)."""
    http: httpx.AsyncClient
    """A client whose every connection passes the egress policy (shared: do not close)."""
    secrets: Mapping[str, str] = field(repr=False)
    """The tenant's secrets, by name."""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger(TASK_LOGGER))
    redact: Callable[[Iterable[str]], None] = field(default=lambda _: None, repr=False)
    """The executor's redactor (`sensitive` calls it); a no-op outside an executor."""

    def sensitive(self, *values: str) -> None:
        """Mask `values` like the secrets themselves from now on, in this step's output,
        error and log lines and everything else the executor reports or logs.

        For values derived from secrets at run time, which the executor cannot know by
        itself: an encoded credential (`base64(user:password)` of a Basic header), an
        access token fetched with a client secret."""
        self.redact(v for v in values if v)

    def secret(self, name: str) -> str:
        """The secret called `name`; a non-retryable NodeError when there is none."""
        value = self.secrets.get(name)
        if value is None:
            raise NodeError(f"secret {name!r} is not set", type="SecretNotFound")
        return value


InlineHandler = Callable[[dict[str, Any]], Any]
WorkerHandler = Callable[[dict[str, Any], NodeContext], Awaitable[Any] | Any]


@dataclass(frozen=True, slots=True)
class NodeTypeSpec:
    """One node type as a plugin declares it.

    Give the config as a JSON Schema (`config_schema`) or as a pydantic model
    (`config_model`, camelCase aliases recommended); the builder renders its property
    form from that schema and the validator checks every node against it, naming the node.
    """

    name: str
    """`snake_case`, dotted for a namespace: `acme.slugify`."""
    runs: Runs
    handler: InlineHandler | WorkerHandler
    description: str = ""
    config_schema: Mapping[str, Any] | None = None
    config_model: type[BaseModel] | None = None
    output_schema: Mapping[str, Any] | None = None
    """Checked against every output; a mismatch fails the step for good (`OutputInvalid`)."""
    icon: str | None = None
    """An emoji or a short icon name for the palette."""
    title: str | None = None
    category: str | None = None
    """The palette group; default `plugins`."""


@dataclass(frozen=True, slots=True)
class NotDeclared:
    """What a factory entry point returns, next to its specs, for a type it could not
    build (a broken connector file): the registry lists it among the failures."""

    name: str
    error: str
