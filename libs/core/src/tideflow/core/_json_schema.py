"""Whether a JSON Schema a definition or a plugin carries can be used to validate.

`check_schema` proves a schema well-formed, not usable: a `$ref` that points nowhere
(`#/$defs/typo`, or another document: nothing is fetched) passes it and then raises out
of the first validation whose value reaches it, long after the definition was stored (a
500 at a run's start, a worker retrying a model call). Both are checked here, once, where
the schema is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jsonschema import (  # type: ignore[import-untyped]
    Draft202012Validator,
    SchemaError,
    ValidationError,
    validators,
)
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from tideflow.core._cel import re2_search


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why `schema` cannot validate values (Draft 2020-12), or None when it can."""
    try:
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as exc:
        return str(exc.message)
    for pattern in _patterns(schema):
        try:
            re2_search(pattern, "")
        except ValueError as exc:
            return (
                f"pattern {pattern!r} is not one RE2 can run (it has no lookaround or "
                f"backreferences): {exc}"
            )
    resource = DRAFT202012.create_resource(dict(schema))
    base = resource.id() or ""
    broken = _unresolvable_ref(schema, Registry().with_resource(base, resource).resolver(base))
    if broken is None:
        return None
    return f"$ref {broken!r} resolves to nothing within the schema (nothing is fetched)"


def _unresolvable_ref(value: Any, resolver: Any) -> str | None:
    """The first `$ref` of a schema that does not resolve within it, or None."""
    if isinstance(value, Mapping):
        if isinstance(value.get("$id"), str):
            resolver = resolver.in_subresource(DRAFT202012.create_resource(dict(value)))
        ref = value.get("$ref")
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except Unresolvable:
                return ref
        children: Iterable[Any] = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return None
    for child in children:
        broken = _unresolvable_ref(child, resolver)
        if broken is not None:
            return broken
    return None


def _patterns(value: Any) -> Iterator[str]:
    """Every regular expression of a schema: `pattern` values, `patternProperties` keys."""
    if isinstance(value, Mapping):
        if isinstance(value.get("pattern"), str):
            yield value["pattern"]
        if isinstance(value.get("patternProperties"), Mapping):
            yield from (k for k in value["patternProperties"] if isinstance(k, str))
        children: Iterable[Any] = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return
    for child in children:
        yield from _patterns(child)


# jsonschema's own keywords, with RE2 instead of Python's backtracking `re`: a schema is
# user data, and `^(a+)+$` against 30 a's and a `!` held the process for minutes.


def _pattern(validator: Any, pattern: str, instance: Any, _schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not re2_search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, _schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if re2_search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return {
        key
        for key in instance
        if key not in properties and not any(re2_search(p, key) for p in patterns)
    }


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        joined = ", ".join(repr(each) for each in sorted(extras))
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(
                f"Additional properties are not allowed ({joined} {verb} unexpected)"
            )


SafeValidator: Any = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
)
"""Draft 2020-12 with RE2 patterns: what checks user-written schemas against values."""
