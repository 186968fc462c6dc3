"""Validate a definition and report every problem at once, each with a stable code.

Parsing is done node by node and edge by edge, so one malformed node does not hide the
problems of the rest: the graph checks still run on whatever could be read.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from referencing.exceptions import Unresolvable

from tideflow.core._cel import Scope
from tideflow.core._definition import (
    NODE_ID_PATTERN,
    EdgeSpec,
    NodeSpec,
    RetryPolicy,
    WorkflowDefinition,
    load_document,
)
from tideflow.core._errors import DefinitionError, ExpressionError, Problem, ProblemCode
from tideflow.core._explain import name_nodes_and_edges, suggestion, unknown_field
from tideflow.core._graph import find_cycles, reachable
from tideflow.core._input_types import input_type_problems
from tideflow.core._json_schema import SafeValidator, schema_problem
from tideflow.core._limits import ENCODER_MAX_DEPTH, json_depth
from tideflow.core._templates import check_expression, iter_expressions
from tideflow.core._triggers import CronTrigger, EventTrigger, Trigger, WebhookTrigger
from tideflow.core.nodes import BUILTIN_NODE_TYPES, Execution, NodeType, NodeTypes

if TYPE_CHECKING:
    from collections.abc import Iterable

_NODE_ID = re.compile(NODE_ID_PATTERN)
Document = str | bytes | dict[str, Any]


def _path(prefix: str, loc: Iterable[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pydantic_problems(
    error: ValidationError,
    prefix: str,
    default: ProblemCode = ProblemCode.SCHEMA_ERROR,
    model: type[BaseModel] | None = None,
) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = unknown_field(model, loc)
        elif item["type"] == "tuple_type":  # the models keep lists as tuples
            message = "should be a list"
        elif item["type"] == "too_short":
            message = f"needs at least {item.get('ctx', {}).get('min_length', 1)} item(s)"
        if "duration" in message:
            code = ProblemCode.INVALID_DURATION
        elif "retry" in loc:
            code = ProblemCode.INVALID_RETRY
        else:
            code = default
        problems.append(Problem(code, message, _path(prefix, loc)))
    return problems


def _parse_items(
    raw: Any, model: type[BaseModel], prefix: str, problems: list[Problem]
) -> list[tuple[int, Any]]:
    parsed: list[tuple[int, Any]] = []
    if not isinstance(raw, list):
        return parsed
    for index, item in enumerate(raw):
        try:
            parsed.append((index, model.model_validate(item)))
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, f"{prefix}[{index}]", model=model))
            lenient = _without_bad_fields(model, item, exc)
            if lenient is not None:
                parsed.append((index, lenient))
    return parsed


def _without_bad_fields(model: type[BaseModel], item: Any, error: ValidationError) -> Any:
    """The item parsed without its faulty optional fields, so later checks still see it."""
    if not isinstance(item, dict):
        return None
    bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
    try:
        return model.model_validate({k: v for k, v in item.items() if k not in bad})
    except ValidationError:
        return None


def _expression_problem(exc: ExpressionError, path: str, node: str | None) -> Problem:
    code = ProblemCode.INVALID_EXPRESSION
    if "secrets can only" in exc.reason or "reads secrets" in exc.reason:
        code = ProblemCode.SECRET_NOT_ALLOWED
    who = f"node {node!r}: " if node else ""
    return Problem(code, f"{who}{exc}", path)


def _check_templates(
    value: Any, path: str, problems: list[Problem], *, node: str | None = None
) -> None:
    try:
        for sub, source, _whole in iter_expressions(value):
            try:
                check_expression(source, Scope.RUN, allow_secrets=False)
            except ExpressionError as exc:
                problems.append(_expression_problem(exc, _path(path, sub), node))
    except ExpressionError as exc:
        problems.append(_expression_problem(exc, path, node))


_TRIGGER = TypeAdapter(Trigger)


def _check_triggers(raw: Any, problems: list[Problem]) -> None:
    """Each trigger on its own (one bad trigger does not hide the others), ids unique."""
    if raw is None:
        return
    if not isinstance(raw, list):
        problems.append(
            Problem(ProblemCode.INVALID_TRIGGER, "triggers must be a list", "spec.triggers")
        )
        return
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = f"spec.triggers[{index}]"
        try:
            trigger = _TRIGGER.validate_python(item)
        except ValidationError as exc:
            for error in exc.errors():
                # drop the union tag pydantic puts in the location (`.cron.schedule`)
                loc = [p for p in error["loc"] if p not in {"webhook", "cron", "event"}]
                message = str(error["msg"]).removeprefix("Value error, ")
                problems.append(Problem(ProblemCode.INVALID_TRIGGER, message, _path(path, loc)))
            continue
        if trigger.id in seen:
            problems.append(
                Problem(
                    ProblemCode.DUPLICATE_TRIGGER_ID,
                    f"trigger id {trigger.id!r} is used more than once",
                    f"{path}.id",
                )
            )
        seen.add(trigger.id)
        _check_trigger_expressions(trigger, path, problems)


def _check_trigger_expressions(
    trigger: WebhookTrigger | CronTrigger | EventTrigger, path: str, problems: list[Problem]
) -> None:
    templates: list[tuple[str, Any]] = [("input", trigger.input)]
    scope = Scope.CRON
    if isinstance(trigger, WebhookTrigger):
        scope = Scope.WEBHOOK
        templates.append(("idempotencyKey", trigger.idempotency_key))
    elif isinstance(trigger, EventTrigger):
        scope = Scope.EVENT
        templates.append(("key", trigger.key))
        if trigger.filter is not None:
            try:
                check_expression(trigger.filter, scope, allow_secrets=False)
            except ExpressionError as exc:
                problems.append(_expression_problem(exc, f"{path}.filter", None))
    for field, value in templates:
        try:
            for sub, source, _whole in iter_expressions(value):
                try:
                    check_expression(source, scope, allow_secrets=False)
                except ExpressionError as exc:
                    problems.append(_expression_problem(exc, _path(f"{path}.{field}", sub), None))
        except ExpressionError as exc:
            problems.append(_expression_problem(exc, f"{path}.{field}", None))


def _check_retry(retry: RetryPolicy, path: str, problems: list[Problem]) -> None:
    checks = (
        (retry.max_attempts < 1, "maxAttempts", "must be at least 1"),
        (
            not 1 <= retry.backoff_coefficient < math.inf,
            "backoffCoefficient",
            "must be a finite number of at least 1",
        ),
        (retry.initial_interval <= timedelta(0), "initialInterval", "must be positive"),
        (
            retry.max_interval < retry.initial_interval,
            "maxInterval",
            "must not be shorter than initialInterval",
        ),
    )
    for failed, field, message in checks:
        if failed:
            problems.append(Problem(ProblemCode.INVALID_RETRY, message, f"{path}.retry.{field}"))


def _config_problems(node_type: NodeType, config: Any, path: str) -> list[Problem]:
    """The config against the type's pydantic model or JSON Schema."""
    model = node_type.config_model
    if model is not None:
        try:
            model.model_validate(config)
        except ValidationError as exc:
            return _pydantic_problems(exc, path, ProblemCode.INVALID_CONFIG, model)
        return []
    validator = SafeValidator(dict(node_type.config_schema or {}))
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        if isinstance(error.instance, str) and "{{" in error.instance:
            continue  # a template: checked again, rendered, by whoever runs the step
        problems.append(
            Problem(ProblemCode.INVALID_CONFIG, error.message, _path(path, error.absolute_path))
        )
    return problems


