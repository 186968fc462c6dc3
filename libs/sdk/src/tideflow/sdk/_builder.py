"""Workflows written in Python: `Workflow("name").node(...)` emits the definition document.

The builder only assembles the same document a YAML file holds (camelCase keys, the
node and edge lists in the order they were added); the core's models validate it, so a
Python workflow and its YAML twin are checked by the same rules and compare equal.

```python
flow = (
    Workflow("greet")
    .input_schema({"type": "object", "required": ["name"]})
    .transform("hello", value="Hello, {{ input.name }}!")
    .log("note", message="greeted {{ input.name }}", after="hello")
    .output("{{ nodes.hello.output }}")
)
client.workflows.apply(flow, publish=True)
```

Every node helper takes the node options as keywords: `after` (a node id, a list of
them, or `{id: when}` for branches), `when`, `retry`, `timeout`, `queue`, `compensate`,
`join`, `idempotency_key`, `schedule_to_start_timeout`, `title` (the node's display
name), `ui`. Typed helpers exist per built-in node type; `.node(id, type, config)`
takes any type, plugin and connector types included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Self

from pydantic.alias_generators import to_camel

from tideflow.core import (
    API_VERSION,
    BUILTIN_NODE_TYPES,
    NodeTypes,
    Problem,
    format_duration,
    reference_problems,
    validate_definition,
)

Duration = str | timedelta
After = str | Sequence[str] | Mapping[str, str | None] | None


class WorkflowBuildError(ValueError):
    """The document the builder made breaks the definition rules (every problem listed)."""

    def __init__(self, name: str, problems: list[Problem]) -> None:
        lines = [f"{p.code} at {p.path}: {p.message}" for p in problems]
        super().__init__(f"workflow {name!r} is not valid:\n  " + "\n  ".join(lines))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Retry:
    """A node's `retry` policy; fields left as None are left out (the defaults apply)."""

    max_attempts: int | None = None
    initial_interval: Duration | None = None
    backoff_coefficient: float | None = None
    max_interval: Duration | None = None
    non_retryable: Sequence[str] | None = None

    def to_document(self) -> dict[str, Any]:
        return _camel({
            "max_attempts": self.max_attempts,
            "initial_interval": _duration(self.initial_interval),
            "backoff_coefficient": self.backoff_coefficient,
            "max_interval": _duration(self.max_interval),
            "non_retryable": list(self.non_retryable) if self.non_retryable is not None else None,
        })  # fmt: skip


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool of an `agent` node: exactly one of `task`, `workflow`, `operation`."""

    name: str
    description: str
    input_schema: Mapping[str, Any] | None = None
    task: str | None = None
    workflow: str | None = None
    operation: str | None = None

    def to_document(self) -> dict[str, Any]:
        return _camel({
            "name": self.name, "description": self.description,
            "input_schema": _maybe_dict(self.input_schema), "task": self.task,
            "workflow": self.workflow, "operation": self.operation,
        })  # fmt: skip


def _duration(value: Duration | None) -> str | None:
    if isinstance(value, timedelta):
        return format_duration(value)
    return value


def _camel(values: Mapping[str, Any]) -> dict[str, Any]:
    """snake_case keywords to the document's camelCase keys, None values left out."""
    return {to_camel(k): _plain(v) for k, v in values.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, Retry):
        return value.to_document()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@dataclass
