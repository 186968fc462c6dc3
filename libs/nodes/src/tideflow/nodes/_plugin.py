"""Worker node types declared by plugins, run as executor handlers.

The rendered config is checked against the type's schema first (the validator let
templates through; their values are only known now), then the plugin's handler runs
with a `NodeContext`, and its output is checked against the output schema. Expected
failures are `NodeError`s (their `retryable` decides); anything else a handler raises
is a retryable failure named after the exception, as for every other node type.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import jsonschema  # type: ignore[import-untyped]
from pydantic import ValidationError

from tideflow.core import SafeValidator
from tideflow.core.nodes import output_problem
from tideflow.nodes._capped import ResponseTooLarge
from tideflow.nodes._handler import StepFailure, StepOutcome, StepSuccess, TaskSpec
from tideflow.plugins import TASK_LOGGER, NodeContext, NodeError, NodeTypeSpec

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping

    import httpx

    SecretsOf = Callable[[str], Awaitable[Mapping[str, str]]]

log = logging.getLogger(__name__)


def _ignore(_: Iterable[str]) -> None:
    """No redactor (a handler run outside an executor, in tests)."""


def config_problem(spec: NodeTypeSpec, config: dict[str, Any]) -> str | None:
    """Why a rendered config breaks the type's schema (first reason), or None."""
    if spec.config_model is not None:
        try:
            spec.config_model.model_validate(config)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return f"{where}: {first['msg']}" if where else str(first["msg"])
        return None
    error = jsonschema.exceptions.best_match(
        SafeValidator(dict(spec.config_schema or {})).iter_errors(config)
    )
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


class PluginHandler:
    """One declared worker type as a `NodeHandler`."""

    def __init__(
        self,
        spec: NodeTypeSpec,
        *,
        http: httpx.AsyncClient,
        secrets: SecretsOf,
        redact: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.node_type = spec.name
        self._spec = spec
        self._http = http
        self._secrets = secrets
        self._redact = redact or _ignore

    async def run(self, task: TaskSpec) -> StepOutcome:
        problem = config_problem(self._spec, task.config)
        if problem is not None:
            return StepFailure(
                "ConfigInvalid", f"{task.node_type} config: {problem}", retryable=False
            )
        deadline = datetime.now(UTC) + task.timeout if task.timeout else None
        context = NodeContext(
            run_id=task.run_id, node_id=task.node_id, attempt=task.attempt,
            tenant_id=task.tenant_id, node_type=task.node_type,
            idempotency_key=task.idempotency_key
            or f"{task.run_id}:{task.node_id}:{task.attempt}",
            deadline=deadline, http=self._http,
            secrets=await self._secrets(task.tenant_id),
            logger=logging.getLogger(TASK_LOGGER), redact=self._redact,
        )  # fmt: skip
        try:
            output = await self._call(task.config, context)
        except NodeError as exc:
            return StepFailure(exc.type, str(exc), retryable=exc.retryable, details=exc.details)
        except ResponseTooLarge as exc:  # `ctx.http` read past the cap: not worth a retry
            return StepFailure(exc.error_type, str(exc), retryable=False)
        problem = output_problem(self._spec.output_schema, output)
        if problem is not None:
            return StepFailure(
                "OutputInvalid",
                f"{task.node_type} output does not match its schema: {problem}",
                retryable=False,
            )
        return StepSuccess(output)

    async def _call(self, config: dict[str, Any], context: NodeContext) -> Any:
        handler = cast("Callable[[dict[str, Any], NodeContext], Any]", self._spec.handler)
        if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - an async callable object
        ):
            return await handler(config, context)
        result = await asyncio.to_thread(handler, config, context)
        if inspect.isawaitable(result):
            return await result
        return result