def _check_config(  # noqa: PLR0917 - positional like its siblings
    node_type: NodeType,
    config: dict[str, Any],
    path: str,
    node_id: str,
    problems: list[Problem],
    types: NodeTypes,
) -> None:
    problems.extend(_config_problems(node_type, config, f"{path}.config"))
    try:
        for site in node_type.expression_sites(config):
            try:
                check_expression(site.source, site.scope, allow_secrets=site.secrets_allowed)
            except ExpressionError as exc:
                problems.append(
                    _expression_problem(exc, _path(f"{path}.config", site.path), node_id)
                )
    except ExpressionError as exc:
        problems.append(_expression_problem(exc, f"{path}.config", node_id))
    if node_type.execution is Execution.FOREACH:
        _check_foreach_child(config.get("node"), f"{path}.config.node", problems, types)
    if node_type.execution is Execution.AGENT:
        _check_agent_operations(config.get("tools"), f"{path}.config.tools", problems, types)


def _check_agent_operations(
    tools: Any, path: str, problems: list[Problem], types: NodeTypes
) -> None:
    """An agent tool's `operation` names a node type a worker (or the core) can run."""
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        operation = tool.get("operation") if isinstance(tool, dict) else None
        if not isinstance(operation, str):
            continue
        where = f"{path}[{index}].operation"
        found = types.get(operation)
        if found is None:
            problems.append(
                Problem(ProblemCode.UNKNOWN_NODE_TYPE, _unknown_type(operation, types), where)
            )
        elif found.execution not in {Execution.INLINE, Execution.DISPATCH}:
            message = (
                f"an agent tool's operation must be an inline or worker node type, not "
                f"{operation!r} (use `workflow:` to run a workflow)"
            )
            problems.append(Problem(ProblemCode.INVALID_CONFIG, message, where))


