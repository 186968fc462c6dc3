"""The CEL engine: compile with declared variables, evaluate with bounds, JSON in and out.

We use `cel-expr-python` (Google's cel-cpp runtime); docs/expressions.md has the numbers
behind that choice. Variables are declared per scope, so a typo such as `inptu.x` is a
compile error at validation time, not a failed run.

Evaluation has a budget, checked deterministically (a wall-clock limit would make `decide`
depend on the machine, which a pure, replayable core must not): before a program that
loops or builds strings or lists runs, `_cel_cost` bounds the bytes it can build and the
loop turns it can take over the actual data, and refuses it over
`Limits.expression_work_bytes`; its result is converted under a byte meter that stops at
`Limits.expression_bytes` instead of materialising gigabytes first; and the runtime's own
iteration budget stays as a backstop. A result holding NaN or ±Infinity is an error too:
JSON cannot hold it, and storing `null` instead would make a replay take another branch.
"""

from __future__ import annotations

import base64
import math
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

import cel_expr_python.cel as _cel  # type: ignore[import-untyped]
import orjson

from tideflow.core._cel_cost import Node, OverBudget, estimate, program_tree
from tideflow.core._durations import format_duration
from tideflow.core._errors import ExpressionError
from tideflow.core._limits import DEFAULT_LIMITS, LimitCode, Limits, json_depth

MAX_EXPRESSION_LENGTH = 4096
MAX_COMPREHENSION_DEPTH = 3
MAX_RESULT_BYTES = DEFAULT_LIMITS.expression_bytes
_SCALAR_BYTES = 8

_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


class Scope(StrEnum):
    """Which variables an expression may read."""

    RUN = "run"
    """input, nodes, vars, run, secrets."""
    ITEM = "item"
    """Everything in RUN plus `item` and `index` (inside a foreach)."""
    WEBHOOK = "webhook"
    """A webhook trigger's templates: the request's body, headers and query."""
    EVENT = "event"
    """An event trigger's filter and templates: the message and where it came from."""
    CRON = "cron"
    """A cron trigger's input: the tick's time and the trigger."""


_SCOPE_VARIABLES = {
    Scope.RUN: ("input", "nodes", "vars", "run", "secrets"),
    Scope.ITEM: ("input", "nodes", "vars", "run", "secrets", "item", "index"),
    Scope.WEBHOOK: ("body", "headers", "query", "trigger"),
    Scope.EVENT: ("message", "key", "topic", "partition", "offset", "headers", "trigger"),
    Scope.CRON: ("tick", "trigger"),
}


@lru_cache(maxsize=8)
def _env(scope: Scope) -> Any:
    return _cel.NewEnv(variables=dict.fromkeys(_SCOPE_VARIABLES[scope], _cel.Type.DYN))


_RUN_CONSTANT_VARIABLES = ("input", "run")
"""What is fixed when a run starts: expressions reading nothing else have one value per run."""


@lru_cache(maxsize=1)
def _constant_env() -> Any:
    return _cel.NewEnv(variables=dict.fromkeys(_RUN_CONSTANT_VARIABLES, _cel.Type.DYN))


