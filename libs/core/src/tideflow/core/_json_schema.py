"""Whether a JSON Schema a definition or a plugin carries can be used to validate.

`check_schema` proves a schema well-formed, not usable: a `$ref` that points nowhere
(`#/$defs/typo`, or another document: nothing is fetched) passes it and then raises out
of the first validation whose value reaches it, long after the definition was stored (a
500 at a run's start, a worker retrying a model call). Both are checked here, once, where
the schema is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator, SchemaError  # type: ignore[import-untyped]
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why `schema` cannot validate values (Draft 2020-12), or None when it can."""
    try:
        Draft202012Validator.check_schema(dict(schema))
    except SchemaError as exc:
        return str(exc.message)
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