class Workflow:
    """A definition document under construction; each method returns the workflow."""

    name: str
    description: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    _nodes: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    _edges: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    _spec: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    # --- the spec ----------------------------------------------------------------------

    def input_schema(self, schema: Mapping[str, Any]) -> Self:
        """The JSON Schema a run's input must satisfy."""
        self._spec["input"] = dict(schema)
        return self

    def vars(self, **values: Any) -> Self:
        """Initial run variables (`vars.<name>` in expressions)."""
        self._spec.setdefault("vars", {}).update(values)
        return self

    def output(self, template: Any) -> Self:
        """The run's output, rendered when it ends (default: the sinks' outputs)."""
        self._spec["output"] = template
        return self

    def trigger(self, trigger_id: str, trigger_type: str, **fields: Any) -> Self:
        self._spec.setdefault("triggers", []).append(
            {"id": trigger_id, "type": trigger_type, **_camel(fields)}
        )
        return self

    def webhook(self, trigger_id: str, *, secret: str, **fields: Any) -> Self:
        """`POST /hooks/<workflow>/<id>`, signed with the tenant secret `secret`."""
        return self.trigger(trigger_id, "webhook", secret=secret, **fields)

    def cron(self, trigger_id: str, schedule: str, **fields: Any) -> Self:
        return self.trigger(trigger_id, "cron", schedule=schedule, **fields)

    def event(self, trigger_id: str, topic: str, **fields: Any) -> Self:
        return self.trigger(trigger_id, "event", topic=topic, **fields)

    # --- the graph ---------------------------------------------------------------------

    def node(
        self,
        node_id: str,
        node_type: str,
        config: Mapping[str, Any] | None = None,
        *,
        after: After = None,
        when: str | None = None,
        retry: Retry | Mapping[str, Any] | None = None,
        timeout: Duration | None = None,
        schedule_to_start_timeout: Duration | None = None,
        queue: str | None = None,
        compensate: str | None = None,
        join: Literal["all", "any"] | None = None,
        idempotency_key: str | None = None,
        title: str | None = None,
        ui: Mapping[str, Any] | None = None,
    ) -> Self:
        """Add a node of any type; `config` is the document's config mapping as is."""
        if any(n["id"] == node_id for n in self._nodes):
            raise ValueError(f"workflow {self.name!r} already has a node {node_id!r}")
        node: dict[str, Any] = {"id": node_id, "type": node_type}
        if title is not None:
            node["name"] = title
        if config is not None:
            node["config"] = dict(config)
        node |= _camel({
            "retry": retry.to_document() if isinstance(retry, Retry) else retry,
            "timeout": timeout, "schedule_to_start_timeout": schedule_to_start_timeout,
            "queue": queue, "compensate": compensate, "join": join,
            "idempotency_key": idempotency_key, "ui": ui,
        })  # fmt: skip
        self._nodes.append(node)
        for parent, parent_when in _parents(after, when):
            self.edge(parent, node_id, when=parent_when)
        return self

    def edge(self, source: str, target: str, *, when: str | bool | None = None) -> Self:
        """A dependency; `when` picks the branch of a condition, switch or approval."""
        edge: dict[str, Any] = {"from": source, "to": target}
        if when is not None:
            edge["when"] = ("true" if when else "false") if isinstance(when, bool) else when
        self._edges.append(edge)
        return self

    # --- typed helpers, one per built-in node type ---------------------------------------

    def transform(self, node_id: str, *, value: Any, **options: Any) -> Self:
        return self.node(node_id, "transform", {"value": value}, **options)

    def condition(self, node_id: str, *, expr: str, **options: Any) -> Self:
        return self.node(node_id, "condition", {"expr": expr}, **options)

    def switch(self, node_id: str, *, expr: str, **options: Any) -> Self:
        return self.node(node_id, "switch", {"expr": expr}, **options)

    def log(
        self, node_id: str, *, message: str,
        level: Literal["debug", "info", "warning", "error"] | None = None, **options: Any,
    ) -> Self:  # fmt: skip
        return self.node(node_id, "log", _camel({"message": message, "level": level}), **options)

    def set(self, node_id: str, *, vars: Mapping[str, Any], **options: Any) -> Self:  # noqa: A002
        return self.node(node_id, "set", {"vars": dict(vars)}, **options)

    def function(
        self, node_id: str, *, name: str, input: Any = None,  # noqa: A002
        heartbeat_timeout: Duration | None = None, **options: Any,
    ) -> Self:  # fmt: skip
        """Call the `@task(name)` function with `input` (templates evaluated)."""
        config = _camel({"name": name, "input": input, "heartbeat_timeout": heartbeat_timeout})
        return self.node(node_id, "function", config, **options)

    def http(
        self, node_id: str, *, url: str, method: str | None = None,
        headers: Mapping[str, Any] | None = None, query: Mapping[str, Any] | None = None,
        body: Any = None, response_headers: Sequence[str] | None = None,
        request_timeout: Duration | None = None, **options: Any,
    ) -> Self:  # fmt: skip
        """`request_timeout` is the config's `timeout` (`timeout` is the step's)."""
        config = _camel({
            "method": method, "url": url, "headers": _maybe_dict(headers),
            "query": _maybe_dict(query), "body": body, "timeout": request_timeout,
            "response_headers": list(response_headers) if response_headers else None,
        })  # fmt: skip
        return self.node(node_id, "http", config, **options)

    def delay(self, node_id: str, *, duration: Duration, **options: Any) -> Self:
        return self.node(node_id, "delay", {"duration": _duration(duration)}, **options)

    def signal(
        self, node_id: str, *, name: str, wait_timeout: Duration | None = None, **options: Any
    ) -> Self:
        """Wait for the signal `name`; `wait_timeout` is the config's `timeout`."""
        config = _camel({"name": name, "timeout": wait_timeout})
        return self.node(node_id, "signal", config, **options)

    def approval(
        self, node_id: str, *, title: str | None = None, description: str | None = None,
        role: str | None = None, assignees: Sequence[str] | None = None,
        quorum: int | None = None, wait_timeout: Duration | None = None,
        on_timeout: Literal["approve", "reject", "fail"] | None = None,
        data: Mapping[str, Any] | None = None, **options: Any,
    ) -> Self:  # fmt: skip
        """A human decision; `title` is the approval's, `wait_timeout` the config's `timeout`."""
        config = _camel({
            "title": title, "description": description, "role": role,
            "assignees": list(assignees) if assignees is not None else None,
            "quorum": quorum, "timeout": wait_timeout, "on_timeout": on_timeout,
            "data": _maybe_dict(data),
        })  # fmt: skip
        return self.node(node_id, "approval", config, **options)

    def foreach(
        self, node_id: str, *, items: Any, node_type: str, config: Mapping[str, Any],
        concurrency: int | None = None, item_retry: Retry | Mapping[str, Any] | None = None,
        item_timeout: Duration | None = None, item_queue: str | None = None, **options: Any,
    ) -> Self:  # fmt: skip
        """Run a `node_type` node per item (`item`, `index` in its templates)."""
        child = {"type": node_type} | _camel({
            "queue": item_queue,
            "retry": item_retry.to_document() if isinstance(item_retry, Retry) else item_retry,
            "timeout": item_timeout,
        }) | {"config": dict(config)}  # fmt: skip
        spec = {"items": items} | _camel({"concurrency": concurrency}) | {"node": child}
        return self.node(node_id, "foreach", spec, **options)

    def subworkflow(
        self, node_id: str, *, workflow: str, version: int | None = None,
        input: Any = None, **options: Any,  # noqa: A002
    ) -> Self:  # fmt: skip
        config = _camel({"workflow": workflow, "version": version, "input": input})
        return self.node(node_id, "subworkflow", config, **options)

    def llm(
        self, node_id: str, *, model: str, prompt: str | None = None,
        messages: Sequence[Mapping[str, str]] | None = None, system: str | None = None,
        api_base: str | None = None, api_key_secret: str | None = None,
        output_schema: Mapping[str, Any] | None = None, temperature: float | None = None,
        max_tokens: int | None = None, repair_attempts: int | None = None,
        request_timeout: Duration | None = None, **options: Any,
    ) -> Self:  # fmt: skip
        config = _camel({
            "model": model, "api_base": api_base, "api_key_secret": api_key_secret,
            "system": system, "prompt": prompt,
            "messages": [dict(m) for m in messages] if messages is not None else None,
            "output_schema": _maybe_dict(output_schema), "temperature": temperature,
            "max_tokens": max_tokens, "repair_attempts": repair_attempts,
            "timeout": request_timeout,
        })  # fmt: skip
        return self.node(node_id, "llm", config, **options)

    def agent(
        self, node_id: str, *, model: str, prompt: str,
        tools: Sequence[Tool | Mapping[str, Any]] = (), system: str | None = None,
        api_base: str | None = None, api_key_secret: str | None = None,
        max_iterations: int | None = None, token_budget: int | None = None,
        time_budget: Duration | None = None, output_schema: Mapping[str, Any] | None = None,
        temperature: float | None = None, max_tokens: int | None = None, **options: Any,
    ) -> Self:  # fmt: skip
        """A model that calls `tools` until it answers (docs/nodes/agent.md)."""
        config = _camel({
            "model": model, "api_base": api_base, "api_key_secret": api_key_secret,
            "system": system, "prompt": prompt,
            "tools": [t.to_document() if isinstance(t, Tool) else dict(t) for t in tools],
            "max_iterations": max_iterations, "token_budget": token_budget,
            "time_budget": _duration(time_budget), "output_schema": _maybe_dict(output_schema),
            "temperature": temperature, "max_tokens": max_tokens,
        })  # fmt: skip
        return self.node(node_id, "agent", config, **options)

    def database(
        self, node_id: str, *, connection_secret: str, statement: str,
        params: Sequence[Any] | None = None, max_rows: int | None = None,
        request_timeout: Duration | None = None, **options: Any,
    ) -> Self:  # fmt: skip
        config = _camel({
            "connection_secret": connection_secret, "statement": statement,
            "params": list(params) if params is not None else None, "max_rows": max_rows,
            "timeout": request_timeout,
        })  # fmt: skip
        return self.node(node_id, "database", config, **options)

    # --- the document ----------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        """The definition as built, not validated."""
        metadata: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            metadata["description"] = self.description
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        spec: dict[str, Any] = {}
        for key in ("triggers", "input", "vars"):
            if key in self._spec:
                spec[key] = self._spec[key]
        spec["nodes"] = [dict(n) for n in self._nodes]
        if self._edges:
            spec["edges"] = [dict(e) for e in self._edges]
        if "output" in self._spec:
            spec["output"] = self._spec["output"]
        return {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": metadata,
                "spec": spec}  # fmt: skip

    def validate(self, types: NodeTypes = BUILTIN_NODE_TYPES) -> list[Problem]:
        """Every problem the API would report for this definition ([] when valid)."""
        document = self.document()
        return validate_definition(document, types) + reference_problems(document, types)

    def to_definition(self, types: NodeTypes | None = BUILTIN_NODE_TYPES) -> dict[str, Any]:
        """The validated document (`WorkflowBuildError` listing every problem otherwise).

        `types`: the node types it may use (pass a catalog with your plugins' types), or
        None to skip validation and let the server judge.
        """
        if types is not None:
            problems = self.validate(types)
            if problems:
                raise WorkflowBuildError(self.name, problems)
        return self.document()

    def to_yaml(self) -> str:
        import yaml  # noqa: PLC0415 - only this method needs it

        return yaml.safe_dump(self.to_definition(), sort_keys=False, allow_unicode=True)


def _maybe_dict(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(value) if value is not None else None


def _parents(after: After, when: str | None) -> list[tuple[str, str | None]]:
    if after is None:
        return []
    if isinstance(after, str):
        return [(after, when)]
    if isinstance(after, Mapping):
        return [(parent, parent_when) for parent, parent_when in after.items()]
    return [(parent, when) for parent in after]