def _check_foreach_child(child: Any, path: str, problems: list[Problem], types: NodeTypes) -> None:
    if not isinstance(child, dict) or not isinstance(child.get("type"), str):
        return
    child_type = types.get(child["type"])
    if child_type is None:
        problems.append(
            Problem(
                ProblemCode.UNKNOWN_NODE_TYPE, _unknown_type(child["type"], types), f"{path}.type"
            )
        )
        return
    if child_type.execution not in {Execution.INLINE, Execution.DISPATCH}:
        problems.append(
            Problem(
                ProblemCode.INVALID_CONFIG,
                f"a foreach can run inline or worker node types, not {child_type.name!r}"
                + (
                    " (start a workflow per item from a worker instead)"
                    if child_type.execution is Execution.CHILD
                    else ""
                ),
                f"{path}.type",
            )
        )
        return
    problems.extend(_config_problems(child_type, child.get("config", {}), f"{path}.config"))
    _check_queue(child.get("queue"), f"{path}.queue", problems)


def _unknown_type(name: str, types: NodeTypes) -> str:
    return (
        f"unknown node type {name!r}{suggestion(name, types)}; "
        f"valid types: {', '.join(sorted(types))}"
    )


def _check_node(index: int, node: NodeSpec, problems: list[Problem], types: NodeTypes) -> None:
    path = f"spec.nodes[{index}]"
    if not _NODE_ID.match(node.id):
        problems.append(
            Problem(
                ProblemCode.INVALID_NODE_ID,
                f"node id {node.id!r} must match {NODE_ID_PATTERN}",
                f"{path}.id",
            )
        )
    node_type = types.get(node.type)
    if node_type is None:
        problems.append(
            Problem(ProblemCode.UNKNOWN_NODE_TYPE, _unknown_type(node.type, types), f"{path}.type")
        )
    else:
        _check_config(node_type, node.config, path, node.id, problems, types)
    if node.retry is not None:
        _check_retry(node.retry, path, problems)
    if node.timeout is not None and node.timeout <= timedelta(0):
        problems.append(
            Problem(ProblemCode.INVALID_DURATION, "timeout must be positive", f"{path}.timeout")
        )
    wait = node.schedule_to_start_timeout
    if wait is not None and wait <= timedelta(0):
        problems.append(
            Problem(
                ProblemCode.INVALID_DURATION, "scheduleToStartTimeout must be positive",
                f"{path}.scheduleToStartTimeout",
            )
        )  # fmt: skip
    if node.idempotency_key is not None:
        _check_templates(node.idempotency_key, f"{path}.idempotencyKey", problems, node=node.id)
    _check_queue(node.queue, f"{path}.queue", problems)


QUEUE_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"
"""A task queue name: it names a topic (`tideflow.tasks.<queue>`), as the bus requires."""
_QUEUE = re.compile(QUEUE_PATTERN)


def _check_queue(queue: Any, path: str, problems: list[Problem]) -> None:
    """A queue no topic can be named after used to pass, then reject every start of the
    workflow (the scheduler could not write the step's task)."""
    if isinstance(queue, str) and not _QUEUE.match(queue):
        problems.append(
            Problem(
                ProblemCode.SCHEMA_ERROR,
                f"queue {queue[:100]!r} must match {QUEUE_PATTERN} (letters, digits, _ and -)",
                path,
            )
        )


