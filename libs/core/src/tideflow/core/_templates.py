"""`{{ <CEL> }}` templates inside JSON values.

A string that is exactly one template yields the typed value (number, list, map); any
other string gets the parts substituted as text. Templates that read `secrets` are not
evaluated by the core: they are left in place, with their location listed in
`Rendered.secret_paths`, so the executor fills them in just before it calls out and secret
values never reach an event. Only the listed paths are resolved later, so a run input
that happens to contain `{{ secrets.x }}` can never be expanded into a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tideflow.core._cel import (
    Context,
    Scope,
    compile_expression,
    evaluate_expression,
    root_identifiers,
)
from tideflow.core._errors import ExpressionError
from tideflow.core._limits import DEFAULT_LIMITS, LimitCode

PathPart = str | int
Path = tuple[PathPart, ...]
_OPEN = "{{"
_CLOSE = "}}"
_ESCAPED_OPEN = '{{ "{{" }}'


@dataclass(frozen=True, slots=True)
class Segment:
    """A literal piece of text or a CEL expression (with its offset in the string)."""

    text: str
    is_expression: bool
    offset: int = 0


def _end_of_expression(text: str, start: int) -> int:
    """Index of the closing `}}` of a template opened before `start`, skipping strings."""
    depth = 0
    quote = ""
    i = start
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and text.startswith(_CLOSE, i):
                return i
            depth = max(depth - 1, 0)
        i += 1
    return -1


def parse_template(text: str) -> list[Segment]:
    """Split a string into literal and expression segments; unclosed `{{` is an error."""
    return list(_segments(text))


@lru_cache(maxsize=4096)
def _segments(text: str) -> tuple[Segment, ...]:
    """`parse_template`, cached: the same config strings are rendered for every run."""
    return tuple(_parse(text))


def _parse(text: str) -> list[Segment]:
    segments: list[Segment] = []
    pos = 0
    while True:
        start = text.find(_OPEN, pos)
        if start < 0:
            if pos < len(text):
                segments.append(Segment(text[pos:], is_expression=False, offset=pos))
            return segments
        if start > pos:
            segments.append(Segment(text[pos:start], is_expression=False, offset=pos))
        end = _end_of_expression(text, start + 2)
        if end < 0:
            raise ExpressionError(
                "template opened with '{{' is never closed", expression=text, position=start + 1
            )
        segments.append(Segment(text[start + 2 : end].strip(), is_expression=True, offset=start))
        pos = end + 2


def is_template(value: Any) -> bool:
    """Whether a value is a string holding at least one `{{ }}`."""
    return isinstance(value, str) and _OPEN in value


def iter_expressions(value: Any, path: Path = ()) -> Iterator[tuple[Path, str, str]]:
    """Every (path, expression, whole string) inside a JSON value, for validation.

    Raises ExpressionError for unclosed templates.
    """
    if isinstance(value, str):
        if _OPEN in value:
            for segment in parse_template(value):
                if segment.is_expression:
                    yield path, segment.text, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_expressions(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_expressions(item, (*path, index))


_STRING = r"""(?:"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')"""
_SECRET_USES = re.compile(
    rf"(?P<str>[rRbB]*{_STRING})"
    rf"|(?P<named>(?<![.\w])secrets\s*(?:\.\s*[A-Za-z_]\w*|\[\s*{_STRING}\s*\]))"
    r"|(?P<whole>(?<![.\w])secrets\b)"
)


def check_secrets_named(source: str) -> None:
    """Every use of `secrets` names one secret (`secrets.x`, `secrets["x"]`).

    The map itself (`{{ secrets }}`, `size(secrets)`, `secrets[input.k]`) would let one
    template send every secret of the tenant anywhere, so it is not addressable.
    """
    for match in _SECRET_USES.finditer(source):
        if match.group("whole"):
            raise ExpressionError(
                "an expression that reads secrets must name each one (secrets.NAME or "
                'secrets["NAME"]); the secrets map as a whole is not addressable',
                expression=source,
                position=match.start("whole") + 1,
            )


def check_expression(source: str, scope: Scope, *, allow_secrets: bool) -> None:
    """Compile-time checks: syntax, declared variables, and where secrets may appear."""
    compile_expression(source, scope)
    roots = root_identifiers(source)
    if "secrets" in roots:
        if not allow_secrets:
            raise ExpressionError(
                "secrets can only be used in the config of nodes that run in a worker",
                expression=source,
            )
        check_secrets_named(source)
        others = roots & {"input", "nodes", "vars", "run", "item", "index"}
        if others:
            raise ExpressionError(
                "an expression that reads secrets may read nothing else "
                f"(found {', '.join(sorted(others))}); use separate {{{{ }}}} parts",
                expression=source,
            )


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _check_length(text: str, pieces: list[tuple[str, bool]], context: dict[str, Any]) -> None:
    """A template's parts are each within the expression limit; their sum must be too."""
    limits = context.limits if isinstance(context, Context) else DEFAULT_LIMITS
    length = sum(len(piece) for piece, _ in pieces)
    if length > limits.expression_bytes:
        raise ExpressionError(
            f"the rendered template is {length:,} characters, more than the "
            f"{limits.expression_bytes:,} allowed",
            expression=text[:200],
            code=LimitCode.EXPRESSION_BUDGET.value,
        )


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered value and the paths of strings still holding secret templates."""

    value: Any
    secret_paths: tuple[Path, ...] = ()


@lru_cache(maxsize=4096)
def _reads_secrets(source: str) -> bool:
    return "secrets" in root_identifiers(source)


def _render_string(
    text: str, context: dict[str, Any], scope: Scope | None, *, defer_secrets: bool
) -> tuple[Any, bool]:
    segments = _segments(text)
    if len(segments) == 1 and segments[0].is_expression:
        source = segments[0].text
        if defer_secrets and _reads_secrets(source):
            return text, True
        return evaluate_expression(source, context, scope), False
    pieces: list[tuple[str, bool]] = []
    for segment in segments:
        if not segment.is_expression:
            pieces.append((segment.text, False))
        elif defer_secrets and _reads_secrets(segment.text):
            pieces.append((f"{_OPEN} {segment.text} {_CLOSE}", True))
        else:
            pieces.append((_stringify(evaluate_expression(segment.text, context, scope)), False))
    _check_length(text, pieces, context)
    if not any(is_secret for _, is_secret in pieces):
        return "".join(text for text, _ in pieces), False
    # The string will be rendered again by the executor: every `{{` that is not one of our
    # secret templates (literal text or substituted data) must not be read as a template.
    return "".join(
        text if is_secret else text.replace(_OPEN, _ESCAPED_OPEN) for text, is_secret in pieces
    ), True


def render(
    value: Any,
    context: dict[str, Any],
    scope: Scope | None = None,
    *,
    defer_secrets: bool = False,
) -> Rendered:
    """Evaluate every template inside a JSON value.

    With `defer_secrets`, strings that read `secrets` stay templates (listed in
    `secret_paths`); otherwise a secret reference is an error, because the core has none.
    """
    paths: list[Path] = []

    def walk(item: Any, path: Path) -> Any:
        if isinstance(item, str):
            if _OPEN not in item:
                return item
            result, deferred = _render_string(item, context, scope, defer_secrets=defer_secrets)
            if deferred:
                paths.append(path)
            return result
        if isinstance(item, dict | Mapping):
            return {str(k): walk(v, (*path, str(k))) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v, (*path, i)) for i, v in enumerate(item)]
        return item

    return Rendered(walk(value, ()), tuple(paths))


def _at(value: Any, path: Path) -> Any:
    for part in path:
        value = value[part]
    return value


def resolve_secrets(
    value: Any, secret_paths: tuple[Path, ...] | list[Path], secrets: Mapping[str, Any]
) -> Any:
    """Fill in the secret templates the core left at `secret_paths` (executor side).

    Only those paths are evaluated, with nothing but `secrets` in scope, and only
    expressions that name their secrets (checked again here, for definitions stored
    before that rule).
    """
    for raw_path in secret_paths:
        for _, source, _ in iter_expressions(_at(value, tuple(raw_path))):
            if _reads_secrets(source):
                check_secrets_named(source)
    result = json.loads(json.dumps(value))
    context = {"secrets": dict(secrets)}
    for raw_path in secret_paths:
        path = tuple(raw_path)
        if not path:
            return render(result, context).value
        parent = result
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = render(parent[path[-1]], context).value
    return result
