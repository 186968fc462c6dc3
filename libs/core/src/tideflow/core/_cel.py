"""The CEL engine: compile with declared variables, evaluate with bounds, JSON in and out.

We use `cel-expr-python` (Google's cel-cpp runtime); docs/expressions.md has the numbers
behind that choice. Variables are declared per scope, so a typo such as `inptu.x` is a
compile error at validation time, not a failed run. The runtime's comprehension iteration
budget bounds evaluation time deterministically: a wall-clock limit would make `decide`
depend on the machine, which a pure, replayable core must not.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

import cel_expr_python.cel as _cel  # type: ignore[import-untyped]

from tideflow.core._durations import format_duration
from tideflow.core._errors import ExpressionError

MAX_EXPRESSION_LENGTH = 4096
MAX_RESULT_BYTES = 1_048_576
MAX_COMPREHENSION_DEPTH = 3

_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


class Scope(StrEnum):
    """Which variables an expression may read."""

    RUN = "run"
    """input, nodes, vars, run, secrets."""
    ITEM = "item"
    """Everything in RUN plus `item` and `index` (inside a foreach)."""


_SCOPE_VARIABLES = {
    Scope.RUN: ("input", "nodes", "vars", "run", "secrets"),
    Scope.ITEM: ("input", "nodes", "vars", "run", "secrets", "item", "index"),
}


@lru_cache(maxsize=4)
def _env(scope: Scope) -> Any:
    return _cel.NewEnv(variables=dict.fromkeys(_SCOPE_VARIABLES[scope], _cel.Type.DYN))


_RUN_CONSTANT_VARIABLES = ("input", "run")
"""What is fixed when a run starts: expressions reading nothing else have one value per run."""


@lru_cache(maxsize=1)
def _constant_env() -> Any:
    return _cel.NewEnv(variables=dict.fromkeys(_RUN_CONSTANT_VARIABLES, _cel.Type.DYN))


class Context(dict[str, Any]):
    """An expression context that may carry a per-run cache of run-constant results.

    The decider passes one with `constants` set to a dict shared by every state of the run;
    `evaluate_expression` then computes an expression that reads only `input` and `run`
    once per run. Any other mapping (a plain dict) evaluates every time.
    """

    __slots__ = ("constants",)

    def __init__(self, values: dict[str, Any], constants: dict[Any, Any] | None) -> None:
        super().__init__(values)
        self.constants = constants


def _first_error(message: str) -> tuple[str, int | None]:
    """Reduce cel-cpp's multi-line diagnostics to one reason and a 1-based column."""
    match = _POSITION.search(message)
    if match is None:
        return message.strip().splitlines()[0] if message.strip() else message, None
    reason = match.group(3).strip().removesuffix("[INVALID_ARGUMENT]").strip()
    return reason, int(match.group(2))


def _comprehension_depth(source: str) -> int:
    """Nesting depth of macro calls (map/filter/all/exists...), outside string literals."""
    depth = 0
    deepest = 0
    stack: list[bool] = []
    for tok in _tokens(source):
        if tok in {"map(", "filter(", "all(", "exists(", "exists_one("}:
            stack.append(True)
            depth += 1
            deepest = max(deepest, depth)
        elif tok == "(":
            stack.append(False)
        elif tok == ")" and stack and stack.pop():
            depth -= 1
    return deepest


_TOKEN = re.compile(
    r"""(?P<str>[rRbB]*("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'))"""
    r"""|(?P<macro>\.\s*(?:map|filter|all|exists_one|exists)\s*\()"""
    r"""|(?P<ident>(?<![.\w])[A-Za-z_]\w*)"""
    r"""|(?P<paren>[()])"""
)


def _tokens(source: str) -> list[str]:
    out: list[str] = []
    for match in _TOKEN.finditer(source):
        if match.group("str"):
            continue
        if macro := match.group("macro"):
            out.append(macro.lstrip(".").replace(" ", ""))
        elif ident := match.group("ident"):
            out.append(ident)
        else:
            out.append(match.group("paren"))
    return out


@lru_cache(maxsize=4096)
def root_identifiers(source: str) -> frozenset[str]:
    """Top-level names an expression reads (e.g. `secrets`, `input`), ignoring strings."""
    return frozenset(t for t in _tokens(source) if t[-1] != "(" and t not in "()")


