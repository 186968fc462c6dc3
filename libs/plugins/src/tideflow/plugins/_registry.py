"""The node-type registry: built-ins plus every type the `tideflow.node_types` entry points
declare, loaded once when a service starts and passed explicitly to whoever needs it.

Loading never takes a service down: an entry point that fails to import, returns
something that is not a node type, declares an invalid schema or a name that is taken,
is logged in one line and kept in `failures` (the gateway lists them next to the types).
The core gets what it needs to validate and decide (`types`, a `NodeTypes` catalog);
executors get the worker handlers (`worker_spec`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from tideflow.core.nodes import (
    BUILTIN_NODE_TYPES,
    Execution,
    NodeType,
    NodeTypes,
    check_plugin_type,
    inline_evaluator,
)
from tideflow.plugins._spec import NodeTypeSpec, NotDeclared, Runs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tideflow.node_types"
"""The entry point group plugins declare their node types in."""


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """An entry point (or one type it declared) that could not be used, and why."""

    entry_point: str
    """`name = module:attr` as the plugin declared it."""
    source: str
    """The distribution that declared it (`?` when unknown)."""
    error: str
    """One line."""
    node_type: str | None = None
    """The type that was rejected, when the entry point itself loaded."""

    def __str__(self) -> str:
        what = f" (type {self.node_type!r})" if self.node_type else ""
        return f"node type plugin {self.entry_point!r} from {self.source}{what}: {self.error}"


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return " ".join(text.split())[:500]


def core_type(spec: NodeTypeSpec, source: str) -> NodeType:
    """The core's view of a declared type (ValueError when it is not a valid one)."""
    if not isinstance(spec.runs, Runs):
        raise TypeError(f"runs must be Runs.INLINE or Runs.WORKER, not {spec.runs!r}")
    if not callable(spec.handler):
        raise TypeError("handler is not callable")
    if spec.config_model is not None and spec.config_schema is not None:
        raise ValueError(f"node type {spec.name!r} declares both config_model and config_schema")
    inline = spec.runs is Runs.INLINE
    evaluate = (
        inline_evaluator(
            spec.name, cast("Callable[[dict[str, Any]], Any]", spec.handler), spec.output_schema
        )
        if inline
        else None
    )
    node_type = NodeType(
        name=spec.name,
        execution=Execution.INLINE if inline else Execution.DISPATCH,
        config_model=spec.config_model,
        config_schema=spec.config_schema
        if spec.config_model is None
        else None,  # the model is the schema
        description=spec.description,
        evaluate=evaluate,
        output_schema=spec.output_schema,
        icon=spec.icon,
        title=spec.title,
        category=spec.category or "plugins",
        source=source,
    )
    check_plugin_type(node_type)
    return node_type


def _declared(loaded: Any) -> list[NodeTypeSpec | NotDeclared]:
    """The specs an entry point's object declares: a spec, an iterable, or a factory."""
    if callable(loaded) and not isinstance(loaded, NodeTypeSpec):
        loaded = loaded()
    if isinstance(loaded, NodeTypeSpec):
        return [loaded]
    if isinstance(loaded, Iterable) and not isinstance(loaded, str | bytes | Mapping):
        items = list(loaded)
        bad = [item for item in items if not isinstance(item, NodeTypeSpec | NotDeclared)]
        if not bad:
            return items
        loaded = bad[0]
    raise TypeError(
        f"expected a NodeTypeSpec, a list of them or a function returning them, "
        f"got {type(loaded).__name__}"
    )


class NodeTypeRegistry:
    """The node types of this process: built-ins, plugin types, and the plugins that failed."""

    def __init__(
        self,
        types: NodeTypes,
        specs: Mapping[str, NodeTypeSpec],
        failures: Iterable[LoadFailure] = (),
    ) -> None:
        self.types = types
        """The catalog the core validates and decides with."""
        self.specs = dict(specs)
        """Declared (non-core) types by name, with their handlers."""
        self.failures = tuple(failures)

    @classmethod
    def builtin(cls) -> NodeTypeRegistry:
        """Only the core's own types (no entry points read)."""
        return cls(BUILTIN_NODE_TYPES, {})

    def worker_spec(self, name: str) -> NodeTypeSpec | None:
        """The declared worker type called `name` (what an executor runs), else None."""
        spec = self.specs.get(name)
        return spec if spec is not None and spec.runs is Runs.WORKER else None

    def worker_specs(self) -> list[NodeTypeSpec]:
        """Every declared worker type, by name."""
        return [s for _, s in sorted(self.specs.items()) if s.runs is Runs.WORKER]


def _load_point(
    point: EntryPoint,
    add: Callable[[NodeTypeSpec, str, str], None],
    reject: Callable[[LoadFailure], None],
) -> None:
    where = f"{point.name} = {point.value}"
    source = point.dist.name if point.dist is not None else "?"
    try:
        declared = _declared(point.load())
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - plugin code: reported, not fatal
        reject(LoadFailure(where, source, _one_line(exc)))
        return
    for item in declared:
        if isinstance(item, NotDeclared):
            reject(LoadFailure(where, source, item.error, node_type=item.name))
        else:
            add(item, source, where)


def load_registry(
    *,
    group: str = ENTRY_POINT_GROUP,
    points: Iterable[EntryPoint] | None = None,
    extra: Iterable[tuple[NodeTypeSpec, str]] = (),
) -> NodeTypeRegistry:
    """Built-ins, then `extra` (spec, source) pairs, then every entry point of `group`.

    `points` replaces the installed entry points (tests). A failing entry point or type
    is skipped, logged in one line and recorded; nothing here raises.
    """
    found: list[NodeType] = []
    specs: dict[str, NodeTypeSpec] = {}
    failures: list[LoadFailure] = []
    taken = set(BUILTIN_NODE_TYPES)

    def reject(failure: LoadFailure) -> None:
        log.error("%s", failure)  # one line, no traceback: the service goes on without it
        failures.append(failure)

    def add(spec: NodeTypeSpec, source: str, where: str) -> None:
        name: Any = spec.name  # a plugin's object: typed str, not always one
        if not isinstance(name, str):
            reject(LoadFailure(where, source, f"the type name must be a string, not {spec.name!r}"))
            return
        if name in taken:
            reject(LoadFailure(where, source, f"node type {name!r} already exists", name))
            return
        try:
            node_type = core_type(spec, source)
        except Exception as exc:  # noqa: BLE001 - plugin code: reported, not fatal
            reject(LoadFailure(where, source, _one_line(exc), node_type=name))
            return
        taken.add(spec.name)
        found.append(node_type)
        specs[spec.name] = spec

    for spec, source in extra:
        add(spec, source, source)
    for point in sorted(
        entry_points(group=group) if points is None else points, key=lambda p: p.name
    ):
        _load_point(point, add, reject)
    if found:
        log.info("node types from plugins: %s", ", ".join(sorted(t.name for t in found)))
    return NodeTypeRegistry(BUILTIN_NODE_TYPES.extended(found), specs, failures)