def _check_edges(
    nodes: dict[str, NodeSpec],
    edges: list[tuple[int, EdgeSpec]],
    problems: list[Problem],
    types: NodeTypes,
) -> None:
    seen: set[tuple[str, str, str | None]] = set()
    for index, edge in edges:
        path = f"spec.edges[{index}]"
        problems.extend(
            Problem(
                ProblemCode.DANGLING_EDGE,
                f"edge {edge.from_} -> {edge.to} refers to missing node {end!r}",
                path,
            )
            for end in (edge.from_, edge.to)
            if end not in nodes
        )
        source = nodes.get(edge.from_)
        source_type = types.get(source.type) if source else None
        # two edges between the same nodes are one edge twice only when they carry the
        # same branch (`case a` and `case b` of a switch may both lead to one node); an
        # approval's edge without `when` is its default branch, so `approve` repeats it
        branch = edge.when
        if branch is None and source_type is not None and source_type.branches:
            branch = source_type.default_when
        key = (edge.from_, edge.to, branch)
        if key in seen:
            label = "" if branch is None else f" (when {branch!r})"
            problems.append(
                Problem(
                    ProblemCode.DUPLICATE_EDGE,
                    f"edge {edge.from_} -> {edge.to}{label} repeats",
                    path,
                )
            )
        seen.add(key)
        if source_type is None:
            continue
        if edge.when is not None and not source_type.branches:
            problems.append(
                Problem(
                    ProblemCode.WHEN_ON_NON_BRANCH,
                    f"edge {edge.from_} -> {edge.to} has `when` but {edge.from_!r} is a "
                    f"{source_type.name}, not a condition, switch or approval",
                    f"{path}.when",
                )
            )
        elif edge.when is None and source_type.branches and source_type.default_when is None:
            problems.append(
                Problem(
                    ProblemCode.MISSING_WHEN,
                    f"edge {edge.from_} -> {edge.to} leaves the {source_type.name} "
                    f"{edge.from_!r} and needs `when`",
                    path,
                )
            )
        elif edge.when is not None and source_type.when_values is not None:
            allowed = source_type.when_values()
            if edge.when not in allowed:
                problems.append(
                    Problem(
                        ProblemCode.INVALID_WHEN,
                        f"`when` must be one of {sorted(allowed)}, got {edge.when!r}",
                        f"{path}.when",
                    )
                )


def _check_compensation(
    nodes: list[tuple[int, NodeSpec]], edges: list[tuple[int, EdgeSpec]], problems: list[Problem]
) -> set[str]:
    ids = {n.id for _, n in nodes}
    compensations = set()
    for index, node in nodes:
        if node.compensate is None:
            continue
        if node.compensate not in ids:
            problems.append(
                Problem(
                    ProblemCode.UNKNOWN_COMPENSATE,
                    f"node {node.id!r} compensates with missing node {node.compensate!r}",
                    f"spec.nodes[{index}].compensate",
                )
            )
        else:
            compensations.add(node.compensate)
    problems.extend(
        Problem(
            ProblemCode.COMPENSATE_IN_GRAPH,
            f"compensation node {end!r} runs only when unwinding; it cannot have edges",
            f"spec.edges[{index}]",
        )
        for index, edge in edges
        for end in (edge.from_, edge.to)
        if end in compensations
    )
    return compensations


def _check_graph(
    flow: list[str],
    index_of: dict[str, int],
    edges: list[tuple[int, EdgeSpec]],
    problems: list[Problem],
) -> None:
    flow_set = set(flow)
    successors: dict[str, list[str]] = {n: [] for n in flow}
    has_incoming: set[str] = set()
    for _, edge in edges:
        if edge.from_ in flow_set and edge.to in flow_set:
            successors[edge.from_].append(edge.to)
            has_incoming.add(edge.to)
    in_cycle: set[str] = set()
    for cycle in find_cycles(flow, successors):
        in_cycle.update(cycle)
        problems.append(
            Problem(
                ProblemCode.CYCLE,
                f"cycle {' -> '.join(cycle)}",
                f"spec.nodes[{index_of[cycle[0]]}]",
            )
        )
    starts = [n for n in flow if n not in has_incoming]
    if flow and not starts:
        problems.append(
            Problem(ProblemCode.NO_START_NODE, "every node has an incoming edge", "spec.nodes")
        )
    seen = reachable(starts, successors)
    problems.extend(
        Problem(
            ProblemCode.UNREACHABLE_NODE,
            f"node {node!r} cannot be reached from a start node",
            f"spec.nodes[{index_of[node]}]",
        )
        for node in flow
        if node not in seen and node not in in_cycle
    )


def _non_empty_list(value: object) -> bool:
    return isinstance(value, list) and bool(value)