@lru_cache(maxsize=4096)
def compile_expression(source: str, scope: Scope = Scope.RUN) -> Any:
    """Compile (and cache) a CEL program; raises ExpressionError with the column."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression longer than {MAX_EXPRESSION_LENGTH} characters", expression=source[:80]
        )
    if not source.strip():
        raise ExpressionError("empty expression", expression=source)
    if _comprehension_depth(source) > MAX_COMPREHENSION_DEPTH:
        raise ExpressionError(
            f"more than {MAX_COMPREHENSION_DEPTH} nested comprehensions", expression=source
        )
    try:
        return _env(scope).compile(source)
    except RuntimeError as exc:
        reason, column = _first_error(str(exc))
        raise ExpressionError(reason, expression=source, position=column) from None


@lru_cache(maxsize=4096)
def is_run_constant(source: str) -> bool:
    """Whether an expression can read nothing but `input` and `run`.

    Proved by the type checker, not by scanning text: the expression must compile in an
    environment that declares only those two variables.
    """
    if root_identifiers(source) & {"nodes", "vars", "secrets", "item", "index"}:
        return False
    try:
        _constant_env().compile(source)
    except RuntimeError:
        return False
    return True


_SCALARS = (str, int, float, bool, type(None))


def evaluate_expression(source: str, context: dict[str, Any], scope: Scope | None = None) -> Any:
    """Evaluate a CEL expression over JSON data and return JSON data.

    Without an explicit scope, a context holding `index` (inside a foreach) gets ITEM.
    """
    if scope is None:
        scope = Scope.ITEM if "index" in context else Scope.RUN
    program = compile_expression(source, scope)
    constants = context.constants if isinstance(context, Context) else None
    if constants is not None and is_run_constant(source):
        if source in constants:
            return constants[source]
        value = _evaluate(program, source, context, scope)
        # Only immutable values are shared: a list or map could be changed by whoever
        # receives it, and would then change for every later step of the run.
        if isinstance(value, _SCALARS):
            constants[source] = value
        return value
    return _evaluate(program, source, context, scope)


_NODES_WORD = re.compile(r"\bnodes\b")
_NODE_FIELD = re.compile(r"\bnodes\s*\.\s*([A-Za-z_]\w*)(?!\w)(?!\s*\()")


@lru_cache(maxsize=4096)
def node_references(source: str) -> frozenset[str] | None:
    """The node ids an expression reads as `nodes.<id>`, or None if it may read any.

    The runtime converts a map variable as a whole, so passing every node's output to
    `nodes.a.output` costs time in the number of nodes; passing only `a` keeps an
    expression's cost independent of the workflow's size. The scan is of the raw text,
    strings and comments included, which can only add ids: any use of the word `nodes`
    that is not `nodes.<id>` (indexing, a macro such as `nodes.map(...)`, `size(nodes)`,
    a field of something else) gives None, and the whole map is passed.
    """
    uses = _NODES_WORD.findall(source)
    fields = [m.group(1) for m in _NODE_FIELD.finditer(source)]
    if len(fields) != len(uses):
        return None
    return frozenset(fields)


def _evaluate(program: Any, source: str, context: dict[str, Any], scope: Scope) -> Any:
    data = {name: context.get(name) for name in _SCOPE_VARIABLES[scope]}
    nodes = data["nodes"]
    if isinstance(nodes, dict) and len(nodes) > 1:
        used = node_references(source)
        if used is not None:
            data["nodes"] = {key: nodes[key] for key in used if key in nodes}
    try:
        value = program.eval(data=data)
    except (RuntimeError, TypeError, ValueError, OverflowError) as exc:
        reason, _ = _first_error(str(exc))
        raise ExpressionError(reason, expression=source) from None
    if value.type() == _cel.Type.ERROR:
        reason, _ = _first_error(str(value.value()))
        raise ExpressionError(reason, expression=source)
    result = to_json(value.plain_value(), source)
    _check_size(result, source)
    return result


def to_json(value: Any, source: str) -> Any:
    """Turn CEL results (timestamps, durations, bytes, types) into JSON-ready values."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [to_json(v, source) for v in value]
    if isinstance(value, dict):
        return {str(to_json(k, source)): to_json(v, source) for k, v in value.items()}
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise ExpressionError(f"result of type {type(value).__name__} is not JSON", expression=source)


def _check_size(result: Any, source: str) -> None:
    if isinstance(result, str):
        size = len(result)
    elif isinstance(result, list | dict):
        size = len(json.dumps(result, separators=(",", ":")))
    else:
        return
    if size > MAX_RESULT_BYTES:
        raise ExpressionError(f"result larger than {MAX_RESULT_BYTES} bytes", expression=source)