class Context(dict[str, Any]):
    """An expression context that may carry a per-run cache of run-constant results and
    the run's limits.

    The decider passes one with `constants` set to a dict shared by every state of the run;
    `evaluate_expression` then computes an expression that reads only `input` and `run`
    once per run. Any other mapping (a plain dict) evaluates every time, under the default
    limits.
    """

    __slots__ = ("constants", "limits")

    def __init__(
        self,
        values: dict[str, Any],
        constants: dict[Any, Any] | None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(values)
        self.constants = constants
        self.limits = limits or DEFAULT_LIMITS


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
        raise _cel_error(source, reason, column) from None


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


_GROWTH = re.compile(r"\+|\bstring\s*\(|\bbytes\s*\(")


@lru_cache(maxsize=4096)
def _metered_tree(source: str, scope: Scope) -> Node | None:
    """The AST to bound before evaluating, or None for programs that neither loop nor
    build strings or lists (their cost is bounded by the expression and the data)."""
    if _comprehension_depth(source) == 0 and not _GROWTH.search(source):
        return None
    return program_tree(compile_expression(source, scope).serialize())


def _evaluate(program: Any, source: str, context: dict[str, Any], scope: Scope) -> Any:
    limits = context.limits if isinstance(context, Context) else DEFAULT_LIMITS
    data = {name: context.get(name) for name in _SCOPE_VARIABLES[scope]}
    nodes = data.get("nodes")  # trigger scopes have no `nodes`
    if isinstance(nodes, dict) and len(nodes) > 1:
        used = node_references(source)
        if used is not None:
            data["nodes"] = {key: nodes[key] for key in used if key in nodes}
    metered = False
    tree = _metered_tree(source, scope)
    if tree is not None:
        try:
            _, bound = estimate(tree, data, limits.expression_work_bytes)
        except OverBudget as over:
            raise _over_budget(source, f"it could build {over.cost:,} bytes", limits) from None
        if bound.floor > limits.expression_bytes:  # surely too large: do not even build it
            raise _over_budget(source, f"its result is at least {bound.floor:,} bytes", limits)
        metered = bound.size > limits.expression_bytes
    try:
        value = program.eval(data=data)
    except (RuntimeError, TypeError, ValueError, OverflowError) as exc:
        raise _cel_error(source, _first_error(str(exc))[0]) from None
    if value.type() == _cel.Type.ERROR:
        raise _cel_error(source, _first_error(str(value.value()))[0])
    plain = _bounded_plain(value, source, limits) if metered else value.plain_value()
    if json_depth(plain, stop_after=limits.json_depth) > limits.json_depth:
        raise ExpressionError(
            f"the result is nested deeper than {limits.json_depth} levels",
            expression=source[:200],
            code=LimitCode.VALUE_TOO_DEEP.value,
        )
    result = to_json(plain, source)
    _check_size(result, source, limits)
    return result


def _over_budget(source: str, why: str, limits: Limits) -> ExpressionError:
    return ExpressionError(
        f"expression over its budget ({why}; the limit is {limits.expression_work_bytes:,} "
        f"bytes built and {limits.expression_bytes:,} bytes of result)",
        expression=source[:200],
        code=LimitCode.EXPRESSION_BUDGET.value,
    )


_RUNTIME_LIMIT = re.compile(r"iteration budget exceeded|recursion (?:limit|depth)", re.IGNORECASE)
"""cel-cpp's own backstops (comprehension turns, nesting while planning or parsing): the
same expression over the same data always hits them, so they are a budget, not a bug."""
_STATUS_NOISE = re.compile(r"^(?:[A-Z_]+:\s*)*(?:<input>:-?\d+:-?\d+:\s*)?|\s*\[[A-Z_]+\]$")


def _cel_error(source: str, reason: str, column: int | None = None) -> ExpressionError:
    """cel-cpp's error as ours: its own limits carry the budget code."""
    if not _RUNTIME_LIMIT.search(reason):
        return ExpressionError(reason, expression=source, position=column)
    return ExpressionError(
        f"expression over its budget ({_STATUS_NOISE.sub('', reason).rstrip('.')})",
        expression=source[:200],
        code=LimitCode.EXPRESSION_BUDGET.value,
    )


def _bounded_plain(value: Any, source: str, limits: Limits) -> Any:
    """`value.plain_value()`, but stopping once the result passes `expression_bytes`:
    a result that repeats one large string thousands of times costs nothing to build in
    cel-cpp (it shares the string) and gigabytes to copy out."""
    remaining = limits.expression_bytes

    def charge(amount: int) -> None:
        nonlocal remaining
        remaining -= amount
        if remaining < 0:
            raise _over_budget(source, "its result is larger than allowed", limits)

    def walk(item: Any) -> Any:
        kind = item.type()
        if kind == _cel.Type.LIST:
            elements = item.value()
            charge(len(elements) + 2)
            return [walk(element) for element in elements]
        if kind == _cel.Type.MAP:
            entries = item.value()
            charge(len(entries) + 2)
            return {key: walk(entry) for key, entry in entries.items()}
        plain = item.plain_value()
        charge(len(plain) if isinstance(plain, str | bytes) else _SCALAR_BYTES)
        return plain

    return walk(value)


def _json_key(key: Any) -> str:
    """A CEL map key (string, int, uint or bool) as a JSON object key: `{true: 1}` is
    `{"true": 1}`, as JSON writes the value, not Python's `"True"`."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def to_json(value: Any, source: str) -> Any:
    """Turn CEL results (timestamps, durations, bytes, types) into JSON-ready values."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError(
            f"the result holds {value} (NaN or Infinity), which JSON cannot hold",
            expression=source,
            code=LimitCode.NON_FINITE_NUMBER.value,
        )
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [to_json(v, source) for v in value]
    if isinstance(value, dict):
        return {_json_key(k): to_json(v, source) for k, v in value.items()}
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise ExpressionError(f"result of type {type(value).__name__} is not JSON", expression=source)


def _check_size(result: Any, source: str, limits: Limits) -> None:
    if isinstance(result, str):
        size = len(result)
    elif isinstance(result, list | dict):
        size = len(orjson.dumps(result))
    else:
        return
    if size > limits.expression_bytes:
        raise _over_budget(source, f"its result is {size:,} bytes", limits)


@lru_cache(maxsize=1)
def _search_program() -> Any:
    env = _cel.NewEnv(variables={"s": _cel.Type.STRING, "p": _cel.Type.STRING})
    return env.compile("s.matches(p)")


def re2_search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches somewhere in `text`, by RE2 (CEL's `matches`): linear in
    the text, so a user's pattern cannot backtrack for ever as Python's `re` can
    (`^(a+)+$` over 30 a's and a `!`). ValueError when RE2 cannot compile the pattern
    (lookaround, backreferences)."""
    value = _search_program().eval(data={"s": text, "p": pattern})
    if value.type() == _cel.Type.ERROR:
        raise ValueError(_STATUS_NOISE.sub("", _first_error(str(value.value()))[0]))
    return bool(value.plain_value())