def _raw_document(document: Document | WorkflowDefinition) -> tuple[Any, Problem | None]:
    """The definition as plain JSON data, or the problem that keeps it from being read."""
    too_deep = Problem(
        ProblemCode.SCHEMA_ERROR,
        f"the definition nests deeper than {ENCODER_MAX_DEPTH} levels: it could not be stored",
        "",
    )
    if isinstance(document, WorkflowDefinition):
        try:
            raw: Any = document.to_wire()
        except ValueError:  # pydantic's serialisation depth
            return None, too_deep
    else:
        try:
            raw = load_document(document)
        except ValueError as exc:
            return None, Problem(ProblemCode.PARSE_ERROR, str(exc), "")
    if not isinstance(raw, dict):
        return None, Problem(ProblemCode.PARSE_ERROR, "a workflow must be a mapping", "")
    if json_depth(raw) > ENCODER_MAX_DEPTH:  # the checks below (and pydantic) would recurse
        return None, too_deep
    return raw, None


def validate_definition(
    document: Document | WorkflowDefinition, types: NodeTypes = BUILTIN_NODE_TYPES
) -> list[Problem]:
    """Every problem of a definition (YAML/JSON text, a mapping, or a model); [] when valid.

    `types` is the catalog of node types the definition may use (built-ins by default;
    services pass the one with their plugins).
    """
    raw, unreadable = _raw_document(document)
    if unreadable is not None:
        return [unreadable]
    problems: list[Problem] = []
    spec: dict[str, Any] = raw["spec"] if isinstance(raw.get("spec"), dict) else {}
    try:
        WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        # items are checked one by one below; pydantic also calls a list whose items all
        # failed "too short", which would only confuse; a list that is not a list (a
        # mapping, a string) is reported here, as nothing below reads it
        written = {f"spec.{k}" for k in ("nodes", "edges") if _non_empty_list(spec.get(k))}
        problems.extend(
            p
            for p in _pydantic_problems(exc, "", model=WorkflowDefinition)
            if not p.path.startswith(("spec.nodes[", "spec.edges[", "spec.triggers"))
            and p.path not in written
        )
    nodes = _parse_items(spec.get("nodes"), NodeSpec, "spec.nodes", problems)
    edges = _parse_items(spec.get("edges", []), EdgeSpec, "spec.edges", problems)
    by_id: dict[str, NodeSpec] = {}
    index_of: dict[str, int] = {}
    for index, node in nodes:
        index_of.setdefault(node.id, index)
        if node.id in by_id:
            problems.append(
                Problem(
                    ProblemCode.DUPLICATE_NODE_ID,
                    f"node id {node.id!r} is used more than once",
                    f"spec.nodes[{index}].id",
                )
            )
        by_id[node.id] = node
        _check_node(index, node, problems, types)
    _check_edges(by_id, edges, problems, types)
    compensations = _check_compensation(nodes, edges, problems)
    flow = [n for n in by_id if n not in compensations]
    _check_graph(flow, index_of, edges, problems)
    schema = spec.get("input")
    if isinstance(schema, dict) and (problem := schema_problem(schema)) is not None:
        problems.append(Problem(ProblemCode.INPUT_SCHEMA_INVALID, problem, "spec.input"))
    _check_triggers(spec.get("triggers"), problems)
    _check_templates(spec.get("vars", {}), "spec.vars", problems)
    _check_templates(spec.get("output"), "spec.output", problems)
    if not problems:  # types are worth checking once everything else is right
        problems.extend(input_type_problems(nodes, spec, types))
    return name_nodes_and_edges(problems, spec)


def parse_definition(
    document: Document | WorkflowDefinition, types: NodeTypes = BUILTIN_NODE_TYPES
) -> WorkflowDefinition:
    """A valid definition, or DefinitionError listing every problem."""
    problems = validate_definition(document, types)
    if problems:
        raise DefinitionError(problems)
    if isinstance(document, WorkflowDefinition):
        return document
    return WorkflowDefinition.model_validate(load_document(document))


def validate_input(definition: WorkflowDefinition, value: Any) -> list[Problem]:
    """Problems of a run input against `spec.input` (JSON Schema); [] when it fits."""
    schema = definition.spec.input
    if schema is None:
        return []
    try:
        errors = sorted(
            SafeValidator(schema).iter_errors(value), key=lambda e: list(e.absolute_path)
        )
    except (Unresolvable, ValueError):  # a schema stored before $refs and patterns were
        # checked (run starts skip the check: a validated definition cannot get here)
        return [
            Problem(ProblemCode.INPUT_SCHEMA_INVALID, schema_problem(schema) or "", "spec.input")
        ]
    return [
        Problem(ProblemCode.INPUT_INVALID, error.message, _path("input", list(error.absolute_path)))
        for error in errors
    ]
